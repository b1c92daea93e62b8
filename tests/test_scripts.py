"""The README's commands do not set traps for a newcomer: building the book needs neither
administrator rights nor a browser; only the extras that drive Chromium (the PDF, the tests)
try to install one, never with a password prompt."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO


def _path_without_chromium(tmp_path: Path) -> tuple[str, Path]:
    """A PATH with every command of this machine except Chromium, and with ``apt-get`` and
    ``sudo`` replaced by stubs that record their calls (in the returned log file)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(folder).iterdir() if Path(folder).is_dir() else []:
            target = bin_dir / tool.name
            if "chrom" in tool.name or tool.name in ("apt-get", "sudo") or target.exists():
                continue
            target.symlink_to(tool)
    for stub in ("apt-get", "sudo"):
        script = bin_dir / stub
        # "sudo -n CMD" runs CMD; apt-get's update works, its install fails (no network)
        body = ('[ "$1" = -n ] && shift; exec "$@"' if stub == "sudo"
                else 'case "$*" in *install*) exit 100;; esac')
        script.write_text(f'#!/bin/sh\necho "{stub} $*" >> "{log}"\n{body}\n')
        script.chmod(0o755)
    return str(bin_dir), log


@pytest.mark.parametrize("extras, installs_chromium", [("book", False), ("pdf", True),
                                                       ("test", True)])
def test_setup_asks_for_chromium_only_where_it_is_needed(extras, installs_chromium, tmp_path):
    path, log = _path_without_chromium(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    env.update(PATH=path, CNN_BOOK_EXTRAS=extras)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], env=env, text=True,
                          capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text() if log.exists() else ""
    if not installs_chromium:
        assert calls == "", f"building the book tried to install something: {calls}"
        return
    assert "apt-get install -y -qq chromium" in calls, calls
    if os.geteuid() != 0:
        assert calls.startswith("sudo -n "), "sudo must never prompt for a password"
    else:
        assert "sudo" not in calls
    assert "sudo apt-get install chromium" in proc.stdout      # the failure says what to do


def test_setup_refuses_an_unknown_extra():
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], text=True,
                          capture_output=True, env={**os.environ, "CNN_BOOK_EXTRAS": "all"})
    assert proc.returncode == 2 and "must be book, pdf or test" in proc.stderr


def test_book_sh_explains_its_commands():
    proc = subprocess.run(["bash", str(REPO / "scripts" / "book.sh"), "--help"], text=True,
                          capture_output=True)
    assert proc.returncode == 2
    assert "pdf" in proc.stderr and "lab [jupyter lab arguments]" in proc.stderr
