"""Exercise 1: Convolution (exercises/01_convolution.ipynb)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_helpers import ops
from cnn_helpers.grading import Failure, Task, near, probe_verdict, training_losses

SMOKE = {"LEARN_IMAGES": 200, "LEARN_EPOCHS": 3}

SOBEL_V = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _output_size(answer: Any) -> tuple[bool, str]:
    ok, message = near(answer, 28, what="the output width")
    if ok:
        return ok, message
    hints = {27: "count the window positions: the left edge can sit at columns 0 to I - F",
             29: "the window must fit entirely inside the image (no padding here)",
             32: "without padding the output is smaller than the input"}
    try:
        return False, f"{message}; {hints.get(int(answer), 'use O = I - F + 1')}"
    except (TypeError, ValueError):
        return False, message


def _params(answer: Any) -> tuple[bool, str]:
    ok, message = near(answer, ops.conv_params(8, 3, 16), what="the parameter count")
    if ok:
        return ok, message
    hints = {16 * 9 * 8: "each filter also has one bias",
             16 * (9 + 1): "each filter spans all 8 input channels",
             16 * 8 * (9 + 1): "there is one bias per filter, not one per input channel"}
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return False, message
    if value >= 62 * 62:
        return False, f"{message}; weights are shared across positions: the image size does not count"
    return False, f"{message}; " + hints.get(value, "use W = (D x F_w x F_h + 1) x M")


# --------------------------------------------------------------------------- 1.3


def _single_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(101)
    return [(rng.normal(size=(6, 7)), rng.normal(size=(3, 3))),
            (rng.integers(0, 9, size=(5, 5)).astype(float), rng.normal(size=(2, 4))),
            (rng.normal(size=(8, 8)), np.array([[2.0]])),
            (rng.normal(size=(4, 9)), rng.normal(size=(4, 1)))]


def _single_diagnose(image: np.ndarray, kernel: np.ndarray, *, got: Any,
                     expected: np.ndarray) -> str:
    if isinstance(got, Failure):
        return ""
    arr = np.asarray(got)
    if arr.shape == expected.shape and np.allclose(arr, ops.conv2d(image, kernel[::-1, ::-1])):
        return "you flipped the kernel; Keras layers slide it unflipped"
    if arr.shape == tuple(s - 1 for s in expected.shape):
        return "one position short per axis, the last window is missing"
    return ""


def _single(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(_single_probes(), outputs, ops.conv2d,
                         lambda image, kernel: f"{image.shape} image, {kernel.shape} kernel",
                         _single_diagnose, done="match keras-style convolution")


# --------------------------------------------------------------------------- 1.4


def _multi_probes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(202)
    return [(rng.normal(size=(7, 6, 3)), rng.normal(size=(3, 3, 3, 4)), rng.normal(size=4)),
            (rng.normal(size=(5, 5, 2)), rng.normal(size=(2, 2, 2, 1)), np.array([0.5])),
            (rng.normal(size=(6, 6, 1)), rng.normal(size=(3, 3, 1, 2)), np.zeros(2))]


def _multi_diagnose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, *, got: Any,
                    expected: np.ndarray) -> str:
    if isinstance(got, Failure) or np.asarray(got).shape != expected.shape:
        return ""
    arr = np.asarray(got)
    if np.allclose(arr, expected - bias):
        return "the bias is missing"
    if np.allclose(arr, ops.conv2d(x[..., :1], kernel[:, :, :1, :], bias)):
        return "only the first input channel was used; sum over all of them"
    return ""


def _multi(outputs: list[Any]) -> tuple[Any, str]:
    return probe_verdict(_multi_probes(), outputs, ops.conv2d,
                         lambda x, kernel, bias: f"input {x.shape}, kernel {kernel.shape}",
                         _multi_diagnose, done="match Conv2D")


# --------------------------------------------------------------------------- 1.5


def _sobel_model(model: Any) -> tuple[Any, str]:
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if len(convs) != 1:
        return False, f"the model should have exactly one Conv2D layer, it has {len(convs)}"
    try:
        in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError):
        return False, "the model has no input shape yet: start it with keras.Input(shape=(28, 28, 1))"
    if in_shape != (None, 28, 28, 1):
        return False, f"the input should be (None, 28, 28, 1), it is {in_shape}"
    if out_shape != (None, 26, 26, 2):
        return False, f"the output should be (None, 26, 26, 2), it is {out_shape}"
    kernel = np.asarray(convs[0].kernel)
    if convs[0].use_bias and np.abs(np.asarray(convs[0].bias)).max() > 1e-6:
        return 0.5, "the filters are Sobel filters only with a zero bias"
    vertical, horizontal = kernel[:, :, 0, 0], kernel[:, :, 0, 1]
    if np.allclose(vertical, SOBEL_V) and np.allclose(horizontal, SOBEL_V.T):
        return True, "a Conv2D layer holding the vertical and horizontal Sobel filters"
    if np.allclose(vertical, SOBEL_V.T) and np.allclose(horizontal, SOBEL_V):
        return 0.5, "the two filters are in the wrong order: vertical first, then horizontal"
    if np.allclose(vertical, SOBEL_V):
        return 0.5, "filter 0 is right; filter 1 should respond to horizontal edges"
    if np.allclose(vertical, SOBEL_V[::-1, ::-1]):
        return 0.25, "filter 0 is flipped (a convolution textbook's Sobel); Keras does not flip"
    return 0.25, "right shapes, but filter 0 does not hold the vertical Sobel weights"


# --------------------------------------------------------------------------- 1.6


def _history(history: Any) -> tuple[Any, str]:
    losses, problem = training_losses(history, fit_call="learner.fit")
    if losses is None:
        return False, problem
    if losses[-1] >= losses[0]:
        return False, f"the loss did not go down ({losses[0]:.4g} -> {losses[-1]:.4g})"
    return True, f"the training loss fell from {losses[0]:.4g} to {losses[-1]:.4g}"


TASKS = [
    Task("1.1", "output size", "output_size", _output_size),
    Task("1.2", "parameter count", "n_params", _params),
    Task("1.3", "convolution from scratch", "conv2d_single", _single, points=2, kind="function",
         probes=_single_probes),
    Task("1.4", "channels and filters", "conv2d_multi", _multi, points=2, kind="function",
         probes=_multi_probes),
    Task("1.5", "a Sobel layer in Keras", "sobel_model", _sobel_model, points=2, kind="model"),
    Task("1.6", "learn a filter", "history", _history, points=1),
]
