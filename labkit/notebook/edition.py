"""The French edition, ``notebooks/fr/``, kept in step with the English notebooks.

A French notebook is its English twin with every Markdown cell translated: the same cells in the same
order with the same ids, the same code byte for byte, the same slide metadata. Each translated Markdown
cell records which English text it translates (``metadata.labkit.translates``, a short hash of the
English source), so when the English cell changes the hash stops matching and CI names the cell to
translate again. The two editions cannot drift apart silently, unlike editions synced by hand.

    python -m labkit.notebook.edition sync     # copy code and new or moved cells into notebooks/fr/
    python -m labkit.notebook.edition check    # what differs: the lines CI fails on
    python -m labkit.notebook.edition stamp notebooks/fr/05_retries.ipynb [cell ids]  # translated now

``sync`` never touches a translation: a new English Markdown cell arrives in English, marked as not yet
translated, and ``check`` lists it until it is translated and stamped.

>>> translates("Hello") == translates("Hello"), translates("Hello") == translates("Hello!")
(True, False)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path
from typing import Any

from labkit.paths import notebooks_dir

__all__ = ["EDITION", "french_dir", "translates", "sync", "check", "stamp", "pairs"]

EDITION = "fr"
_KEY = "labkit"


def french_dir(english: Path | None = None) -> Path:
    """Where the French notebooks live: ``fr/`` next to the English ones."""
    return (english or notebooks_dir()) / EDITION


def translates(source: str) -> str:
    """The short hash a translated cell keeps of the English text it translates."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def pairs(english: Path | None = None) -> list[tuple[Path, Path]]:
    """``(English notebook, its French twin)`` for every English notebook, in course order."""
    english = english or notebooks_dir()
    return [(path, french_dir(english) / path.name) for path in sorted(english.glob("[0-9][0-9]_*.ipynb"))]


def _recorded(cell: Any) -> str | None:
    return (cell.get("metadata", {}).get(_KEY) or {}).get("translates")


def _with_record(cell: Any, metadata: dict, value: str | None) -> Any:
    cell = copy.deepcopy(cell)
    cell["metadata"] = {**copy.deepcopy(metadata), _KEY: {"translates": value}}
    return cell


def sync_one(en_path: Path, fr_path: Path) -> list[str]:
    """Write ``fr_path`` from ``en_path`` keeping its translations; returns the ids of cells still in English."""
    import nbformat

    en = nbformat.read(en_path, as_version=4)
    old = nbformat.read(fr_path, as_version=4) if fr_path.exists() else None
    translated = {c["id"]: c for c in (old.cells if old else []) if c["cell_type"] == "markdown"}
    fr = copy.deepcopy(en)
    fr.cells, pending = [], []
    for cell in en.cells:
        if cell["cell_type"] != "markdown":
            fr.cells.append(copy.deepcopy(cell))
        elif cell["id"] in translated and _recorded(translated[cell["id"]]) is not None:
            mine = translated[cell["id"]]
            fr.cells.append(_with_record(mine, cell.get("metadata", {}), _recorded(mine)))
        else:
            fr.cells.append(_with_record(cell, cell.get("metadata", {}), None))
            pending.append(cell["id"])
    fr_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(fr, fr_path)
    return pending


def sync(english: Path | None = None) -> dict[str, list[str]]:
    """Bring every French notebook in step; returns, per notebook, the cells that still need a translation."""
    return {fr.name: sync_one(en, fr) for en, fr in pairs(english)}


def check_one(en_path: Path, fr_path: Path) -> list[str]:
    """Every way ``fr_path`` is out of step with ``en_path``, one line each naming the cell."""
    import nbformat

    name = f"fr/{fr_path.name}"
    if not fr_path.exists():
        return [f"{name}: missing (run: python -m labkit.notebook.edition sync)"]
    en = nbformat.read(en_path, as_version=4)
    fr = nbformat.read(fr_path, as_version=4)
    en_ids, fr_ids = [c["id"] for c in en.cells], [c["id"] for c in fr.cells]
    if en_ids != fr_ids:
        at = next((i for i, (a, b) in enumerate(zip(en_ids, fr_ids, strict=False)) if a != b),
                  min(len(en_ids), len(fr_ids)))
        en_cell = en_ids[at] if at < len(en_ids) else "none"
        fr_cell = fr_ids[at] if at < len(fr_ids) else "none"
        return [f"{name}: cells differ from the English from position {at} (English cell {en_cell}, French cell "
                f"{fr_cell}); run: python -m labkit.notebook.edition sync"]
    problems = []
    for e, f in zip(en.cells, fr.cells, strict=True):
        where = f"{name} cell {e['id']}"
        if e["cell_type"] != f["cell_type"]:
            problems.append(f"{where}: {f['cell_type']} here, {e['cell_type']} in English")
        elif e["cell_type"] != "markdown":
            for field in ("source", "metadata", "outputs"):
                if e.get(field) != f.get(field):
                    problems.append(f"{where}: its code cell's {field} differs from the English (code is shared: "
                                    "run sync)")
        else:
            recorded = _recorded(f)
            meta = {k: v for k, v in f.get("metadata", {}).items() if k != _KEY}
            if recorded is None:
                problems.append(f"{where}: not translated yet")
            elif recorded != translates(e["source"]):
                problems.append(f"{where}: the English text changed since it was translated; translate it again, "
                                "then stamp it")
            if meta != e.get("metadata", {}):
                problems.append(f"{where}: its metadata (slide type) differs from the English: run sync")
    return problems


def check(english: Path | None = None) -> list[str]:
    """Every difference between the editions; also a French notebook with no English twin."""
    english = english or notebooks_dir()
    problems = [line for en, fr in pairs(english) for line in check_one(en, fr)]
    twins = {fr.name for _, fr in pairs(english)}
    problems += [f"fr/{p.name}: no English notebook of that name" for p in sorted(french_dir(english).glob("*.ipynb"))
                 if p.name not in twins]
    return problems


def stamp(fr_path: Path, ids: list[str] | None = None) -> list[str]:
    """Record that these Markdown cells (default: every one) translate the English text they stand for now."""
    import nbformat

    en = nbformat.read(fr_path.parent.parent / fr_path.name, as_version=4)
    fr = nbformat.read(fr_path, as_version=4)
    english = {c["id"]: c["source"] for c in en.cells if c["cell_type"] == "markdown"}
    unknown = sorted(set(ids or ()) - set(english))
    if unknown:
        raise SystemExit(f"{fr_path.name}: no Markdown cell with id {', '.join(unknown)}")
    done = []
    for cell in fr.cells:
        if cell["cell_type"] == "markdown" and cell["id"] in english and (ids is None or cell["id"] in ids):
            cell.setdefault("metadata", {})[_KEY] = {"translates": translates(english[cell["id"]])}
            done.append(cell["id"])
    nbformat.write(fr, fr_path)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.notebook.edition", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sync", help="copy code and new cells from the English notebooks into notebooks/fr/")
    sub.add_parser("check", help="list every difference between the editions (exit 1 if any)")
    p = sub.add_parser("stamp", help="mark Markdown cells of a French notebook as translated")
    p.add_argument("notebook", type=Path)
    p.add_argument("ids", nargs="*", help="cell ids (default: every Markdown cell)")
    args = parser.parse_args(argv)
    if args.command == "sync":
        for name, pending in sync().items():
            if pending:
                print(f"fr/{name}: {len(pending)} cell(s) to translate: {', '.join(pending)}")
        return 0
    if args.command == "stamp":
        print(f"{args.notebook.name}: stamped {len(stamp(args.notebook, args.ids or None))} cell(s)")
        return 0
    problems = check()
    print("\n".join(problems) or "the French edition is in step with the English one")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
