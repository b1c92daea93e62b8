#!/usr/bin/env bash
# Set up .venv (if needed) and build the book. The notebooks are not re-executed: the book
# shows their committed outputs.
#   bash scripts/book.sh               build the HTML book into _build/html (warnings as errors)
#   bash scripts/book.sh pdf           ... and the whole book as one PDF, _build/pdf/cnn-book.pdf
#                                      (printed by a headless Chromium: Debian's, or $CHROMIUM)
#   bash scripts/book.sh lab [ARGS]    open the notebooks in JupyterLab (ARGS go to `jupyter lab`,
#                                      e.g. --no-browser --port 8890)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_html() {
    local start=$(date +%s)
    .venv/bin/jupyter-book build . --warningiserror --keep-going
    echo "book: built in $(( $(date +%s) - start )) s; open _build/html/index.html (works offline)"
}

case "${1:-}" in
    "")
        CNN_BOOK_EXTRAS=book bash scripts/setup.sh
        build_html
        ;;
    pdf)
        shift
        CNN_BOOK_EXTRAS=pdf bash scripts/setup.sh
        build_html
        .venv/bin/python scripts/book_pdf.py "$@"
        ;;
    lab)
        shift
        CNN_BOOK_EXTRAS=book bash scripts/setup.sh
        # Jupyter refuses to run as root unless told to (containers, CI, cloud machines)
        root=()
        if [ "$(id -u)" = "0" ]; then root=(--allow-root); fi
        exec .venv/bin/jupyter lab "${root[@]}" "$@"
        ;;
    *)
        echo "usage: bash scripts/book.sh [pdf [--output FILE] | lab [jupyter lab arguments]]" >&2
        exit 2
        ;;
esac
