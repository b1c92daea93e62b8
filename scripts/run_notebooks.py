"""Execute notebooks with papermill, at full (lecture) settings or at smoke size.

Full run, in place, to produce the outputs that are committed (each chapter prints a run
report with backend, device and wall time; the notebook's metadata records the same)::

    .venv/bin/python scripts/run_notebooks.py chapters/01_convolution.ipynb

Smoke run into a scratch folder, with the small parameters each notebook declares in
``metadata.cnn_book.smoke``, as the test suite does::

    .venv/bin/python scripts/run_notebooks.py --smoke --output-dir /tmp/smoke chapters/*.ipynb
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import papermill

from cnn_helpers import notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--smoke", action="store_true", help="use each notebook's smoke parameters")
    parser.add_argument("--output-dir", type=Path, help="write executed copies here (default: in place)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=JSON",
                        help="override one parameter, e.g. -p EPOCHS=2 (the value is read as JSON)")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)

    overrides = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"-p expects NAME=VALUE, got {item!r}")
        overrides[name] = json.loads(value)

    failed = []
    for path in args.notebooks:
        params = {**(notebooks.smoke_parameters(path) if args.smoke else {}), **overrides}
        output = path
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            output = args.output_dir / path.name
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"{path}: running ({shown})", flush=True)
        try:
            seconds = notebooks.execute(path, output, params, mode="smoke" if args.smoke else "full",
                                        cell_timeout=args.cell_timeout)
        except papermill.PapermillExecutionError as exc:
            print(f"{path}: FAILED in cell {exc.exec_count}: {exc.ename}: {exc.evalue}", flush=True)
            failed.append(path)
            continue
        print(f"{path}: done in {seconds:.1f} s -> {output}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
