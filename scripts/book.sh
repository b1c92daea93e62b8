#!/usr/bin/env bash
# Set up .venv (if needed) and build the book into _build/html, with warnings as errors.
# The notebooks are not re-executed: the book shows their committed outputs.
#   bash scripts/book.sh          build the HTML book
#   bash scripts/book.sh lab      open the notebooks in JupyterLab instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

if [ "${1:-}" = "lab" ]; then
    exec .venv/bin/jupyter lab
fi

start=$(date +%s)
.venv/bin/jupyter-book build . --warningiserror --keep-going
echo "book: built in $(( $(date +%s) - start )) s; open _build/html/index.html (works offline)"
