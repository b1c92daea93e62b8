"""Helpers for the executable book on convolutional neural networks.

The package is deliberately small: a chapter shows every idea it teaches in its own
cells, and imports from here only the plumbing that several chapters share.

- :mod:`cnn_helpers.datasets` -- MNIST and CIFAR-10, offline copy if present, else Keras download.
- :mod:`cnn_helpers.ops` -- NumPy reference implementations (convolution, sizes, parameter counts).
- :mod:`cnn_helpers.plotting` -- image grids, annotated matrices, feature maps.
- :mod:`cnn_helpers.runtime` -- seeding, the backend/device report and wall-clock timing.

Importing the package is cheap: it does not import Keras or TensorFlow.
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter (oneDNN notices, "no CUDA driver") goes to stderr and
# lands in notebook outputs. Quieten what can be quietened before a notebook imports Keras;
# a reader who sets these variables keeps their own values.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
