#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install cnn_helpers in
# editable mode with one of its extras, each including the one before it:
#   CNN_BOOK_EXTRAS=book   read, run and build the book (JupyterLab, Jupyter Book, papermill)
#   CNN_BOOK_EXTRAS=pdf    ... and print it to PDF (Playwright, pypdf; needs a Chromium)
#   CNN_BOOK_EXTRAS=test   ... and run the test suite (the default)
# Idempotent: re-running is quick unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
EXTRAS=${CNN_BOOK_EXTRAS:-test}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi

# Debian packages the project needs beside Python: installed with apt-get (through `sudo -n`,
# which never prompts, when not root); where that fails, say what to run.
APT_UPDATED=""
apt_install() {   # apt_install PACKAGE WHAT-NEEDS-IT
    local SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
    echo "setup: installing $1 (Debian package) for $2"
    if [ -z "$APT_UPDATED" ] && $SUDO apt-get update -qq; then APT_UPDATED=1; fi
    if ! { [ -n "$APT_UPDATED" ] && $SUDO apt-get install -y -qq "$1" >/dev/null; }; then
        echo "setup: could not install $1 (needed by $2); install it with:"
        echo "       sudo apt-get install $1"
        return 1
    fi
}

# The browser tests (and the PDF) drive a Chromium: Debian's package, or the one named by
# $CHROMIUM. Only the tests need it; building the book does not.
if [ "$EXTRAS" != "book" ] && [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium "the browser tests" || echo "       (or set CHROMIUM=/path/to/chromium)"
fi

# The grader runs every submitted notebook inside bubblewrap (cnn_helpers/grading/sandbox.py:
# no network, a read-only view of the machine, instructor checks and solutions hidden); it
# refuses to grade without it unless told to run submissions unsandboxed.
if ! command -v bwrap >/dev/null 2>&1; then
    apt_install bubblewrap "the grader (cnn-grade) and tests/test_sandbox.py" || true
fi

case "$EXTRAS" in
    book) covered="book pdf test" ;;
    pdf) covered="pdf test" ;;
    test) covered="test" ;;
    *) echo "setup: CNN_BOOK_EXTRAS must be book, pdf or test, not '$EXTRAS'" >&2; exit 2 ;;
esac
hash=$(sha256sum pyproject.toml | cut -c1-16)
installed=""
for extra in $covered; do
    if [ -f "$VENV/.installed-$extra-$hash" ]; then installed=$extra; fi
done
if [ -n "$installed" ]; then
    echo "setup: $VENV is up to date"
else
    echo "setup: installing cnn_helpers[$EXTRAS] into $VENV"
    # uv resolves and installs the ~150 packages (TensorFlow, Jupyter Book, JupyterLab)
    # several times faster than pip; fall back to pip if uv cannot be installed.
    if "$VENV/bin/python" -m pip install --quiet uv >/dev/null 2>&1; then
        "$VENV/bin/python" -m uv pip install --quiet --python "$VENV/bin/python" -e ".[$EXTRAS]"
    else
        "$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
    fi
    find "$VENV" -maxdepth 1 -name '.installed-*' ! -name "*-$hash" -delete
    touch "$VENV/.installed-$EXTRAS-$hash"
    echo "setup: done"
fi

# Byte-compile the environment once per install. uv does not write .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines) Python never caches them
# either: every kernel would compile TensorFlow's Python source again (`import tensorflow`
# took 18.5 s of CPU instead of 7.4 s on a 2-core machine), and the test suite starts dozens.
if [ ! -f "$VENV/.bytecode-$hash" ]; then
    echo "setup: byte-compiling $VENV (once)"
    "$VENV/bin/python" -m compileall -qq -j 0 "$VENV/lib" >/dev/null 2>&1 || true
    find "$VENV" -maxdepth 1 -name '.bytecode-*' -delete
    touch "$VENV/.bytecode-$hash"
fi

# The notebooks' kernel ("python3" in this environment) keeps what compiled libraries print
# (TensorFlow's C++ start-up lines) in the terminal instead of the notebook, however it is
# started: JupyterLab, papermill or nbconvert. Re-written each time: reinstalling ipykernel
# would restore the default.
"$VENV/bin/python" -c "from cnn_helpers import notebooks; notebooks.install_kernelspec()"
