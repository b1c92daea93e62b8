#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, printing the time of each stage.
#   bash scripts/test.sh               everything: unit tests, notebooks, book build, the built
#                                      book in headless Chromium, notebooks on a Jupyter server
#   bash scripts/test.sh -k datasets   any pytest arguments: one pytest run with them
# The notebooks need data: set CNN_HELPERS_DATA to the offline copies (see README.md),
# or have internet access for the Keras download.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

t0=$(date +%s)
bash scripts/setup.sh
t_setup=$(( $(date +%s) - t0 ))
echo "stage setup: ${t_setup} s"

export MPLBACKEND=Agg
PYTEST=(.venv/bin/python -m pytest)

if [ $# -gt 0 ]; then
    exec "${PYTEST[@]}" "$@"
fi

# The unit tests of the parts of cnn_helpers that call Keras, run again on its JAX backend (the
# NumPy-only parts, the exercises' checks, the scripts and the static notebook checks do not
# depend on the backend and run once, in the unit stage).
JAX_UNIT_TESTS=(tests/test_ops.py tests/test_models.py tests/test_training.py tests/test_autodiff.py
                tests/test_runtime.py tests/test_distributed.py)

status=0
times=("setup ${t_setup}s")
run_stage() {  # name, pytest args...
    local name=$1; shift
    local s=$(date +%s)
    echo; echo "=== stage $name ==="
    "${PYTEST[@]}" "$@" || status=1
    local d=$(( $(date +%s) - s ))
    times+=("$name ${d}s")
    echo "stage $name: ${d} s"
}

# --durations: the slowest tests of each stage, to see where the time goes.
run_stage unit -m "not notebooks and not book and not browser and not jupyter and not jax" -n 2 --durations=10
run_stage notebooks -m notebooks -n 2 --durations=20
# The second Keras backend: the library's unit tests and the chapters that run on JAX (at smoke
# size, with the same nbval comparisons), in one session with KERAS_BACKEND=jax.
KERAS_BACKEND=jax run_stage jax -m "not notebooks and not book and not browser and not jupyter" -n 2 \
    --durations=10 "${JAX_UNIT_TESTS[@]}" tests/test_notebooks.py::test_runs_on_jax_at_smoke_size_and_checked_cells_match
# The book is built once (by whichever worker comes first) into _build/html; the checks of
# its files and the browser tests (screenshots: _build/screenshots/) share it; the tests of
# one width share a worker (their xdist group), so each width is surveyed once.
run_stage book -m "book or browser" -n 2 --dist loadgroup --durations=20
run_stage jupyter -m jupyter -s --durations=10

echo; echo "stage times: ${times[*]}; total $(( $(date +%s) - t0 )) s"
exit $status
