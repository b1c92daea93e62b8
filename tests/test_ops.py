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


@pytest.mark.parametrize("dilation", [2, 3, (1, 2)])
@pytest.mark.parametrize("padding", ["valid", "same", 2])
def test_dilated_conv2d_matches_keras(dilation, padding):
    x = RNG.normal(size=(2, 11, 12, 3)).astype("float32")
    kernel = RNG.normal(size=(3, 3, 3, 4)).astype("float32")
    bias = RNG.normal(size=(4,)).astype("float32")
    if padding == 2:       # Keras has no integer padding: pad, then a "valid" layer
        padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
        layer = keras.layers.Conv2D(4, 3, dilation_rate=dilation, padding="valid")
        layer.build(padded.shape)
        layer.set_weights([kernel, bias])
        expected = np.asarray(layer(padded))
    else:
        layer = keras.layers.Conv2D(4, 3, dilation_rate=dilation, padding=padding)
        layer.build(x.shape)
        layer.set_weights([kernel, bias])
        expected = np.asarray(layer(x))
    got = ops.conv2d(x, kernel, bias, padding=padding, dilation_rate=dilation)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    d = dilation if isinstance(dilation, int) else dilation[0]
    assert ops.conv_output_size(11, 3, padding=padding, dilation=d) == expected.shape[1]


def test_dilation_spreads_the_taps():
    # a 3-tap kernel with dilation 2 reads inputs 0, 2 and 4 of a window that spans 5
    x = np.arange(7.0)[np.newaxis, :]
    assert ops.dilated_size(3, 2) == 5
    np.testing.assert_array_equal(ops.conv2d(x, np.ones((1, 3)), dilation_rate=2)[0], [6, 9, 12])
    assert ops.conv_output_size(7, 3, dilation=2) == 3
    with pytest.raises(ValueError, match="dilation"):
        ops.conv_output_size(7, 3, dilation=0)


@pytest.mark.parametrize("shape,k,s,padding,d", [((7, 6, 3), (3, 2), 2, 1, (1, 2)), ((5, 5), 3, 1, "same", 1),
                                                 ((9, 8, 2), (2, 3), (2, 1), "valid", 2)])
def test_im2col_times_the_kernel_is_the_convolution(shape, k, s, padding, d):
    x = RNG.normal(size=shape)
    kh, kw = (k, k) if isinstance(k, int) else k
    channels = shape[2] if len(shape) == 3 else 1
    kernel = RNG.normal(size=(kh, kw, channels, 5))
    cols = ops.im2col(x, k, strides=s, padding=padding, dilation_rate=d)
    out = ops.conv2d(x if len(shape) == 3 else x[..., None], kernel, strides=s, padding=padding, dilation_rate=d)
    assert cols.shape == (out.shape[0] * out.shape[1], kh * kw * channels)
    np.testing.assert_allclose(cols @ kernel.reshape(-1, 5), out.reshape(-1, 5), atol=1e-12)


def test_im2col_rows_are_the_windows():
    x = np.arange(16.0).reshape(4, 4)
    cols = ops.im2col(x, 2, strides=2)
    np.testing.assert_array_equal(cols, [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]])
    with pytest.raises(ValueError, match="im2col expects one image"):
        ops.im2col(np.zeros((1, 4, 4, 1)), 2)


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
    (lambda: ops.conv_params(3, (5, 5, 5, 5), 2), "pair of ints"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


# --------------------------------------------------------------------------- 1-D and 3-D


@pytest.mark.parametrize("length,f,s,padding", [(20, 5, 1, "valid"), (21, 4, 2, "same"),
                                                (16, 3, 3, "valid"), (9, 2, 2, "same")])
def test_conv1d_matches_keras(length, f, s, padding):
    x = RNG.normal(size=(2, length, 3)).astype("float32")
    layer = keras.layers.Conv1D(4, f, strides=s, padding=padding)
    layer.build(x.shape)
    kernel = RNG.normal(size=(f, 3, 4)).astype("float32")
    bias = RNG.normal(size=(4,)).astype("float32")
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(ops.conv1d(x, kernel, bias, strides=s, padding=padding),
                               np.asarray(layer(x)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.conv1d(x[0], kernel, bias, strides=s, padding=padding),
                               np.asarray(layer(x))[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,f,s,padding", [((6, 7, 8), 3, 1, "valid"), ((8, 8, 8), (2, 3, 3), 2, "same"),
                                               ((5, 9, 6), 3, (1, 2, 3), "same")])
def test_conv3d_matches_keras(shape, f, s, padding):
    x = RNG.normal(size=(2, *shape, 2)).astype("float32")
    layer = keras.layers.Conv3D(3, f, strides=s, padding=padding)
    layer.build(x.shape)
    kernel = RNG.normal(size=tuple(layer.kernel.shape)).astype("float32")
    bias = RNG.normal(size=(3,)).astype("float32")
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(ops.conv3d(x, kernel, bias, strides=s, padding=padding),
                               np.asarray(layer(x)), rtol=1e-4, atol=1e-4)


def test_conv_params_for_1d_and_3d_kernels():
    c1 = keras.layers.Conv1D(8, 7)
    c1.build((None, 100, 2))
    c3 = keras.layers.Conv3D(4, (3, 3, 3))
    c3.build((None, 16, 16, 16, 1))
    assert ops.conv_params(2, (7,), 8) == c1.count_params()
    assert ops.conv_params(1, (3, 3, 3), 4) == c3.count_params()


# --------------------------------------------------------------------------- pooling


POOL_CASES = [(h, w, p, s, pad) for (h, w), p, s, pad in itertools.product(
    [(8, 8), (7, 9), (12, 12)], [2, 3], [None, 1, 2, 3], ["valid", "same"])]


@pytest.mark.parametrize("h,w,p,s,padding", POOL_CASES)
def test_max_and_average_pooling_match_keras(h, w, p, s, padding):
    x = RNG.normal(size=(2, h, w, 3)).astype("float32")
    for mode, layer in (("max", keras.layers.MaxPooling2D), ("avg", keras.layers.AveragePooling2D)):
        expected = np.asarray(layer(p, strides=s, padding=padding)(x))
        got = ops.pool2d(x, p, s, padding, mode=mode)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p,s,padding", [(2, None, "valid"), (3, 2, "valid"), (2, 2, "same")])
def test_sum_and_l2_pooling(p, s, padding):
    x = RNG.normal(size=(1, 9, 9, 2)).astype("float32")
    # sum = average x window size (valid windows are full); L2 = sqrt(sum of squares)
    avg = keras.layers.AveragePooling2D(p, strides=s, padding=padding)
    if padding == "valid":
        np.testing.assert_allclose(ops.pool2d(x, p, s, padding, "sum"), np.asarray(avg(x)) * p * p, rtol=1e-5)
        np.testing.assert_allclose(ops.pool2d(x, p, s, padding, "l2"), np.sqrt(np.asarray(avg(x ** 2)) * p * p),
                                   rtol=1e-5)
    first_window = x[0, :p, :p, 0].astype(float)      # no zeros are padded before it
    assert ops.pool2d(x, p, s, padding, "l2")[0, 0, 0, 0] == pytest.approx(
        np.sqrt((first_window ** 2).sum()), rel=1e-6)
    assert ops.pool2d(x, p, s, padding, "sum")[0, 0, 0, 0] == pytest.approx(first_window.sum(), rel=1e-5)


def test_pooling_by_hand():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
    np.testing.assert_array_equal(ops.pool2d(x, 2), [[6, 8], [3, 4]])          # the classic example
    np.testing.assert_array_equal(ops.pool2d(x, 2, mode="avg"), [[3.25, 5.25], [2, 2]])
    np.testing.assert_array_equal(ops.pool2d(x, 2, mode="sum"), [[13, 21], [8, 8]])
    assert ops.pool2d(x, 2, mode="l2")[0, 0] == pytest.approx(np.sqrt(1 + 1 + 25 + 36))


def test_global_pooling_matches_keras():
    x = RNG.normal(size=(3, 5, 6, 4)).astype("float32")
    np.testing.assert_allclose(ops.global_pool2d(x, "avg"),
                               np.asarray(keras.layers.GlobalAveragePooling2D()(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.global_pool2d(x, "max"),
                               np.asarray(keras.layers.GlobalMaxPooling2D()(x)), rtol=1e-6)
    assert ops.global_pool2d(x[0], "max").shape == (4,)


# --------------------------------------------------------------------------- receptive field


def test_receptive_field_of_the_lecture_stack():
    # 3x3 conv, 2x2 pool stride 2, 3x3 conv: 3 -> 4 -> 8 (not 12)
    rf = ops.receptive_field([("conv1", 3, 1), ("pool", 2, 2), ("conv2", 3, 1)])
    assert [(r.size, r.jump) for r in rf] == [(3, 1), (4, 2), (8, 2)]
    assert ops.receptive_field([("a", 3, 1), ("b", 3, 1)])[-1].size == 5
    assert ops.receptive_field([("a", 3, 2), ("b", 3, 1)])[-1].size == 7
    assert ops.receptive_field([("dilated", 3, 1, 2)])[-1].size == 5


def test_layer_geometry_reads_keras_models():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(4, 3, name="c1"), keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(4, 5, strides=2, dilation_rate=1, name="c2"),
        keras.layers.Flatten(), keras.layers.Dense(10),
    ])
    assert ops.layer_geometry(model.layers) == [("c1", 3, 1, 1), ("p1", 2, 2, 1), ("c2", 5, 2, 1)]


def _autodiff_input_receptive_field(model, size):
    import tensorflow as tf

    x = tf.Variable(np.random.default_rng(0).normal(size=(1, size, size, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        out = model(x)
        centre = out.shape[1] // 2
        y = tf.reduce_sum(out[0, centre, centre, :])
    grad = np.abs(tape.gradient(y, x).numpy()[0, :, :, 0]) > 0
    rows, cols = np.nonzero(grad)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
def test_receptive_field_agrees_with_gradients():
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.AveragePooling2D(2), keras.layers.Conv2D(2, 3),
                              keras.layers.Conv2D(1, 3, strides=2)])
    expected = ops.receptive_field(ops.layer_geometry(model.layers))[-1].size
    assert _autodiff_input_receptive_field(model, 32) == (expected, expected) == (12, 12)


# --------------------------------------------------------------------------- backward pass


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
@pytest.mark.parametrize("h,w,f,s,padding", CONV_CASES[::4])
def test_conv2d_backward_matches_autodiff(h, w, f, s, padding):
    import tensorflow as tf

    x = RNG.normal(size=(2, h, w, 3)).astype("float32")
    kernel = RNG.normal(size=(f, f, 3, 4)).astype("float32")
    bias = RNG.normal(size=(4,)).astype("float32")
    g = RNG.normal(size=ops.conv2d(x, kernel, bias, strides=s, padding=padding).shape).astype("float32")
    tx, tk, tb = (tf.Variable(v) for v in (x, kernel, bias))
    with tf.GradientTape() as tape:
        y = keras.ops.conv(tx, tk, strides=s, padding=padding) + tb
        loss = tf.reduce_sum(y * g)
    dx, dk, db = (t.numpy() for t in tape.gradient(loss, [tx, tk, tb]))
    gx, gk, gb = ops.conv2d_backward(x, kernel, g, strides=s, padding=padding)
    np.testing.assert_allclose(gx, dx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gk, dk, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gb, db, rtol=1e-4, atol=1e-3)


def test_stride_one_input_gradient_is_full_convolution_with_flipped_kernel():
    x = RNG.normal(size=(7, 6, 2))
    kernel = RNG.normal(size=(3, 3, 2, 4))
    g = RNG.normal(size=(5, 4, 4))
    gx, _, _ = ops.conv2d_backward(x, kernel, g)
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)            # (3, 3, 4 out-grads, 2 inputs)
    np.testing.assert_allclose(ops.conv2d(g, flipped, padding=2), gx, atol=1e-10)


@pytest.mark.parametrize("h,w,f,s,padding", [(4, 5, 3, 1, "valid"), (4, 4, 3, 2, "valid"), (5, 3, 4, 2, "same"),
                                             (3, 3, 2, 3, "same"), (6, 6, 5, 2, "same"), (3, 4, 3, 3, "valid")])
def test_conv2d_transpose_matches_keras(h, w, f, s, padding):
    x = RNG.normal(size=(2, h, w, 3)).astype("float32")
    layer = keras.layers.Conv2DTranspose(5, f, strides=s, padding=padding)
    layer.build(x.shape)
    kernel = RNG.normal(size=(f, f, 5, 3)).astype("float32")
    bias = RNG.normal(size=(5,)).astype("float32")
    layer.set_weights([kernel, bias])
    expected = np.asarray(layer(x))
    got = ops.conv2d_transpose(x, kernel, bias, strides=s, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_transpose_is_the_input_gradient():
    x = RNG.normal(size=(1, 9, 9, 2))
    kernel = RNG.normal(size=(3, 3, 2, 4))
    g = RNG.normal(size=(1, 4, 4, 4))                       # output of a stride-2 valid conv on 9x9
    gx, _, _ = ops.conv2d_backward(x, kernel, g, strides=2)
    np.testing.assert_allclose(ops.conv2d_transpose(g, kernel, strides=2), gx, atol=1e-10)


@pytest.mark.parametrize("call,message", [
    (lambda: ops.pool2d(np.zeros((4, 4)), 2, mode="median"), "pooling mode must be one of"),
    (lambda: ops.pool2d(np.zeros((4, 4)), 5), "does not fit"),
    (lambda: ops.pool2d(np.zeros((4, 4)), 2, padding=1), "padding must be 'valid' or 'same'"),
    (lambda: ops.global_pool2d(np.zeros((4, 4))), "expects (H, W, C)"),
    (lambda: ops.conv1d(np.zeros((10, 2)), np.zeros((3, 3, 4))), "2 channel(s) but the kernel expects 3"),
    (lambda: ops.conv1d(np.zeros((10, 2)), np.zeros((3, 2))), "kernel must be"),
    (lambda: ops.conv3d(np.zeros((4, 4, 4)), np.zeros((2, 2, 2, 4, 1))), "expects one sample (D, H, W, channels)"),
    (lambda: ops.conv2d_backward(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), np.zeros((3, 3, 1))),
     "grad_output must have the shape"),
    (lambda: ops.conv2d_transpose(np.zeros((3, 3, 2)), np.zeros((3, 3, 4, 1))), "kernel expects 1"),
    (lambda: ops.receptive_field([("conv", 3)]), "(name, kernel, stride"),
])
def test_more_bad_input(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize("h,f,s,padding", [(3, 2, 3, "valid"), (4, 1, 2, "valid"), (2, 2, 4, "same"),
                                           (5, 7, 2, "same"), (5, 7, 2, "valid")])
def test_conv2d_transpose_kernel_smaller_or_larger_than_stride(h, f, s, padding):
    x = RNG.normal(size=(1, h, h, 2)).astype("float32")
    layer = keras.layers.Conv2DTranspose(3, f, strides=s, padding=padding, use_bias=False)
    layer.build(x.shape)
    kernel = RNG.normal(size=(f, f, 3, 2)).astype("float32")
    layer.set_weights([kernel])
    expected = np.asarray(layer(x))
    got = ops.conv2d_transpose(x, kernel, strides=s, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h,f,s,padding,op", [(h, f, s, pad, op) for h in (3, 4) for f in (1, 2, 3, 4)
                                              for s in (2, 3) for pad in ("valid", "same")
                                              for op in range(s)])
def test_conv2d_transpose_output_padding_matches_keras(h, f, s, padding, op):
    x = RNG.normal(size=(1, h, h + 1, 2)).astype("float32")
    layer = keras.layers.Conv2DTranspose(3, f, strides=s, padding=padding, output_padding=op,
                                         use_bias=False)
    layer.build(x.shape)
    kernel = np.asarray(layer.kernel)
    try:
        got = ops.conv2d_transpose(x, kernel, strides=s, padding=padding, output_padding=op)
    except ValueError as refused:
        # ops refuses an output size from which no convolution with these settings leads
        # back to the input. TensorFlow fails on those too; JAX returns an array, of a size
        # that such a convolution indeed does not map back to the input.
        assert "no convolution has this as its transpose" in str(refused)
        if keras.backend.backend() == "tensorflow":
            with pytest.raises(Exception):
                layer(x)
        else:
            out_h, out_w = layer(x).shape[1:3]
            assert (ops.conv_output_size(out_h, f, s, padding),
                    ops.conv_output_size(out_w, f, s, padding)) != (h, h + 1)
        return
    expected = np.asarray(layer(x))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    forward_input = np.zeros((1,) + got.shape[1:3] + (kernel.shape[2],))
    by_definition, _, _ = ops.conv2d_backward(forward_input, kernel, x, strides=s, padding=padding)
    np.testing.assert_allclose(got, by_definition, rtol=1e-4, atol=1e-4)


def test_output_padding_must_be_smaller_than_stride():
    with pytest.raises(ValueError, match="smaller than the strides"):
        ops.conv2d_transpose(np.zeros((3, 3, 1)), np.zeros((3, 3, 1, 1)), strides=2, output_padding=2)
