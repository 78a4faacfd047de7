"""A consumer group of real processes: the supervisor a notebook drives and the worker process it starts."""
