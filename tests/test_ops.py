"""The NumPy reference implementations against the Keras layers they model."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from cnn_helpers import ops

RNG = np.random.default_rng(1234)


def _keras_conv(x, kernel, bias, strides, padding):
    layer = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides, padding=padding)
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    return np.asarray(layer(x))


# Odd and even input sizes, odd and even kernels, strides 1-3, both paddings.
CONV_CASES = [
    (h, w, f, s, p)
    for (h, w), f, s, p in itertools.product(
        [(7, 7), (8, 6), (9, 10)], [1, 2, 3, 4, 5], [1, 2, 3], ["valid", "same"])
]


@pytest.mark.parametrize("h,w,f,s,padding", CONV_CASES)
def test_conv2d_matches_keras(h, w, f, s, padding):
    x = RNG.normal(size=(2, h, w, 3)).astype("float32")
    kernel = RNG.normal(size=(f, f, 3, 4)).astype("float32")
    bias = RNG.normal(size=(4,)).astype("float32")
    expected = _keras_conv(x, kernel, bias, s, padding)
    got = ops.conv2d(x, kernel, bias, strides=s, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("strides", [(1, 2), (3, 1), (2, 3)])
@pytest.mark.parametrize("kernel_hw", [(3, 2), (1, 4), (5, 3)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_rectangular_kernels_and_strides(strides, kernel_hw, padding):
    x = RNG.normal(size=(1, 9, 8, 2)).astype("float32")
    kernel = RNG.normal(size=kernel_hw + (2, 3)).astype("float32")
    bias = RNG.normal(size=(3,)).astype("float32")
    expected = _keras_conv(x, kernel, bias, strides, padding)
    np.testing.assert_allclose(ops.conv2d(x, kernel, bias, strides=strides, padding=padding),
                               expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pad", [1, 2, (1, 2), ((0, 1), (2, 0))])
def test_integer_padding_equals_zero_padding_layer(pad):
    x = RNG.normal(size=(1, 6, 7, 2)).astype("float32")
    kernel = RNG.normal(size=(3, 3, 2, 2)).astype("float32")
    bias = np.zeros(2, "float32")
    padded = np.asarray(keras.layers.ZeroPadding2D(pad)(x))
    expected = _keras_conv(padded, kernel, bias, 2, "valid")
    np.testing.assert_allclose(ops.conv2d(x, kernel, bias, strides=2, padding=pad), expected,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ops.pad2d(x, pad), padded)


@pytest.mark.parametrize("h,w,f,s,padding", CONV_CASES[::3])
@pytest.mark.parametrize("multiplier", [1, 2, 3])
def test_depthwise_matches_keras(h, w, f, s, padding, multiplier):
    x = RNG.normal(size=(2, h, w, 3)).astype("float32")
    layer = keras.layers.DepthwiseConv2D(f, strides=s, padding=padding, depth_multiplier=multiplier)
    layer.build(x.shape)
    kernel = RNG.normal(size=(f, f, 3, multiplier)).astype("float32")
    bias = RNG.normal(size=(3 * multiplier,)).astype("float32")
    layer.set_weights([kernel, bias])
    expected = np.asarray(layer(x))
    got = ops.depthwise_conv2d(x, kernel, bias, strides=s, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_single_channel_image_and_2d_kernel():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16  # uint8 must not overflow
    k = np.array([[1.0, 0.0], [0.0, -1.0]])
    out = ops.conv2d(img, k)
    assert out.shape == (3, 3)
    # by hand: img[j, k] - img[j+1, k+1] = -(5 * 16)
    np.testing.assert_array_equal(out, np.full((3, 3), -80.0))
    # the same through the general layout
    out3 = ops.conv2d(img[..., None], k[:, :, None, None], np.zeros(1))
    np.testing.assert_array_equal(out3[..., 0], out)


def test_bias_is_shared_across_positions():
    x = np.zeros((5, 5, 1))
    out = ops.conv2d(x, np.ones((3, 3, 1, 2)), np.array([0.5, -2.0]))
    np.testing.assert_array_equal(out[..., 0], 0.5)
    np.testing.assert_array_equal(out[..., 1], -2.0)


@pytest.mark.parametrize("size", [5, 6, 7, 28, 32])
@pytest.mark.parametrize("f", [1, 2, 3, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_size_matches_keras(size, f, s, padding):
    if f > size:
        pytest.skip("kernel larger than input")
    shape = keras.layers.Conv2D(1, f, strides=s, padding=padding).compute_output_shape((None, size, size, 1))
    assert ops.conv_output_size(size, f, s, padding) == shape[1]


def test_output_size_worked_examples():
    assert ops.conv_output_size(28, 5) == 24           # not 23 (a seed's slip)
    assert ops.conv_output_size(28, 3, 1) == 26
    assert ops.conv_output_size(28, 3, 2) == 13
    assert ops.conv_output_size(5, 3, 2, padding=1) == 3
    assert ops.conv_output_size(5, 3, 1, padding=1) == 5
    assert ops.conv_output_size(5, 3, 2) == 2
    assert ops.conv_output_size(6, 3, 2) == 2          # (6 - 3) / 2 + 1 = 2.5 -> floor
    assert ops.conv_output_size(6, 3, 2, padding=(0, 1)) == 3


@pytest.mark.parametrize("size,f,s", [(5, 3, 1), (6, 4, 2), (7, 2, 3), (8, 5, 3), (4, 1, 2)])
def test_same_padding_totals(size, f, s):
    before, after = ops.same_padding(size, f, s)
    assert after - before in (0, 1)
    assert ops.conv_output_size(size, f, s, (before, after)) == -(-size // s)


@pytest.mark.parametrize("d,f,m", [(1, 5, 20), (3, 5, 4), (32, 5, 64), (3, 3, 32), (1, 3, 32), (32, 3, 32)])
def test_conv_params_match_keras(d, f, m):
    layer = keras.layers.Conv2D(m, f)
    layer.build((None, 32, 32, d))
    assert ops.conv_params(d, f, m) == layer.count_params() == (d * f * f + 1) * m
    nobias = keras.layers.Conv2D(m, f, use_bias=False)
    nobias.build((None, 32, 32, d))
    assert ops.conv_params(d, f, m, use_bias=False) == nobias.count_params()


@pytest.mark.parametrize("d,f,mult", [(3, 3, 1), (3, 3, 2), (8, 5, 3)])
def test_depthwise_params_match_keras(d, f, mult):
    layer = keras.layers.DepthwiseConv2D(f, depth_multiplier=mult)
    layer.build((None, 16, 16, d))
    assert ops.depthwise_params(d, f, mult) == layer.count_params()


def test_dense_params_match_keras():
    layer = keras.layers.Dense(30)
    layer.build((None, 784))
    assert ops.dense_params(784, 30) == layer.count_params() == 23550


@pytest.mark.parametrize("call,message", [
    (lambda: ops.conv2d(np.zeros((2, 3, 4, 5, 6)), np.zeros((3, 3))), "expects an image"),
    (lambda: ops.conv2d(np.zeros((8, 8, 3)), np.zeros((3, 3, 1, 4))), "3 channel(s) but the kernel expects 1"),
    (lambda: ops.conv2d(np.zeros((8, 8, 3)), np.zeros((3, 3, 3))), "kernel[..., None]"),
    (lambda: ops.conv2d(np.zeros((8, 8)), np.zeros(9)), "kernel must be"),
    (lambda: ops.conv2d(np.zeros((4, 4)), np.zeros((5, 5))), "does not fit"),
    (lambda: ops.conv2d(np.zeros((8, 8, 1)), np.zeros((3, 3, 1, 4)), np.zeros(3)), "one value per output channel"),
    (lambda: ops.conv2d(np.zeros((8, 8)), np.zeros((3, 3)), strides=0), "strides must be a positive integer"),
    (lambda: ops.conv2d(np.zeros((8, 8)), np.zeros((3, 3)), padding="full"), "padding must be 'valid', 'same'"),
    (lambda: ops.conv2d(np.zeros((8, 8)), np.zeros((3, 3)), padding=-1), "padding must be >= 0"),
    (lambda: ops.conv2d(np.array([["a"]]), np.zeros((1, 1))), "numeric array"),
    (lambda: ops.depthwise_conv2d(np.zeros((8, 8, 3)), np.zeros((3, 3, 3))), "depth_multiplier"),
    (lambda: ops.depthwise_conv2d(np.zeros((8, 8, 2)), np.zeros((3, 3, 3, 1))), "2 channel(s) but the kernel expects 3"),
    (lambda: ops.conv_output_size(3, 5), "does not fit"),
    (lambda: ops.conv_output_size(28, 5, 0), "stride must be a positive integer"),
    (lambda: ops.conv_output_size(28.0, 5), "input_size must be a positive integer"),
    (lambda: ops.conv_params(3, 5, 0), "filters must be a positive integer"),
    (lambda: ops.conv_params(3, (5, 5, 5), 2), "pair of ints"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
