"""make site: the executed course as HTML pages a reader sees without installing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.notebook.site import build

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.broker
def test_the_site_has_every_page_its_plots_and_diagrams_and_no_speaker_notes(broker_settings, tmp_path, monkeypatch):
    for name, value in {"LABKIT_BOOTSTRAP_SERVERS": broker_settings.bootstrap_servers, "LABKIT_FAST": "1",
                        "MPLBACKEND": "Agg", "LABKIT_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(name, value)  # the kernels inherit this environment
    chosen = [NOTEBOOKS / "00_introduction_and_setup.ipynb", NOTEBOOKS / "01_theory.ipynb"]  # the quick two
    pages = build(chosen, tmp_path / "site")

    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for page, source in zip(pages, chosen, strict=True):
        text = page.path.read_text(encoding="utf-8")
        assert f'href="{page.path.name}"' in index and page.title in index and page.goal
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        mermaid = sum("".join(c["source"]).count("```mermaid") for c in cells if c["cell_type"] == "markdown")
        assert page.diagrams == mermaid and text.count('class="jp-Mermaid"') >= mermaid  # drawn by mermaid.js
        assert text.count("data:image/png") >= page.images
        assert "**Say:**" not in text and "<strong>Say:</strong>" not in text  # speaker notes left out
        assert "jp-RenderedText" in text  # the outputs are there
    assert pages[1].images >= 1 and pages[1].diagrams >= 1  # 01's plot and diagrams


@pytest.mark.broker
def test_a_cell_that_fails_stops_the_build_so_no_page_shows_a_traceback(tmp_path):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    broken = tmp_path / "99_broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), broken)
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        build([broken], tmp_path / "site")
    assert not (tmp_path / "site" / "99_broken.html").exists()


def test_the_french_edition_has_its_pages_in_fr_and_its_section_of_the_index(tmp_path):
    from labkit.notebook.slides import course_notebooks

    name = "01_theory.ipynb"
    assert NOTEBOOKS / "fr" / name in course_notebooks()  # built by default, after the English edition
    english, french = build([NOTEBOOKS / name, NOTEBOOKS / "fr" / name], tmp_path / "site", execute=False)
    assert english.path == tmp_path / "site" / "01_theory.html" and english.edition == "en"
    assert french.path == tmp_path / "site" / "fr" / "01_theory.html" and french.edition == "fr"
    assert french.goal and french.title != english.title  # "**Objectif** :" read like "**Goal:**"
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    english_part, french_part = index.split('<h2 lang="fr"', 1)
    assert 'href="01_theory.html"' in english_part and english.title in english_part
    assert 'href="fr/01_theory.html"' in french_part and french.title in french_part
    assert "labkit lab --lang fr" in french_part
    page = french.path.read_text(encoding="utf-8")
    assert "À dire" not in page and "**Say:**" not in page  # the French speaker notes are left out too
