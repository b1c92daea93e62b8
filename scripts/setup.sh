#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install
# cnn_helpers in editable mode with everything the book and the tests need.
# Idempotent: re-running is instant unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
EXTRAS=${CNN_BOOK_EXTRAS:-test}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
if [ "$EXTRAS" != "book" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "setup: installing chromium (Debian package) for the browser tests"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null \
        || echo "setup: could not install chromium; the browser tests will fail (apt-get install chromium)"
fi

stamp="$VENV/.installed-$EXTRAS-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ]; then
    echo "setup: $VENV is up to date"
    exit 0
fi

echo "setup: installing cnn_helpers[$EXTRAS] into $VENV"
# uv resolves and installs the ~150 packages (TensorFlow, Jupyter Book, JupyterLab)
# several times faster than pip; fall back to pip if uv cannot be installed.
if "$VENV/bin/python" -m pip install --quiet uv >/dev/null 2>&1; then
    "$VENV/bin/python" -m uv pip install --quiet --python "$VENV/bin/python" -e ".[$EXTRAS]"
else
    "$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "setup: done"
