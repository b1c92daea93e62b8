"""The backend-neutral gradient helper against gradients known in closed form."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnn_helpers import autodiff, ops


def test_gradient_of_a_quadratic():
    x = np.array([1.0, -2.0, 3.0])
    (g,) = autodiff.gradients(lambda t: keras.ops.sum(t ** 2), x)
    np.testing.assert_allclose(g, 2 * x)


def test_gradients_of_a_convolution_match_the_reference_backward_pass():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 6, 7, 2)).astype("float32")
    kernel = rng.normal(size=(3, 3, 2, 3)).astype("float32")
    g = rng.normal(size=(1, 2, 3, 3)).astype("float32")

    gt = keras.ops.convert_to_tensor(g)   # a backend tensor: torch will not mix in NumPy

    def loss(xt, kt):
        return keras.ops.sum(keras.ops.conv(xt, kt, strides=2, padding="valid") * gt)

    dx, dk = autodiff.gradients(loss, x, kernel)
    rx, rk, _ = ops.conv2d_backward(x, kernel, g, strides=2)
    np.testing.assert_allclose(dx, rx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, rk, rtol=1e-4, atol=1e-4)


def test_unused_argument_gets_zero_gradient():
    a, b = np.ones(3), np.ones(2)
    ga, gb = autodiff.gradients(lambda s, t: keras.ops.sum(s * 3.0), a, b)
    np.testing.assert_allclose(ga, 3.0)
    np.testing.assert_array_equal(gb, 0.0)


def test_needs_an_argument():
    with pytest.raises(ValueError, match="at least one argument"):
        autodiff.gradients(lambda: 0.0)
