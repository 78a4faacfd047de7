"""The course's slide stylesheet sits where RISE looks for it, and makes slides legible on a projector.

jupyterlab-rise links ``files/<notebook's folder>/rise.css`` (then ``<notebook name>.css``) into every
presentation: without the file the server logs a 404 and slides keep JupyterLab's 13-14 px text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STYLESHEET = NOTEBOOKS / "rise.css"


def _px(rule_selector_part: str, css: str) -> list[int]:
    """The font sizes (px) of every rule whose selector mentions ``rule_selector_part``."""
    sizes = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if rule_selector_part in selector:
            sizes += [int(px) for px in re.findall(r"font-size:\s*(\d+)px", body)]
    return sizes


def test_the_stylesheet_is_next_to_every_notebook():
    assert STYLESHEET.is_file(), f"{STYLESHEET} is missing: RISE asks the server for it"
    assert {p.parent for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")} == {STYLESHEET.parent}


def test_it_is_where_the_installed_rise_looks():
    bundles = [p for p in _rise_static().glob("*.js") if "rise.css" in p.read_text(errors="replace")]
    assert bundles, "jupyterlab-rise no longer mentions rise.css: check where it looks for a custom stylesheet"
    code = "".join(p.read_text(errors="replace") for p in bundles)
    assert re.search(r'PathExt\.join\("files",\w+,"rise\.css"\)', code), "RISE looks elsewhere than files/<dir>/"
    assert re.search(r"PathExt\.dirname\(\w+\.sessionContext\.path\)", code)


def _rise_static() -> Path:
    rise = pytest.importorskip("jupyterlab_rise")
    return Path(rise.__file__).parent / "static"


def test_projector_sizes_no_add_cell_bar_and_scrolling_slides():
    css = STYLESHEET.read_text()
    assert not re.search(r"/\*(?:(?!\*/).)*$", css, re.S), "an unclosed comment"
    assert css.count("{") == css.count("}")
    assert max(_px("jp-RenderedHTMLCommon", css)) >= 22, "prose ~22 px"
    assert min(_px("cm-content", css) + _px("jp-InputArea", css)) >= 18, "code ~18 px"
    assert min(_px("jp-OutputArea", css)) >= 16, "outputs legible too"
    assert re.search(r"\.jp-Notebook-footer[^{]*\{[^}]*display:\s*none", css), "hide 'Click to add a cell.'"
    assert re.search(r"section[^{]*\{[^}]*overflow-y:\s*auto", css), "a tall slide scrolls"
    assert all(".rise-enabled" in selector for selector, _ in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
               if not selector.strip().startswith("@")), "only slides change: every rule is scoped to RISE"
