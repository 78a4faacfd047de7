"""What the course shows: the rebalance timeline, consumer lag, health and DLT monitoring, plots."""
