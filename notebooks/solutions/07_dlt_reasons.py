# This run's DLT records (error time after run_started), counted by errorType.
from collections import Counter

from labkit.dlt import read_dlt

reference_counts = dict(Counter(entry.error_type for entry in read_dlt(settings, since=run_started)))
reference_counts
