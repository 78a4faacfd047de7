"""The consumer engine: the order processor, its three retry modes, done tracking, commits, rebalance handling."""
