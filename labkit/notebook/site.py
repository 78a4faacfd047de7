"""The executed course as a static web site: ``python -m labkit.notebook.site`` (``make site``).

Every notebook is run (against the broker the notebooks find, as in class) and written as HTML with its
outputs: tables, plots as images, Mermaid diagrams drawn as SVG in the reader's browser (JupyterLab's
own HTML template loads mermaid.js). Speaker notes and the hidden solution cells are left out: the
site is what a student sees. ``index.html`` lists the notebooks with their goal. Both editions by
default: the French notebooks (``notebooks/fr/``) go to ``fr/`` and have their own section of the
index. A cell that fails stops the build with its error: a published page never shows a traceback.

Publish ``site/`` as it is (static files): with GitHub Pages, push it to a ``gh-pages`` branch or let
an Actions workflow upload it; any web server works too.
"""

from __future__ import annotations

import html
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labkit.notebook.slides import arguments, convert

__all__ = ["Page", "build", "main"]

LEFT_OUT = {"notes", "skip"}  # speaker notes, and solution cells shown only when asked for


@dataclass(frozen=True)
class Page:
    notebook: str
    path: Path
    title: str
    goal: str
    images: int
    diagrams: int
    edition: str = "en"


def _title_and_goal(nb) -> tuple[str, str]:
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    title = next((line.lstrip("# ").strip() for line in first.splitlines() if line.startswith("#")), "")
    goal = re.search(r"\*\*(?:Goal:\*\*|Objectif\*\*\s*:)\s*(.+?)(?:\n\n|$)", first, re.S)
    return title, " ".join(goal.group(1).split()) if goal else ""


def build(notebooks: list[Path], output: Path, execute: bool = True, timeout_s: int = 300) -> list[Page]:
    """Write ``<notebook>.html`` for each notebook and ``index.html`` into ``output``; the pages written."""
    from nbconvert import HTMLExporter

    output.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    pages = []
    for path in notebooks:
        target, nb = convert(path, output, exporter, ".html", execute=execute, timeout_s=timeout_s,
                             keep=lambda c: c.get("metadata", {}).get("slideshow", {}).get("slide_type")
                             not in LEFT_OUT)
        title, goal = _title_and_goal(nb)
        images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if "image/png" in o.get("data", {}))
        diagrams = sum(c.source.count("```mermaid") for c in nb.cells if c.cell_type == "markdown")
        edition = target.parent.name if target.parent != output else "en"
        pages.append(Page(path.stem, target, title or path.stem, goal, images, diagrams, edition))
    (output / "index.html").write_text(_index(pages, output), encoding="utf-8")
    return pages


def _rows(pages: list[Page], output: Path) -> str:
    return "\n".join(f'<tr><td><a href="{html.escape(p.path.relative_to(output).as_posix())}">'
                     f"{html.escape(p.title)}</a></td><td>{html.escape(p.goal)}</td></tr>" for p in pages)


def _index(pages: list[Page], output: Path) -> str:
    rows = _rows([p for p in pages if p.edition == "en"], output)
    french = [p for p in pages if p.edition == "fr"]
    section = "" if not french else f"""
<h2 lang="fr" id="fr">Édition française</h2>
<p lang="fr">Les mêmes notebooks en français, exécutés sur un vrai broker Apache Kafka, avec leurs sorties.
Pour les lancer vous-même : <code>labkit lab --lang fr</code>.</p>
<table lang="fr">
{_rows(french, output)}
</table>"""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Kafka error handling, hands on</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
td{{padding:.4rem .8rem;vertical-align:top;border-bottom:1px solid #ddd}}</style></head><body>
<h1>Kafka error handling, hands on</h1>
<p>Dead Letter Topics, retries with backoff, consumer-group rebalancing, monitoring: the course's notebooks,
run against a real Apache Kafka broker, with their outputs. To run them yourself: <code>make lab</code>.</p>
<table>
{rows}
</table>{section}</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m labkit.notebook.site", __doc__.splitlines()[0], Path("site"), argv)
    start = time.monotonic()
    pages = build(args.notebooks, args.output, execute=not args.no_execute)
    for page in pages:
        print(f"{page.path}  ({page.images} plots, {page.diagrams} diagrams)")
    print(f"{args.output / 'index.html'}: {len(pages)} pages in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
