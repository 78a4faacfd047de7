"""README.fr.md stays the French README of the same course: linked from README.md, the same two commands
byte for byte, `labkit lab --lang fr`, and a row for every notebook of notebooks/fr/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_readme_links_the_french_one_from_its_top():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("(README.fr.md)" in line for line in head)


def test_the_two_commands_are_the_english_readmes_and_the_french_lab_command_parses():
    from labkit.cli.app import build_parser

    english, french = ((ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "README.fr.md"))
    two_commands = bash_blocks(english.split("## Two commands", 1)[1])[0]
    assert two_commands in bash_blocks(french)
    assert "labkit lab --lang fr\n" in bash_blocks(french)
    assert build_parser().parse_args(["lab", "--lang", "fr"]).lang == "fr"


def test_the_course_table_has_every_french_notebook():
    french = (ROOT / "README.fr.md").read_text(encoding="utf-8")
    names = sorted(p.stem for p in (ROOT / "notebooks" / "fr").glob("[0-9][0-9]_*.ipynb"))
    assert names and all(f"| `fr/{name}` — " in french for name in names)
    assert "## Troubleshooting" in french
