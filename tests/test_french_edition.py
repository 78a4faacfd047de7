"""The French edition (notebooks/fr/) stays in step with the English one: CI fails, naming the cell, the day
a cell is added, removed, moved or changed on one side only (labkit.notebook.edition)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from labkit.notebook import edition

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_every_english_notebook_has_a_french_twin_with_the_same_cells_and_code_and_every_text_translated():
    """Structure and translation both: an English Markdown cell changed since its French text was
    stamped, or a new one not translated yet, fails here (translate it, then ``edition stamp``)."""
    problems = edition.check(NOTEBOOKS)
    assert not problems, "\n".join(problems)


def test_the_french_notebooks_share_the_solutions_and_the_slide_stylesheet():
    fr = edition.french_dir(NOTEBOOKS)
    assert (fr / "solutions").resolve() == (NOTEBOOKS / "solutions").resolve()
    assert (fr / "rise.css").read_text() == (NOTEBOOKS / "rise.css").read_text()


def _copy_course(tmp_path: Path) -> Path:
    english = tmp_path / "notebooks"
    english.mkdir()
    for name in ("02_topics.ipynb",):
        (english / name).write_text((NOTEBOOKS / name).read_text())
        (english / "fr").mkdir()
        (english / "fr" / name).write_text((NOTEBOOKS / "fr" / name).read_text())
    return english


def test_a_changed_code_cell_a_changed_english_text_and_a_new_cell_are_each_named(tmp_path):
    english = _copy_course(tmp_path)
    en_path, fr_path = english / "02_topics.ipynb", english / "fr" / "02_topics.ipynb"
    edition.stamp(fr_path)
    assert edition.check(english) == []

    fr = nbformat.read(fr_path, as_version=4)
    code = next(c for c in fr.cells if c["cell_type"] == "code")
    code["source"] += "\nprint('only in French')"
    nbformat.write(fr, fr_path)
    en = nbformat.read(en_path, as_version=4)
    text = next(c for c in en.cells if c["cell_type"] == "markdown")
    text["source"] += "\n\nOne more English sentence."
    nbformat.write(en, en_path)
    problems = edition.check(english)
    assert any(code["id"] in p and "source differs" in p for p in problems), problems
    assert any(text["id"] in p and "English text changed" in p for p in problems), problems

    en.cells.insert(1, nbformat.v4.new_markdown_cell("A new English cell.", id="brand-new"))
    nbformat.write(en, en_path)
    assert any("brand-new" in p for p in edition.check(english))
    assert edition.sync(english) == {"02_topics.ipynb": ["brand-new"]}
    after = edition.check(english)
    assert [p for p in after if "brand-new" in p] == ["fr/02_topics.ipynb cell brand-new: not translated yet"]
    assert not any(code["id"] in p for p in after), "sync puts the shared code back"


def test_sync_keeps_every_translation(tmp_path):
    english = _copy_course(tmp_path)
    fr_path = english / "fr" / "02_topics.ipynb"
    fr = nbformat.read(fr_path, as_version=4)
    first = next(c for c in fr.cells if c["cell_type"] == "markdown")
    first["source"] = "# Traduit"
    nbformat.write(fr, fr_path)
    edition.stamp(fr_path, [first["id"]])
    edition.sync(english)
    again = json.loads(fr_path.read_text())
    kept = next(c for c in again["cells"] if c["id"] == first["id"])
    assert "".join(kept["source"]) == "# Traduit"
