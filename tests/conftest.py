"""Shared test settings: headless matplotlib, quiet TensorFlow, where the offline data is, and
the built book served to a headless Chromium (session fixtures for the browser tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


# Notebooks whose committed outputs come from a full run made before the book's figure style
# and readers' rules (hidden machine details, readable citations, one data notice), with the
# date of that run. Until they are re-executed (chapter 8's defaults need a GPU: see the
# README), their figures and printed outputs are checked against the old rules only; a new
# full run changes the date and puts them under every check again.
OWED_RERUNS = {"chapters/08_cifar10": "2026-11-23 06:51 UTC"}


def owes_rerun(docname: str) -> bool:
    """Whether ``docname``'s committed outputs still predate the current rules."""
    import json

    date = OWED_RERUNS.get(docname)
    if date is None:
        return False
    meta = json.loads((REPO / f"{docname}.ipynb").read_text(encoding="utf-8"))["metadata"]
    return meta.get("cnn_book", {}).get("last_run", {}).get("date") == date


def load_script(name: str):
    """``scripts/<name>.py`` as a module (registered first, so that its dataclasses work)."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def offline_data_dir() -> Path | None:
    """The offline data folder: $CNN_HELPERS_DATA, else ../shared/datasets beside the repo."""
    value = os.environ.get("CNN_HELPERS_DATA")
    if value:
        return Path(value)
    guess = REPO.parent / "shared" / "datasets"
    return guess if guess.is_dir() else None


# The kernels that execute notebooks inherit the environment: found here, the offline copy
# is what they load too (without it, they download the data with Keras).
if offline_data_dir() is not None:
    os.environ.setdefault("CNN_HELPERS_DATA", str(offline_data_dir()))


def build_book(path_output: Path, *extra: str) -> Path:
    """``jupyter-book build`` with warnings as errors into ``path_output/_build/html``; the
    build time is printed (the issue asks for under 60 s with execution off)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    t0 = time.perf_counter()
    proc = subprocess.run([str(jb), "build", str(REPO), "--path-output", str(path_output),
                           "--warningiserror", "--keep-going", *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    print(f"book built in {seconds:.1f} s")
    return Path(path_output) / "_build" / "html"


def no_leak(message: str, *values: float) -> None:
    """None of ``values`` (an exercise's expected answers) appears in a check's ``message``
    as a number of its own; a student's own negative answer echoed back does not count."""
    for v in values:
        for text in {f"{v}", f"{v:,}"}:
            assert not re.search(rf"(?<![\d,.-]){re.escape(text)}(?![\d,])", message), \
                f"{text!r} leaks in: {message}"


def wrong_option_is_explained(result, letter: str, right: str, why_wrong: dict[str, str]) -> None:
    """A multiple-choice task's verdict on a wrong ``letter``: no points, the reason that
    option is wrong, nothing naming the right one; and the options are a to d."""
    assert result.status == "fail" and result.points == 0
    assert result.message == why_wrong[letter]
    assert f'"{right}"' not in result.message and f"'{right}'" not in result.message
    assert set(why_wrong) | {right} == {"a", "b", "c", "d"}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = offline_data_dir()
    if folder is None or not (folder / "mnist").is_dir():
        pytest.skip("no offline data folder: set CNN_HELPERS_DATA (see README.md)")
    return folder


@pytest.fixture(autouse=True)
def _checks_without_delegation_rule(request, monkeypatch):
    """The tests of each exercise's checks stand in for answers with the book's references
    (``ops.conv2d``, Keras layers, the checks' own helpers), which a function task's
    ``forbid`` rule refuses; that rule is tested on its own, in tests marked
    ``delegation``. Elsewhere it is lifted for the duration of the test."""
    if request.node.get_closest_marker("delegation") is not None:
        yield
        return
    import importlib

    from cnn_helpers.grading.exercises import EXERCISES

    for module_name in EXERCISES.values():
        for task in importlib.import_module(module_name).TASKS:
            monkeypatch.setattr(task, "forbid", ())
    yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- the built book


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> tuple[Path, float]:
    """The book built once per test run into ``_build/html`` (``--all``, warnings as errors):
    its folder and the build's seconds. Under pytest-xdist the first worker builds it while
    the others wait on a lock, and all of them serve the same files."""
    import fcntl
    import json

    if "PYTEST_XDIST_WORKER" not in os.environ:
        t0 = time.perf_counter()
        html = build_book(REPO, "--all")
        return html, time.perf_counter() - t0
    shared = tmp_path_factory.getbasetemp().parent        # the same for every worker of a run
    record = shared / "book-built.json"
    with open(shared / "book-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            t0 = time.perf_counter()
            html = build_book(REPO, "--all")
            record.write_text(json.dumps({"html": str(html), "seconds": time.perf_counter() - t0}))
        built = json.loads(record.read_text())
    return Path(built["html"]), built["seconds"]


@pytest.fixture(scope="session")
def site(built_site):
    """The built book served on 127.0.0.1: (its address, its folder)."""
    import functools
    import http.server
    import threading

    from browser_support import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run bash scripts/setup.sh (apt-get install "
                    "chromium) or set CHROMIUM=/path/to/chromium")
    html = built_site[0]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", html
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM

    with sync_playwright() as p:
        # Debian's Chromium; Playwright must never download a browser of its own.
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots():
    from browser_support import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def visit(browser, site):
    from browser_support import Visit

    v = Visit(browser, site[0])
    yield v
    v.close()


# --------------------------------------------------------------------------- test order

# The slowest notebook tests, slowest first (from the durations that scripts/test.sh prints
# on a 2-core machine). Starting them first lets the two workers of the notebooks stage
# finish together instead of one of them waiting on a long last test.
SLOW_FIRST = (   # seconds measured on 2 cores, two workers, 2026-12-02
    "test_runs_at_smoke_size_and_checked_cells_match[chapters/08_cifar10.ipynb]",      # 134
    "test_blank_starters_score_zero_without_crashing",                                  # 133
    "test_reference_solutions_get_full_marks[08_cifar10]",                              # 91
    "test_runs_at_smoke_size_and_checked_cells_match[chapters/06_regularization.ipynb]",  # 81
    "test_broken_tasks_do_not_hide_the_others",                                         # 75
    "test_runs_at_smoke_size_and_checked_cells_match[chapters/07_mnist.ipynb]",         # 57
    "test_runs_at_smoke_size_and_checked_cells_match[chapters/05_anatomy.ipynb]",       # 50
    "test_time_to_accuracy_cifar10_smoke_run",                                          # 49
    "test_reference_solutions_get_full_marks[06_regularization]",                       # 48
    "test_reference_solutions_get_full_marks[07_mnist]",                                # 47
    "test_reference_solutions_get_full_marks[05_anatomy]",                              # 46
    "test_time_to_accuracy_smoke_run",                                                  # 33
    # the jax stage
    "test_runs_on_jax_at_smoke_size_and_checked_cells_match[chapters/06_regularization.ipynb]",  # 155
    "test_runs_on_jax_at_smoke_size_and_checked_cells_match[chapters/05_anatomy.ipynb]",  # 84
    "test_runs_on_jax_at_smoke_size_and_checked_cells_match[chapters/04_beyond_2d.ipynb]",  # 63
    "test_runs_on_jax_at_smoke_size_and_checked_cells_match[chapters/09_many_devices.ipynb]",  # 57
    "test_runs_on_jax_at_smoke_size_and_checked_cells_match[chapters/02_stride_and_padding.ipynb]",  # 49
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.name, len(rank)))   # stable: the rest keep their order
