"""Notebooks through a real Jupyter server, as JupyterLab (or a JupyterHub) runs them.

A ``jupyter lab`` server is started on 127.0.0.1 with a random port and token. The tests
read notebooks through its contents API, start kernels through its sessions API, and run
the cells over the kernel's websocket channels (the Jupyter messaging protocol), as the
JupyterLab front end does: chapter 1 at smoke size, and exercise 2 with every task answered
by its reference solution. The printed numbers the text relies on must come out as
committed. The server must also serve the jupyterlab-myst extension, which renders the
notebooks' MyST markup (admonitions, ``{ref}`` links, math) in JupyterLab as in the book.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

pytestmark = pytest.mark.jupyter

CELL_TIMEOUT = 300      # seconds for one cell (chapter 1 loads MNIST and CIFAR-10)

# What TensorFlow's C++ code writes at start-up ("I0000 00:00:... cudart_stub.cc:31] Could
# not find cuda drivers", "E0000 ... failed call to cuInit", absl's warning).
_TF_CPP_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|absl::InitializeLog|cuInit|cuda drivers", re.M)


@dataclass
class Server:
    base: str
    token: str

    def request(self, method: str, path: str, body: Any = None, token: bool = True) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", "replace")
        ctype = resp.headers.get("Content-Type", "")
        return status, json.loads(raw) if "json" in ctype and raw else raw.decode("utf-8", "replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("jupyter")
    port, token = _free_port(), secrets.token_hex(24)
    # the README's command, as a reader runs it (it adds --allow-root where needed: CI runs
    # as root), with the project's own kernelspec: no help from the test to keep the
    # kernels' C++ logs out of the outputs
    cmd = ["bash", str(REPO / "scripts" / "book.sh"), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={REPO}", "--LabApp.extension_manager=readonly",
           "--LabApp.expose_app_in_browser=True"]     # window.jupyterapp: the test runs cells
    env = {**os.environ, "CNN_HELPERS_DATA": str(data_dir), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp / "config")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    srv = Server(f"http://127.0.0.1:{port}", token)
    t0 = time.perf_counter()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(tmp / 'server.log').read_text()[-3000:]}")
            try:
                status, info = srv.request("GET", "/api/status")
                if status == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 120:
                pytest.fail("jupyter lab did not answer /api/status within 120 s")
            time.sleep(0.3)
        print(f"jupyter lab up in {time.perf_counter() - t0:.1f} s")
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Kernel:
    """A kernel session of the server, driven over its websocket channels."""

    def __init__(self, server: Server, path: str):
        import websocket

        status, session = server.request("POST", "/api/sessions", {
            "path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": "python3"}})
        assert status == 201, session
        self.server, self.session = server, session
        kernel_id = session["kernel"]["id"]
        ws_url = server.base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {server.token}"], timeout=CELL_TIMEOUT)
        self.client_session = uuid.uuid4().hex

    def run(self, code: str) -> dict[str, Any]:
        """Execute ``code``; return its stdout, stderr, rich outputs and error, if any."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": self.client_session, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        result: dict[str, Any] = {"stdout": "", "stderr": "", "data": [], "error": None}
        idle = replied = False
        deadline = time.monotonic() + CELL_TIMEOUT
        while not (idle and replied):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer within {CELL_TIMEOUT} s to:\n{code[:300]}")
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind in ("execute_result", "display_data"):
                result["data"].append(content["data"])
            elif kind == "error":
                result["error"] = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                replied = True
        return result

    def close(self):
        self.ws.close()
        self.server.request("DELETE", f"/api/sessions/{self.session['id']}")


def _contents(server: Server, path: str):
    """A notebook as the server's contents API returns it (what JupyterLab opens)."""
    import nbformat

    status, model = server.request("GET", f"/api/contents/{path}?content=1&type=notebook")
    assert status == 200, model
    return nbformat.from_dict(model["content"])


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _run_notebook(kernel: Kernel, nb, parameters: dict[str, Any]) -> list[tuple[Any, dict]]:
    """Run every code cell in order, with ``parameters`` injected after the parameters cell
    (as papermill and the test suite do); return (cell, result) pairs."""
    ran = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        result = kernel.run(cell.source)
        assert result["error"] is None, f"cell {i} raised {result['error']}:\n{cell.source[:400]}"
        ran.append((cell, result))
        if "parameters" in cell.metadata.get("tags", []) and parameters:
            injected = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
            assert kernel.run(injected)["error"] is None
    return ran


def test_the_api_needs_the_token(server):
    status, _ = server.request("GET", "/api/contents/chapters", token=False)
    assert status in (401, 403)
    status, listing = server.request("GET", "/api/contents/chapters")
    assert status == 200 and any(item["name"] == "01_convolution.ipynb" for item in listing["content"])


def test_jupyterlab_loads_jupyterlab_myst(server):
    """The lab page's configuration lists jupyterlab-myst among the extensions it loads."""
    status, html = server.request("GET", "/lab")
    assert status == 200, html
    start = html.index('id="jupyter-config-data"')
    start = html.index(">", start) + 1
    config = json.loads(html[start:html.index("</script>", start)])
    names = [ext["name"] for ext in config.get("federated_extensions", [])]
    assert "jupyterlab-myst" in names, names


def test_chapter_runs_through_the_server(server):
    path = "chapters/01_convolution.ipynb"
    nb = _contents(server, path)
    kernel = Kernel(server, path)
    try:
        t0 = time.perf_counter()
        ran = _run_notebook(kernel, nb, nb.metadata["cnn_book"]["smoke"])
        print(f"{path}: {len(ran)} cells in {time.perf_counter() - t0:.1f} s through the server")
        assert kernel.run("import cnn_helpers, os; print(cnn_helpers.__name__, os.getcwd())")["stdout"] \
            .split() == ["cnn_helpers", str(REPO / "chapters")]
    finally:
        kernel.close()
    cpp_logs = [r["stderr"] for _, r in ran if _TF_CPP_LOG.search(r["stderr"])]
    assert not cpp_logs, f"TensorFlow's C++ start-up lines reached the notebook: {cpp_logs[:2]}"
    colab_cell, colab_result = ran[0]
    assert "colab-setup" in colab_cell.metadata["tags"] and colab_result["stdout"] == ""
    checked = [(c, r) for c, r in ran if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(checked) >= 5
    for cell, result in checked:
        assert result["stdout"] == _stdout(cell), f"cell printed\n{result['stdout']}\ninstead of\n{_stdout(cell)}"
    assert any("(60000, 28, 28) uint8" in r["stdout"] for _, r in checked)


def test_exercise_runs_through_the_server(server):
    """The student notebook of exercise 2, each task answered with the reference solution."""
    name = "02_stride_and_padding"
    student = _contents(server, f"exercises/{name}.ipynb")
    solution = _contents(server, f"exercises/solutions/{name}.ipynb")
    answers = {c.id: c for c in solution.cells}
    tasks = 0
    for cell in student.cells:            # fill in the answers, as a student would
        if cell.cell_type == "code" and cell.id in answers and cell.source != answers[cell.id].source:
            cell.source = answers[cell.id].source
            tasks += 1
    assert tasks >= 6
    kernel = Kernel(server, f"exercises/{name}.ipynb")
    try:
        ran = _run_notebook(kernel, student, student.metadata["cnn_book"]["smoke"])
    finally:
        kernel.close()
    verdicts = [line for _, r in ran for line in r["stdout"].splitlines()
                if re.match(r"\[[A-Z ]+\] Task ", line)]
    assert len(verdicts) >= 6 and all(v.startswith("[PASS]") for v in verdicts), verdicts
    committed = {c.id: _stdout(c) for c in solution.cells if c.cell_type == "code"}
    for cell, result in ran:              # the checks print what the book shows
        if any(t.startswith("task-") for t in cell.metadata.get("tags", [])):
            assert result["stdout"] == committed[cell.id], cell.source


@pytest.mark.parametrize("runner", ["papermill", "nbconvert"])
def test_plain_runners_keep_tensorflow_logs_out_of_the_notebook(runner, tmp_path):
    """A student's plain ``papermill`` or ``jupyter nbconvert --execute`` (no help from the
    test suite) uses the project's kernelspec: TensorFlow's C++ lines stay in the terminal."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import tensorflow as tf\nprint(len(tf.config.list_physical_devices('CPU')))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "tf.ipynb", tmp_path / "tf_out.ipynb"
    nbformat.write(nb, src)
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "IPYTHONDIR")}
    if runner == "papermill":
        cmd = [str(bin_dir / "papermill"), str(src), str(out), "--log-level", "ERROR"]
    else:
        cmd = [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
               str(src), "--output", out.name, "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = nbformat.read(out, as_version=4).cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert "1\n" in text, outputs
    assert not _TF_CPP_LOG.search(text), f"C++ log lines in the notebook:\n{text}"


SHOTS = REPO / "_build" / "screenshots"


@contextmanager
def _lab_page(height: int = 900):
    """A page of headless Chromium (Debian's) for JupyterLab; the test fails if the page
    raised a JavaScript error by the end of the ``with`` block."""
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert not errors, errors
        finally:
            browser.close()


def test_jupyterlab_renders_myst_markup(server):
    """Chapter 2 opened in JupyterLab, in headless Chromium: the MyST label line is hidden,
    the {ref} role is a link and the math is typeset, as in the book."""
    with _lab_page() as page:
        page.goto(f"{server.base}/lab/tree/chapters/02_stride_and_padding.ipynb?token={server.token}")
        title = page.locator(".jp-MarkdownCell", has_text="2. Stride and padding").first
        title.wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "jupyterlab__chapters__02_stride_and_padding.png"))
        text = title.inner_text()
        assert "{ref}" not in text and "(ch-stride-padding)=" not in text, text[:300]
        assert title.locator("a", has_text="chapter 1").count() == 1
        assert title.locator(".katex, mjx-container, .MathJax").count() > 0    # O = ⌊(I+2P−F)/S⌋+1


def test_animations_play_and_answers_open_in_jupyterlab(server, tmp_path):
    """In JupyterLab, in headless Chromium: an animation cell's player plays, ``explore``
    gives sliders whose change redraws the animation, and a self-check question's answer
    (a MyST dropdown, rendered by jupyterlab-myst) opens on a click."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(
            ":::{dropdown} 1. How many positions does a 3-wide window have in a row of 5?\n"
            "Three: 5 - 3 + 1.\n:::\n\n:::{admonition} Going deeper: more\n:class: dropdown\n"
            "Hidden until opened.\n:::"),
        nbformat.v4.new_code_cell("from cnn_helpers import animate\n"
                                  "animate.conv_arithmetic(5, 3, stride=2, padding=1)"),
        nbformat.v4.new_code_cell("animate.explore(animate.conv_arithmetic, input_size=(3, 9, 5), "
                                  "stride=(1, 3, 1))"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = REPO / "_build" / "jupyterlab-check"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / "animations.ipynb"))
    with _lab_page(height=1000) as page:
        # a workspace of its own: JupyterLab would otherwise restore the notebooks that
        # earlier tests opened, and run-all-cells would run whichever is current
        page.goto(f"{server.base}/lab/workspaces/animations-check/tree/_build/jupyterlab-check/"
                  f"animations.ipynb?reset&token={server.token}")
        panel = page.locator(".jp-NotebookPanel", has_text="How many positions does a 3-wide")
        panel.locator(".jp-MarkdownCell").first.wait_for(timeout=90_000)
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')")
        page.wait_for_timeout(2000)         # the kernel starts
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        player = panel.locator(".jp-OutputArea .cnn-anim").first
        player.wait_for(timeout=120_000)
        assert player.get_attribute("data-frame") == "0"
        first = player.locator("img").get_attribute("src")
        player.locator("[data-act=play]").click()
        page.wait_for_function("el => parseInt(el.dataset.frame, 10) >= 2", arg=player.element_handle(),
                               timeout=15_000)
        assert player.locator("img").get_attribute("src") != first
        # explore: sliders, and moving one draws another animation
        slider = panel.locator(".jupyter-widgets .widget-hslider, .jupyter-widgets .slider-container").first
        slider.wait_for(timeout=60_000)
        assert panel.locator(".jp-OutputArea .cnn-anim").count() == 2
        described = panel.locator(".jp-OutputArea .cnn-anim").nth(1).get_attribute("aria-label")
        assert "a 5×5 input" in described, described
        handle = panel.locator(".jupyter-widgets .noUi-handle, .jupyter-widgets .ui-slider-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")   # input_size 5 -> 6
        page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea .cnn-anim')]"
                               ".some(a => a.getAttribute('aria-label').includes('a 6×6 input'))",
                               timeout=60_000)
        # the self-check answer is folded until clicked
        question = panel.locator(".jp-MarkdownCell details").first
        assert question.get_attribute("open") is None
        question.locator("summary").first.click()
        page.wait_for_function("el => el.open", arg=question.element_handle(), timeout=5_000)
        page.screenshot(path=str(SHOTS / "jupyterlab__animations.png"))
