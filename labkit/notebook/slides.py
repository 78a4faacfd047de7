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
from pathlib import Path

from labkit.lang import LANGUAGES
from labkit.paths import notebooks_dir

__all__ = ["build", "course_notebooks", "target_dir", "main"]


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


def build(notebooks: list[Path], output: Path, execute: bool = True, timeout_s: int = 300) -> list[Path]:
    """Write ``<name>.slides.html`` for each notebook into ``output`` (:func:`target_dir`: a French one
    into ``output/fr``); returns the files written."""
    import nbformat
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    exporter = SlidesExporter()
    exporter.reveal_scroll = True
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        if execute:
            ExecutePreprocessor(timeout=timeout_s, kernel_name="python3").preprocess(
                nb, {"metadata": {"path": str(path.parent)}}
            )
        body, _ = exporter.from_notebook_node(nb)
        target = target_dir(path, output) / f"{path.stem}.slides.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.notebook.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks (default: all of notebooks/ and of notebooks/fr/)")
    parser.add_argument("--output", type=Path, default=Path("slides"), help="where to write (default: slides/)")
    parser.add_argument("--no-execute", action="store_true", help="convert without running the cells")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or course_notebooks()
    for path in notebooks:
        start = time.monotonic()
        (target,) = build([path], args.output, execute=not args.no_execute)
        print(f"{target}  ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
