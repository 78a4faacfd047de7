"""How much a student reads, and whether the agenda fits the module's three hours.

    python benchmarks/course_words.py

Per notebook: words of student-facing prose (Markdown cells, without speaker notes, code blocks or
Mermaid diagrams), words of speaker notes, code cells, the reading time at 150 words a minute (technical
text in a second language), and the minutes the agenda in ``00`` gives the notebook. Prints a Markdown
table and the totals; exits non-zero if the agenda does not sum to 180 minutes or omits a notebook.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WORDS_PER_MINUTE = 150
COURSE_MINUTES = 180  # "Durée : 3 heures" (module-04.md)
AGENDA_CELL = "agenda"  # the id of the agenda's Markdown cell in 00
_FENCE = re.compile(r"```.*?```", re.S)
_WORD = re.compile(r"[A-Za-zÀ-ÿ0-9][\w'’.-]*")


def words(markdown: str) -> int:
    return len(_WORD.findall(_FENCE.sub(" ", markdown)))


def is_notes(cell) -> bool:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "notes"


def agenda(nb) -> dict[str, int]:
    """``{"03": 25, ...}``: the minutes per notebook in the agenda table of 00."""
    cell = next((c for c in nb.cells if c.get("id") == AGENDA_CELL), None)
    if cell is None:
        return {}
    rows = re.findall(r"^\|\s*(\d\d)\b[^|]*\|(?:[^|]*\|)*?\s*(\d+)\s*min\s*\|", cell.source, re.M)
    return {number: int(minutes) for number, minutes in rows}


def main() -> int:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    planned = agenda(nbformat.read(paths[0], as_version=4))
    print(f"| notebook | prose words | reading (min at {WORDS_PER_MINUTE} wpm) | speaker-note words | "
          "code cells | agenda (min) |")
    print("|---|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        prose = sum(words(c.source) for c in nb.cells if c.cell_type == "markdown" and not is_notes(c))
        notes = sum(words(c.source) for c in nb.cells if c.cell_type == "markdown" and is_notes(c))
        code = sum(c.cell_type == "code" for c in nb.cells)
        totals = [totals[0] + prose, totals[1] + notes, totals[2] + code]
        minutes = planned.get(path.name[:2])
        print(f"| {path.stem} | {prose} | {prose / WORDS_PER_MINUTE:.0f} | {notes} | {code} | "
              f"{minutes if minutes is not None else 'missing'} |")
    total_minutes = sum(planned.values())
    print(f"| **total** | {totals[0]} | {totals[0] / WORDS_PER_MINUTE:.0f} | {totals[1]} | {totals[2]} | "
          f"{total_minutes} |")
    missing = [p.name[:2] for p in paths if p.name[:2] not in planned]
    if missing or total_minutes != COURSE_MINUTES:
        print(f"\nagenda: {total_minutes} min for {len(planned)} notebooks (want {COURSE_MINUTES}); "
              f"missing: {', '.join(missing) or 'none'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
