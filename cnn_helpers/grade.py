"""``python -m cnn_helpers.grade``: the grader's command line (see :mod:`cnn_helpers.grading.cli`)."""

import sys

from cnn_helpers.grading.cli import main

if __name__ == "__main__":
    sys.exit(main())
