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
