"""`labkit lab` parses JupyterLab's usual options (issue 22): the parser and the command it builds,
without starting a broker or JupyterLab."""

from __future__ import annotations

import pytest

from labkit.cli.app import build_parser, jupyter_command
from labkit.paths import notebooks_dir


def test_no_browser_and_port_parse():
    args = build_parser().parse_args(["lab", "--no-browser", "--port", "8890"])
    assert args.no_browser is True and args.jupyter_port == 8890
    assert jupyter_command(args, "jupyter") == ["jupyter", "lab", f"--notebook-dir={notebooks_dir()}",
                                                "--no-browser", "--port=8890"]


def test_the_port_is_jupyters_not_the_brokers():
    from labkit.settings import from_args

    args = build_parser().parse_args(["lab", "--port", "8890"])
    assert from_args(args).bootstrap_servers == from_args(build_parser().parse_args(["lab"])).bootstrap_servers


def test_ip_and_extra_jupyter_options_after_a_double_dash():
    args = build_parser().parse_args(["lab", "--ip", "0.0.0.0", "--port", "8890", "--", "--ServerApp.token=x"])
    assert jupyter_command(args, "jupyter")[-3:] == ["--ip=0.0.0.0", "--port=8890", "--ServerApp.token=x"]


def test_a_bad_port_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["lab", "--port", "eighty"])
    assert exited.value.code == 2 and "--port" in capsys.readouterr().err


def test_lang_fr_opens_the_french_folder_and_sets_labkit_lang(monkeypatch):
    from labkit.cli.app import lab_environment

    monkeypatch.delenv("LABKIT_LANG", raising=False)
    args = build_parser().parse_args(["lab", "--lang", "fr", "--no-browser"])
    cmd = jupyter_command(args, "jupyter")
    # the root stays notebooks/ (the English edition one folder up); the French folder is what opens
    assert cmd[:4] == ["jupyter", "lab", f"--notebook-dir={notebooks_dir()}", "--LabApp.default_url=/lab/tree/fr"]
    assert (notebooks_dir() / "fr").is_dir()
    env = lab_environment(args, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "LABKIT_LANG": "fr"}  # the kernels inherit it


def test_lang_defaults_to_labkit_lang_else_english(monkeypatch):
    from labkit.cli.app import lab_environment

    monkeypatch.delenv("LABKIT_LANG", raising=False)
    args = build_parser().parse_args(["lab"])
    assert args.lang == "en"
    assert not any("default_url" in part for part in jupyter_command(args, "jupyter"))
    # an English lab drops a LABKIT_LANG left in the shell: a kernel in notebooks/fr/ still speaks French
    assert "LABKIT_LANG" not in lab_environment(args, {"LABKIT_LANG": "fr"})
    monkeypatch.setenv("LABKIT_LANG", "fr")
    assert build_parser().parse_args(["lab"]).lang == "fr"


def test_an_unknown_lang_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["lab", "--lang", "de"])
    assert exited.value.code == 2 and "--lang" in capsys.readouterr().err
