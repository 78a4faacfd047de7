"""Notebook surfaces: the failure-injection widget panel, inline figures, slides."""
