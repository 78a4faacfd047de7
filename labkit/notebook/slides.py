"""Build reveal.js slides of every course notebook, executed: ``python -m labkit.notebook.slides`` (``make slides``).

Cells carry ``slideshow.slide_type`` metadata; ``notes`` cells become speaker notes (press ``s`` in the
browser) and ``skip`` cells (solutions) are left out. To present live instead, install
``jupyterlab-rise`` and press Alt+R in JupyterLab.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from labkit.paths import notebooks_dir


def build(notebooks: list[Path], output: Path, execute: bool = True, timeout_s: int = 300) -> list[Path]:
    """Write ``<name>.slides.html`` for each notebook into ``output``; returns the files written."""
    import nbformat
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    output.mkdir(parents=True, exist_ok=True)
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
        target = output / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.notebook.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: all of notebooks/)")
    parser.add_argument("--output", type=Path, default=Path("slides"), help="where to write (default: slides/)")
    parser.add_argument("--no-execute", action="store_true", help="convert without running the cells")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    for path in notebooks:
        start = time.monotonic()
        (target,) = build([path], args.output, execute=not args.no_execute)
        print(f"{target}  ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
