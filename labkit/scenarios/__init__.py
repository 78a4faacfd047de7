"""The canned lab runs the notebooks call: retry modes, assignors, troubleshooting, chaos, the final checkpoint."""
