"""The French message table stays in step with the code: every ``tr("...")`` of labkit and of the
notebooks' code cells has its French, no French entry is left unused, each keeps its English key's
placeholders; no notebook prints a ✅/❌ line outside ``tr``; the language is chosen at call time; a real
figure, a real checkpoint line and the exercises' verdicts come out in French."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import nbformat
import pytest

import labkit
from labkit.broker import FIXED_NOTES, BrokerInfo
from labkit.kafka.share_groups import DLQ_REASONS
from labkit.lang import LANGUAGES, language, tr
from labkit.lang_fr import FR

PACKAGE = Path(labkit.__file__).parent
NOTEBOOKS = sorted((PACKAGE.parent / "notebooks").glob("[0-9]*.ipynb"))  # the English edition: fr/ has the same code


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"``: ``tr(NAME)`` translates that text."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _tr_calls(tree: ast.AST, names: dict[str, str], where: str, keys: dict[str, list[str]]) -> None:
    """Add the text of every ``tr("...")`` / ``tr(NAME)`` call in ``tree`` to ``keys``."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"
                and node.args):
            continue
        arg = node.args[0]
        text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else \
            names.get(arg.id) if isinstance(arg, ast.Name) else None
        if text is not None:
            keys.setdefault(text, []).append(f"{where}:{node.lineno}")


def code_cells() -> list[tuple[str, ast.Module]]:
    """Each code cell of the notebooks as Python (``notebook cell-id``, its tree): a ``!`` or ``%`` line
    becomes ``pass`` (its indentation kept), a ``%%`` cell magic is skipped."""
    cells = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
                continue
            lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("!", "%")) else line
                     for line in cell.source.splitlines()]
            cells.append((f"{path.name} {cell.id}", ast.parse("\n".join(lines))))
    return cells


def tr_keys() -> dict[str, list[str]]:
    """Every text labkit and the notebooks pass to ``tr``, with where (file:line, notebook cell:line);
    the doctests' ``tr("...")`` too, and the DLQ reasons a notebook shows with ``tr(reason)``."""
    keys: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        _tr_calls(tree, _constants(tree), str(path.relative_to(PACKAGE.parent)), keys)
        docstring_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                           and 'tr("' in n.value and ">>>" in n.value]
        for doc in docstring_calls:
            for line in doc.value.splitlines():
                if ">>>" in line and 'tr("' in line:
                    keys.setdefault(line.split('tr("', 1)[1].split('")', 1)[0], []).append(str(path.name))
    for where, tree in code_cells():
        _tr_calls(tree, {}, where, keys)
    for reason in DLQ_REASONS.values():  # labkit.kafka.share_groups: shown by notebooks/09 as tr(reason)
        keys.setdefault(reason, []).append("DLQ_REASONS")
    for note in FIXED_NOTES:  # labkit.broker: BrokerInfo's line shows them as tr(note)
        keys.setdefault(note, []).append("broker.FIXED_NOTES")
    return keys


def fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def test_the_extraction_finds_the_calls_it_must():
    keys = tr_keys()
    assert "processed" in keys  # lang.py's doctest
    assert "Consumer lag over time" in keys  # a plain tr("...") in plots.py
    assert "✅ (run by 10)" in keys  # tr(CAUGHT_UP): a module constant
    assert "✅ the course topics are gone" in keys  # a notebook's code cell
    assert any(where.startswith("10_checkpoint_and_cleanup.ipynb ") for where in keys["✅ the course topics are gone"])


def _bare_marked_prints(tree: ast.AST) -> list[str]:
    """The ✅/❌ lines a cell prints from an English literal not passed through ``tr``: a string constant
    or an f-string's text, argument of ``print`` (directly, or inside a ``+``, ``if … else`` or
    ``.format``), that holds ✅ or ❌ and a word."""
    found = []

    def literal_text(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            return ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
        if isinstance(node, ast.BinOp):
            return literal_text(node.left) + literal_text(node.right)
        if isinstance(node, ast.IfExp):
            return literal_text(node.body) + literal_text(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return literal_text(node.func.value)
        return []  # a tr(...) call, a name, anything else: not a bare literal

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            for arg in node.args:
                found += [text for text in literal_text(arg)
                          if ("✅" in text or "❌" in text) and any(c.isalpha() for c in text)]
    return found


def test_the_hygiene_check_finds_a_bare_line():
    assert _bare_marked_prints(ast.parse('print("✅ done")')) == ["✅ done"]
    assert _bare_marked_prints(ast.parse('print(f"❌ {n} left", x)')) == ["❌  left"]
    assert _bare_marked_prints(ast.parse('print(tr("✅ done"))')) == []
    assert _bare_marked_prints(ast.parse('print(tr("✅ {n}").format(n=1))')) == []
    assert _bare_marked_prints(ast.parse('print("✅", counts)')) == []  # a mark alone, no English


def test_no_notebook_prints_a_checked_line_outside_tr():
    bare = {where: texts for where, tree in code_cells() if (texts := _bare_marked_prints(tree))}
    assert not bare, "a notebook prints a ✅/❌ line in English only: wrap it in tr() (and add its French):\n" + \
        "\n".join(f"  {where}: {texts}" for where, texts in bare.items())


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
    assert ax.get_ylabel() == "lag (messages pas encore commités)"
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


def test_the_exercises_speak_french(monkeypatch, capsys):
    from labkit.errors import MaxRetriesExceeded, ServiceUnavailable, ValidationError
    from labkit.notebook import exercises

    def good_loop(records, process_record, send_to_dlt, sleep_with_backoff):
        for record in records:
            for retry in range(6):
                try:
                    process_record(record)
                    break
                except ValidationError as error:
                    send_to_dlt(record, error)
                    break
                except ServiceUnavailable:
                    if retry == 5:
                        send_to_dlt(record, MaxRetriesExceeded(retry))
                        break
                    sleep_with_backoff(retry + 1)

    def broken_loop(records, process_record, send_to_dlt, sleep_with_backoff):
        raise KeyError("offset")

    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert exercises.check_retry_loop(good_loop)
    assert exercises.check_retry_loop(broken_loop) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ("✅ un message qui échoue deux fois, puis réussit : 3 appels, sleeps avant les retries [1, 2], "
                        "DLT rien")
    assert lines[3] == "❌ un message qui échoue toujours (transitoire) : votre fonction a levé KeyError : 'offset'"
    monkeypatch.setenv("LABKIT_LANG", "en")
    exercises.check_retry_loop(broken_loop)
    assert capsys.readouterr().out.splitlines()[0] == \
        "❌ a record that always fails (transient): your function raised KeyError: 'offset'"


def test_a_checker_without_an_answer_says_so_in_french(monkeypatch, capsys):
    from labkit.notebook import exercises

    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert exercises.check_dlt_reasons(None, None, since=0.0) is False
    assert capsys.readouterr().out == (
        "❌ donnez à my_counts un dict {errorType: messages}, puis relancez cette cellule\n")


def test_a_journey_table_shows_french_labels(monkeypatch):
    from labkit.events import EventLog
    from labkit.events.kinds import Processed, Produced
    from labkit.notebook.display import labelled
    from labkit.observe.journeys import order_journeys

    log = EventLog()
    log.append(Produced(topic="orders", partition=2, offset=0, key="ORD-1"))
    log.append(Processed(topic="orders", partition=2, offset=0, key="ORD-1", consumer="consumer-1"))
    table = order_journeys(log, ["ORD-1"])
    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert list(labelled(table).columns) == ["commande", "partition", "issue", "par", "attente (s)", "traitements"]
    assert labelled(table)["issue"].tolist() == ["traité"]  # the outcome a student reads, in French
    assert table["outcome"].tolist() == ["processed"]  # code keeps the English names and values
    waiting = order_journeys(log, ["ORD-2"])
    assert labelled(waiting)["issue"].tolist() == ["en attente"]


def test_a_labelled_index_name_is_shown_in_french(monkeypatch):
    import pandas as pd

    from labkit.lang import LABELLED
    from labkit.notebook.display import labelled

    report = pd.DataFrame({"rebalance": [1], "trigger": ["join"], "moved": [3]}).set_index("rebalance")
    report.attrs[LABELLED] = True  # as Timeline.report marks it
    monkeypatch.setenv("LABKIT_LANG", "fr")
    shown = labelled(report)
    assert shown.index.name == "rebalancing" and list(shown.columns) == ["déclencheur", "déplacées"]
    assert report.index.name == "rebalance" and list(report.columns) == ["trigger", "moved"]


def test_the_broker_line_of_every_setup_cell_is_french_in_the_french_edition(monkeypatch):
    info = BrokerInfo("kafka", "127.0.0.1:9092", pid=42, note="reused")
    monkeypatch.setenv("LABKIT_LANG", "en")
    assert str(info) == "kafka broker running at 127.0.0.1:9092 (pid 42); reused"
    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert str(info) == "broker kafka en marche sur 127.0.0.1:9092 (pid 42) ; réutilisé"
    started = BrokerInfo("external", "h:1", note="labkit will not stop it; something else")
    assert str(started) == ("broker external en marche sur h:1 (pas démarré par labkit) ; labkit ne l'arrêtera pas ; "
                            "something else")
    assert info.note == "reused"  # code reads the English note
