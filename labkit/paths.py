"""Where labkit keeps things on disk: its state (PIDs it started, logs), its downloads, the notebooks."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["state_dir", "cache_dir", "notebooks_dir"]


def state_dir() -> Path:
    """``$LABKIT_STATE_DIR``, else ``$XDG_STATE_HOME/labkit``, else ``~/.local/state/labkit``."""
    explicit = os.environ.get("LABKIT_STATE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        path = Path(base) / "labkit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Downloads that survive resets (the Kafka jars): ``$LABKIT_CACHE_DIR`` or ``~/.cache/labkit``."""
    explicit = os.environ.get("LABKIT_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"
    base.mkdir(parents=True, exist_ok=True)
    return base


def notebooks_dir() -> Path:
    """``notebooks/`` of the checkout labkit runs from (editable install), else the current directory's."""
    here = Path(__file__).resolve().parent.parent / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"
