"""The course in JupyterLab in a real browser (Chromium driven by Playwright), as a student opens it.

Headless runs (nbval, nbclient) never draw anything: this test opens JupyterLab on a copy of the
notebooks, runs 00 from the Run menu, and checks what a student sees: the Mermaid diagram drawn as an
SVG, the checkpoint's ✅ line, no error output; then it does 05's Lab 3: runs up to the failure-injection
panel and uses it (the toggle and the rate slider switch the notebook's order service, checked through
the API; the module's curl that switches errors off moves the toggle back), then steps with Shift+Enter
through 5.1-5.4 and on to the checkpoint cell, which must print its ✅ while the API shows ORD-RETRY
processed or in the DLT. Screenshots are kept in the test's tmp dir (printed on failure).

JupyterLab 4 renders an error output exactly as a stderr stream (same ``data-mime-type``
``application/vnd.jupyter.stderr``, same classes), so the DOM cannot tell a traceback from a logged
warning: the server exposes its app to the page (``expose_app_in_browser``) and the test reads each
cell's outputs from the page's notebook model, where an error is ``output_type == "error"``.

It needs Chromium (Debian: ``apt-get install chromium``) and the ``playwright`` package: without
either it is skipped, naming what is missing.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ENGINE, free_port

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
TOKEN = "labkit-browser-test"

pytestmark = [pytest.mark.broker, pytest.mark.classroom,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")]
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture
def lab(broker_settings, tmp_path):
    """JupyterLab on a copy of the notebooks (it autosaves: the course's own files stay output-free)."""
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    port = free_port()
    env = {"LABKIT_BOOTSTRAP_SERVERS": broker_settings.bootstrap_servers, "LABKIT_STATE_DIR": str(tmp_path / "state"),
           "LABKIT_FAST": "1", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    log = open(tmp_path / "jupyter.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                             "--allow-root", "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={TOKEN}",
                             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:  # the server answers its API once it is up
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "jupyter.log").read_text()[-2000:]
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@contextlib.contextmanager
def browser_page(shots: Path, width: int = 1400, height: int = 1000):
    """A Chromium page; on a failure a full-page screenshot in ``shots``, whose path is printed."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height})
        try:
            yield page
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            print(f"screenshots in {shots}")
            raise
        finally:
            browser.close()


def run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_idle(page, timeout_ms: int) -> None:
    """Until no cell is queued or running (JupyterLab marks them with ``[*]``)."""
    page.wait_for_function(
        """() => { const p = [...document.querySelectorAll('.jp-InputPrompt')].map(e => e.textContent);
                   return p.length > 0 && !p.some(t => t.includes('*')) && p.some(t => /\\[\\d+\\]/.test(t)); }""",
        timeout=timeout_ms)


@pytest.mark.skipif(ENGINE != "kafka", reason="one browser run is enough: on the default broker")
def test_a_student_runs_00_and_sees_the_diagram_the_checkpoint_and_no_error(lab):
    url, shots = lab
    with browser_page(shots) as page:
        open_notebook(page, url, "00_introduction_and_setup.ipynb")
        run_all(page)
        wait_idle(page, 120_000)
        page.screenshot(path=str(shots / "00-run.png"), full_page=True)
        diagram = page.locator(".jp-Cell", has_text="The pieces you will drive")  # JupyterLab draws what is in view
        diagram.scroll_into_view_if_needed()
        drawn = diagram.locator(".jp-RenderedMermaid svg, .jp-RenderedMermaid img[src^='data:image/svg+xml']")
        drawn.first.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "00-diagram.png"))
        assert not diagram.locator("pre code.language-mermaid").count(), "the diagram is shown as code"
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        assert any("✅" in text for text in outputs), outputs[-3:]
        assert not any("Traceback" in text for text in outputs), outputs


def open_notebook(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?token={TOKEN}", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    select = page.get_by_role("button", name="Select", exact=True)  # JupyterLab asks for the kernel once
    try:
        select.wait_for(timeout=10_000)
        select.click()
    except playwright_api.TimeoutError:
        pass


@pytest.mark.timeout(900)  # ~80 s up to the panel, ~2 min of Lab 3 and sections 4-6: loaded CI machines are slower
@pytest.mark.skipif(ENGINE != "kafka", reason="one browser run is enough: on the default broker")
def test_lab3_the_failure_panel_then_the_steps_to_the_checkpoint(lab):
    """One Lab 3, as a class does it: the panel first, then 5.1-5.4 and the checkpoint, cell by cell."""
    import httpx

    url, shots = lab
    with browser_page(shots) as page:
        open_notebook(page, url, "05_retries.ipynb")
        panel_cell = page.locator(".jp-CodeCell", has_text="panel = FailurePanel(api)")
        panel_cell.scroll_into_view_if_needed()
        panel_cell.locator(".jp-InputArea-prompt").click()  # select the panel's cell
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Above Selected Cell", exact=True).click()
        wait_idle(page, 120_000)
        panel_cell.locator(".jp-InputArea-prompt").click()
        page.keyboard.press("Shift+Enter")
        toggle = panel_cell.locator(".widget-toggle-button")
        toggle.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "05-panel.png"))
        header = panel_cell.get_by_text("/api/v1/config/simulate-transient-error").inner_text()
        api = re.search(r"http://[\w.:\[\]]+", header).group(0)  # the panel says where its service is

        def get(path: str) -> dict:
            return httpx.get(f"{api}{path}", timeout=10).json()

        def config():
            return get("/api/v1/config")

        assert config()["simulateTransientError"] is False
        toggle.click()  # the student switches transient errors on
        wait_for(lambda: config()["simulateTransientError"] is True, "toggle -> API")
        rate_before = config()["rate"]
        handle = panel_cell.locator(".widget-slider .noUi-handle").first  # the failure-rate slider
        handle.focus()
        for _ in range(4):
            page.keyboard.press("ArrowLeft")
        wait_for(lambda: config()["rate"] < rate_before, "slider -> API")
        # the module's 5.4, as a curl would send it: the toggle must follow
        httpx.post(f"{api}/api/v1/config/simulate-transient-error", params={"enabled": "false"}, timeout=5)
        page.wait_for_function("el => !el.classList.contains('mod-active')", arg=toggle.element_handle(),
                               timeout=15_000)
        page.screenshot(path=str(shots / "05-after-curl.png"))
        assert "Traceback" not in panel_cell.inner_text(), panel_cell.inner_text()[-2000:]

        # Lab 3 proper: Shift+Enter from the cell after the panel, as the class goes on
        send, outcome_cell, checkpoint = (cell_index(page, i) for i in ("c22", "c30", "c57"))
        cell(page, cell_index(page, "c15") + 1).locator(".jp-InputArea-prompt").click()
        run_through(page, send - 1)  # 5.1: the module's curl switched errors on
        assert config()["simulateTransientError"] is True and config()["rate"] == 1.0, config()
        before, dlt_before = get("/api/v1/stats"), get("/api/v1/dlt/count")["count"]
        run_through(page, send)  # 5.2: ORD-RETRY, the API's answer printed by jq
        sent = json.loads(cell(page, send).locator(".jp-OutputArea-output").last.inner_text().strip())
        retry_id = sent["orderId"]
        assert sent["status"] == "ACCEPTED" and retry_id.startswith("ORD-RETRY"), sent
        run_through(page, outcome_cell)  # 5.3 the log, 5.4 the curl that switches errors off, the ending
        said = cell(page, outcome_cell).locator(".jp-OutputArea-output").inner_text()
        ending = re.search(rf"{re.escape(retry_id)} (processed|sent to the DLT) after (\d+) retries", said)
        assert ending, said
        # the API's own figures for ORD-RETRY's partition (only ORD-RETRY was sent since `before`)
        after, dlt_after = get("/api/v1/stats"), get("/api/v1/dlt/count")["count"]
        row0, row1 = (partition_row(stats, sent["topic"], sent["partition"]) for stats in (before, after))
        delta = {k: row1[k] - row0[k] for k in ("processed", "dlt", "retries")}
        processed = ending.group(1) == "processed"
        assert (delta["processed"], delta["dlt"]) == ((1, 0) if processed else (0, 1)), (said, delta)
        assert delta["retries"] >= 2, delta  # 5.2's cell waited for two retries: "plusieurs tentatives"
        assert dlt_after - dlt_before == (0 if processed else 1), (dlt_before, dlt_after)
        assert after["failureInjection"]["simulateTransientError"] is False, after["failureInjection"]

        run_through(page, checkpoint)  # sections 4-6 build what the checkpoint also checks
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        cell(page, checkpoint).scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "05-checkpoint.png"))
        printed = cell(page, checkpoint).locator(".jp-OutputArea-output").inner_text()
        kind = "processed" if processed else "in the DLT"
        assert f"✅ {retry_id} {kind} after {ending.group(2)} retries" in printed, printed
        assert "none lost" in printed, printed
        assert not notebook_errors(page), notebook_errors(page)
        run_through(page, cell_index(page, "c59"), last_key="Control+Enter")  # 05's last cell stops what it started
        wait_for(lambda: not answers(api), "the notebook's API stopped by its last cell", 60)


def partition_row(stats: dict, topic: str, partition: int) -> dict:
    """One partition's processed/retries/dlt in ``/api/v1/stats`` (zeros before its first record)."""
    rows = [r for r in stats["partitions"] if (r["topic"], r["partition"]) == (topic, partition)]
    return rows[0] if rows else {"processed": 0, "retries": 0, "dlt": 0}


def answers(api: str) -> bool:
    import httpx

    try:
        httpx.get(f"{api}/api/v1/config", timeout=2)
        return True
    except httpx.HTTPError:
        return False


# The open notebook's widget in the page's own JupyterLab (exposed by the server: see the module's docstring)
NOTEBOOK = "jupyterapp.shell.currentWidget.content"


def cell_index(page, cell_id: str) -> int:
    """Where the cell with this nbformat id sits in the open notebook."""
    index = page.evaluate(f"""id => {{ const cells = {NOTEBOOK}.model.cells;
        for (let i = 0; i < cells.length; i++) if (cells.get(i).id === id) return i;
        return -1; }}""", cell_id)
    assert index >= 0, f"the open notebook has no cell {cell_id!r}"
    return index


def cell(page, index: int):
    return page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}']")


def cell_errors(page, index: int) -> list[str]:
    """The error outputs of one cell (``ename: evalue``), from the page's notebook model."""
    return page.evaluate(f"""i => {NOTEBOOK}.widgets[i].model.outputs.toJSON()
        .filter(o => o.output_type === 'error').map(o => `${{o.ename}}: ${{o.evalue}}`)""", index)


def notebook_errors(page) -> dict[int, list[str]]:
    """Every cell's error outputs, and any traceback the page shows as text (a cell printing one)."""
    found = page.evaluate(f"""() => {NOTEBOOK}.widgets.map(w => [
        ...w.model.type === 'code' ? w.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                     .map(o => `${{o.ename}}: ${{o.evalue}}`) : [],
        ...[...w.node.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText)
           .filter(t => t.includes('Traceback (most recent call last)')).map(t => t.slice(0, 300))])""")
    return {i: errors for i, errors in enumerate(found) if errors}


def run_through(page, last: int, timeout_ms: int = 240_000, last_key: str = "Shift+Enter") -> None:
    """Shift+Enter from the active cell through cell ``last``, as a student steps through a lab.

    Each code cell is waited for until it has a new execution count (set when the kernel's reply
    arrives; a folded cell shows no prompt, so the page's model is read), within ``timeout_ms``; the
    first error output stops the run, naming the cell. ``last_key`` runs the last cell (Control+Enter
    runs the notebook's last cell without adding one below it).
    """
    while (index := page.evaluate(f"() => {NOTEBOOK}.activeCellIndex")) <= last:
        model = page.evaluate(f"""i => {{ const m = {NOTEBOOK}.widgets[i].model;
            const counts = {NOTEBOOK}.widgets.map(w => w.model.executionCount || 0);
            return {{id: m.id, type: m.type, source: m.sharedModel.getSource().slice(0, 80),
                     count: Math.max(0, ...counts)}}; }}""", index)
        page.keyboard.press(last_key if index == last else "Shift+Enter")
        what = f"cell {model['id']} ({model['source']!r})"
        if model["type"] == "code":
            try:
                page.wait_for_function(f"([i, n]) => {NOTEBOOK}.widgets[i].model.executionCount > n",
                                       arg=[index, model["count"]], timeout=timeout_ms)
            except playwright_api.TimeoutError:
                output = cell(page, index).locator(".jp-OutputArea").inner_text()[-1500:]
                raise AssertionError(f"{what} did not finish within {timeout_ms / 1000:g} s; "
                                     f"output: {output}") from None
            errors = cell_errors(page, index)
            assert not errors, f"{what} failed: {errors}"
        if index == last and last_key != "Shift+Enter":
            return
        page.wait_for_function(f"i => {NOTEBOOK}.activeCellIndex > i", arg=index, timeout=15_000)


def wait_for(check, what: str, timeout_s: float = 15.0) -> None:
    from labkit.wait import wait_until

    wait_until(check, timeout_s, what=what, interval_s=0.2)


@pytest.mark.skipif(ENGINE != "kafka", reason="one browser run is enough: on the default broker")
def test_the_slides_title_is_legible_and_not_covered(lab):
    """00 presented with RISE (jupyterlab-rise's /rise/ page): the course's rise.css is loaded, the first
    slide's title is large, no element (the 'Click to add a cell' bar) sits on top of it, and no line is
    cut at the screen's edges (with width/height 95 % reveal.js scaled the slide past them)."""
    url, shots = lab
    with browser_page(shots, 1280, 800) as page:  # a projector
        page.goto(f"{url}/rise/00_introduction_and_setup.ipynb?token={TOKEN}", timeout=60_000)
        title = page.locator(".reveal .jp-MarkdownCell h1").first
        title.wait_for(timeout=60_000)
        page.wait_for_function("() => [...document.styleSheets].some(s => (s.href || '').endsWith('rise.css'))",
                               timeout=30_000)
        page.screenshot(path=str(shots / "00-slide.png"))
        size = float(title.evaluate("el => getComputedStyle(el).fontSize").removesuffix("px"))
        assert size >= 36, f"title at {size} px"
        on_top = title.evaluate("""el => { const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return el.contains(hit) ? null : (hit ? hit.className : 'nothing'); }""")
        assert on_top is None, f"the title is covered by {on_top!r}"
        width = page.viewport_size["width"]
        for line in (title, page.locator(".reveal .jp-MarkdownCell p").first):  # nothing cut at the edges
            box = line.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (line.inner_text()[:40], box)
