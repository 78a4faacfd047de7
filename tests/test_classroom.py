"""The notebooks run the way a class runs them, not the way CI does: every lab notebook twice in a
row on one broker (a student who runs everything again), the final checklist before and after its own
clean-up (it must then say what is missing, not fill it in silently), and Lab 3 at a class's pace.

The kernels get their own state dir: to them the session's broker is one started elsewhere (from a
terminal, by docker compose), so 10's clean-up leaves it running for the tests after it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
LABS = [name for name in NAMES if not name.startswith("10")]  # 10 ends by deleting the evidence: below

pytestmark = [pytest.mark.broker, pytest.mark.classroom]


def run(name: str, env: dict[str, str | None], pauses: dict[str, float] | None = None,
        as_slides: bool = False) -> str:
    """Execute ``name`` cell by cell in a fresh kernel with ``env``, sleeping ``pauses[cell id]``
    seconds before that cell (an instructor talking: the broker and the consumers do not wait);
    ``as_slides``: without the cells a RISE presentation skips (folded solutions). Returns what the
    code cells printed. A failing cell raises nbclient's CellExecutionError."""
    nb = nbformat.read(NOTEBOOKS / name, 4)
    if as_slides:
        nb.cells = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") != "skip"]
    client = NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    saved = dict(os.environ)
    for key, value in env.items():  # the kernel inherits this process's environment; None unsets
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    printed = []
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                time.sleep((pauses or {}).get(cell.get("id"), 0))
                client.execute_cell(cell, index)
                printed += [out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "".join(printed)


@pytest.fixture(scope="module")
def kernel_env(broker_settings, tmp_path_factory) -> dict[str, str]:
    """One state dir for the whole course, as on a student's machine: 10 reads the logs 05 wrote."""
    state = tmp_path_factory.mktemp("classroom-state")
    return {"LABKIT_BOOTSTRAP_SERVERS": broker_settings.bootstrap_servers, "LABKIT_STATE_DIR": str(state),
            "LABKIT_FAST": "1", "MPLBACKEND": "Agg"}


@pytest.mark.parametrize("name", LABS)
def test_a_notebook_run_twice_in_a_row_passes_twice(name, kernel_env):
    first = run(name, kernel_env)
    second = run(name, kernel_env)  # same broker, same topics, the first run's records still there
    assert first.count("✅") == second.count("✅")


def test_the_checklist_passes_on_the_labs_evidence_then_says_what_its_clean_up_removed(kernel_env, monkeypatch):
    from labkit.scenarios import checkpoint
    from labkit.settings import load

    for key, value in kernel_env.items():  # the labs above left their evidence (run alone: make it)
        monkeypatch.setenv(key, value)
    settings = load()
    table = checkpoint.verify(settings)
    checkpoint.catch_up(settings, table)
    first = run("10_checkpoint_and_cleanup.ipynb", kernel_env)
    assert "✅ the course topics are gone" in first
    # 10 deleted the topics: run again, the checklist fails and names the notebooks to run, no silent catch-up
    with pytest.raises(CellExecutionError, match=r"(?s)still missing.*run 03_valid_flow.*run 05_retries"):
        run("10_checkpoint_and_cleanup.ipynb", kernel_env)


@pytest.mark.timeout(600)  # ~270 s of pauses (a class's pace) on top of the lab's own ~60 s
def test_lab3_at_a_class_pace_ends_in_the_dlt_and_says_so(kernel_env):
    # the module's real delays (retries ~1, 3, 7, 15, 31 s after the order), 20 s of explanation before
    # every step of Lab 3 and 90 s before step 5.4 switches the errors off: every retry fails first, the
    # order goes to the DLT, and each wait of the lab still holds (benchmarks/course_runtime.py --pause
    # paces every notebook)
    steps = [cell.id for cell in nbformat.read(NOTEBOOKS / "05_retries.ipynb", 4).cells
             if cell.cell_type == "code"]
    lab3 = steps[steps.index("c13"):steps.index("c32") + 1]
    printed = run("05_retries.ipynb", kernel_env | {"LABKIT_FAST": None}, pauses={c: 20 for c in lab3} | {"c28": 90})
    assert "ORD-RETRY sent to the DLT after 5 retries" in printed, printed[-2000:]
    assert "✅ ORD-RETRY in the DLT after 5 retries" in printed, printed[-2000:]


def test_08_presented_live_runs_without_its_skipped_solution_cells(kernel_env):
    """RISE never runs the cells it skips: each exercise then loads its reference solution itself."""
    printed = run("08_going_further.ipynb", kernel_env, as_slides=True)
    for name in ("capped", "breaker", "fix"):
        assert f"using the reference `{name}`" in printed, printed[-2000:]
