"""Build reveal.js slides of every course notebook, executed: ``python -m labkit.notebook.slides`` (``make slides``).

Both editions by default: ``notebooks/*.ipynb`` into the output folder, ``notebooks/fr/*.ipynb`` into its
``fr/`` subfolder (a French notebook runs in ``notebooks/fr/``, so its outputs are French too).

Cells carry ``slideshow.slide_type`` metadata; ``notes`` cells become speaker notes (press ``s`` in the
browser) and ``skip`` cells (solutions) are left out. To present live instead, install
``jupyterlab-rise`` and press Alt+R in JupyterLab.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.lang import LANGUAGES
from labkit.paths import notebooks_dir

__all__ = ["build", "course_notebooks", "target_dir", "convert", "arguments", "main"]


def course_notebooks() -> list[Path]:
    """The course's notebooks, English then each other edition (``notebooks/fr/``)."""
    found = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    for lang in LANGUAGES[1:]:
        found += sorted((notebooks_dir() / lang).glob("[0-9][0-9]_*.ipynb"))
    return found


def target_dir(notebook: Path, output: Path) -> Path:
    """Where a notebook's page goes: ``output``, or ``output/fr`` for a notebook of the French edition
    (the two editions share their file names)."""
    return output / notebook.parent.name if notebook.parent.name in LANGUAGES[1:] else output


def convert(path: Path, output: Path, exporter: Any, suffix: str, *, execute: bool = True, timeout_s: int = 300,
            keep: Callable[[Any], bool] | None = None) -> tuple[Path, Any]:
    """One notebook of either edition, as the slides and the site write it: run (if ``execute``) in its own
    folder, so a French one runs in ``notebooks/fr/`` and its outputs are French; only the cells
    ``keep(cell)`` keeps (all without it); exported by ``exporter`` into ``<stem><suffix>`` of
    :func:`target_dir`. Returns the file written and the notebook as exported (a cell that fails raises
    before anything is written)."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    if execute:  # run with every cell (a solution cell defines what the next cells use), then leave some out
        ExecutePreprocessor(timeout=timeout_s, kernel_name="python3").preprocess(
            nb, {"metadata": {"path": str(path.parent)}})
    if keep is not None:
        nb.cells = [c for c in nb.cells if keep(c)]
    body, _ = exporter.from_notebook_node(nb)
    target = target_dir(path, output) / f"{path.stem}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target, nb


def build(notebooks: list[Path], output: Path, execute: bool = True, timeout_s: int = 300) -> list[Path]:
    """Write ``<name>.slides.html`` for each notebook into ``output`` (:func:`target_dir`: a French one
    into ``output/fr``); returns the files written."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter()
    exporter.reveal_scroll = True
    return [convert(path, output, exporter, ".slides.html", execute=execute, timeout_s=timeout_s)[0]
            for path in notebooks]


def arguments(prog: str, description: str, output: Path, argv: list[str] | None) -> argparse.Namespace:
    """The command line of ``make slides`` and ``make site``: the notebooks (default: both editions, by
    :func:`course_notebooks`), ``--output`` (default ``output``), ``--no-execute``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks (default: all of notebooks/ and of notebooks/fr/)")
    parser.add_argument("--output", type=Path, default=output, help=f"where to write (default: {output}/)")
    parser.add_argument("--no-execute", action="store_true", help="convert without running the cells")
    args = parser.parse_args(argv)
    args.notebooks = args.notebooks or course_notebooks()
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m labkit.notebook.slides", __doc__.splitlines()[0], Path("slides"), argv)
    for path in args.notebooks:
        start = time.monotonic()
        (target,) = build([path], args.output, execute=not args.no_execute)
        print(f"{target}  ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
