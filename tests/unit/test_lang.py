"""The French message table stays in step with the code: every ``tr("...")`` of labkit has its French,
no French entry is left unused, each keeps its English key's placeholders; the language is chosen at
call time; a real figure and a real checkpoint line come out in French."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import labkit
from labkit.lang import LANGUAGES, language, tr
from labkit.lang_fr import FR

PACKAGE = Path(labkit.__file__).parent


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"``: ``tr(NAME)`` translates that text."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def tr_keys() -> dict[str, list[str]]:
    """Every text labkit passes to ``tr``, with where (file:line); the doctests' ``tr("...")`` too."""
    keys: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        names = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"
                    and node.args):
                continue
            arg = node.args[0]
            text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else \
                names.get(arg.id) if isinstance(arg, ast.Name) else None
            if text is not None:
                keys.setdefault(text, []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
        docstring_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                           and 'tr("' in n.value and ">>>" in n.value]
        for doc in docstring_calls:
            for line in doc.value.splitlines():
                if ">>>" in line and 'tr("' in line:
                    keys.setdefault(line.split('tr("', 1)[1].split('")', 1)[0], []).append(str(path.name))
    return keys


def fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def test_the_extraction_finds_the_calls_it_must():
    keys = tr_keys()
    assert "processed" in keys  # lang.py's doctest
    assert "Consumer lag over time" in keys  # a plain tr("...") in plots.py
    assert "✅ (run by 10)" in keys  # tr(CAUGHT_UP): a module constant


def test_every_tr_text_has_its_french():
    missing = {text: where for text, where in tr_keys().items() if text not in FR}
    assert not missing, "no French in labkit/lang_fr.py for:\n" + "\n".join(
        f"  {text!r}  ({', '.join(where)})" for text, where in missing.items())


def test_every_french_entry_is_used():
    unused = sorted(set(FR) - set(tr_keys()))
    assert not unused, f"FR entries no tr() call uses (remove them, or the code changed their English): {unused}"


@pytest.mark.parametrize("english", sorted(FR))
def test_the_french_keeps_the_placeholders(english):
    assert fields(FR[english]) == fields(english), f"{english!r} -> {FR[english]!r}"
    assert FR[english].strip(), english


def test_the_french_formats_like_the_english():
    # a format spec kept with its placeholder: the French formats the same values without an error
    assert tr("{title} ({n} total)").format(title="t", n=3) == "{title} ({n} total)".format(title="t", n=3)


def test_labkit_lang_wins(monkeypatch, tmp_path):
    (tmp_path / "fr").mkdir()
    monkeypatch.chdir(tmp_path / "fr")
    monkeypatch.setenv("LABKIT_LANG", "en")
    assert language() == "en"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABKIT_LANG", "FR")
    assert language() == "fr"


def test_a_kernel_in_a_fr_folder_speaks_french(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_LANG", raising=False)
    (tmp_path / "fr").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "fr")
    assert language() == "fr"
    assert tr("processed") == "traité"
    monkeypatch.chdir(tmp_path / "notebooks")
    assert language() == "en"
    assert tr("processed") == "processed"


def test_an_unknown_language_is_english(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABKIT_LANG", "de")
    assert language() == "en"
    assert set(LANGUAGES) == {"en", "fr"}


def test_a_plot_in_french(monkeypatch):
    import pandas as pd

    from labkit.observe import plots

    sampler = pd.DataFrame({"ts": pd.to_datetime([0, 1, 2], unit="s", utc=True), "topic": "orders",
                            "partition": 0, "lag": [3, 1, 0]})
    monkeypatch.setenv("LABKIT_LANG", "en")
    english = plots.lag_over_time(sampler).axes[0]
    assert english.get_title() == "Consumer lag over time (max total 3, last 0)"
    monkeypatch.setenv("LABKIT_LANG", "fr")  # decided when drawn: the same module, now French
    ax = plots.lag_over_time(sampler).axes[0]
    assert ax.get_title() == "Lag du consumer au fil du temps (total max 3, dernier 0)"
    assert ax.get_xlabel() == "temps depuis le premier échantillon (s)"
    assert ax.get_ylabel() == "lag (records pas encore commités)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["orders-0", "total"]


def test_a_checkpoint_line_in_french(monkeypatch):
    import pandas as pd

    from labkit.scenarios import checkpoint

    before = pd.DataFrame({"checkpoint": ["Topic `orders.DLT` créé"], "result": ["❌"], "step": ["topic"]})
    final = before.assign(result="✅")
    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert checkpoint.mark_caught_up(final, before)["result"].tolist() == ["✅ (lancé par 10)"]
    monkeypatch.setenv("LABKIT_LANG", "en")
    assert checkpoint.mark_caught_up(final, before)["result"].tolist() == [checkpoint.CAUGHT_UP]


def test_a_table_shows_french_column_labels_and_keeps_its_names(monkeypatch):
    from labkit.events import EventLog
    from labkit.events.kinds import Received
    from labkit.notebook.display import blank_missing_text, labelled

    log = EventLog()
    log.append(Received(topic="orders", partition=0, offset=0, key="ORD-1", attempt=1))
    frame = log.frame()
    monkeypatch.setenv("LABKIT_LANG", "fr")
    shown = labelled(frame)
    assert "tentative" in shown.columns and "attempt" not in shown.columns
    assert "tentative" in blank_missing_text(shown)
    assert "attempt" in frame.columns  # code indexes the English names
    monkeypatch.setenv("LABKIT_LANG", "en")
    assert labelled(frame) is frame
