"""Model builders: the lecture documents' parameter counts and shapes; augmentation layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnn_helpers import augment, models


@pytest.mark.parametrize("builder,total,last_shape", [
    (models.softmax_regression, 7_850, (None, 10)),
    (models.book_chapter_one_block, 832, (None, 12, 12, 32)),
    (models.book_chapter_two_blocks, 62_346, (None, 10)),
    (models.tutorial_convnet, 121_930, (None, 10)),
    (models.lecture_notes_mnist, 305_194, (None, 10)),
    (models.lenet, 1_256_080, (None, 10)),
    (models.mnist_best, 141_098, (None, 10)),
])
def test_builders_match_the_documents(builder, total, last_shape):
    model = builder()
    assert model.count_params() == total
    assert model.output_shape == last_shape
    assert model.input_shape == (None, 28, 28, 1)


def test_per_layer_counts_of_the_seed_figures():
    counts = [layer.count_params() for layer in models.book_chapter_two_blocks().layers]
    assert counts == [832, 0, 51_264, 0, 0, 10_250]
    counts = [layer.count_params() for layer in models.lecture_notes_mnist().layers if layer.count_params()]
    assert counts == [320, 9_248, 294_976, 650]


def test_recipes_build_and_compile():
    for recipe in models.MNIST_RECIPES.values():
        model = recipe.build()
        model.compile(optimizer=recipe.optimizer(10, recipe.epochs), loss="categorical_crossentropy")
        assert recipe.source and recipe.batch_size > 0 and recipe.epochs > 0
    assert models.MNIST_RECIPES["lecture_notes"].scale is False


def test_random_shift_moves_whole_images_and_only_in_training():
    layer = augment.RandomShift(2, seed=1)
    x = np.zeros((64, 8, 8, 1), "float32")
    x[:, 3, 4, 0] = 1.0                                    # one bright pixel per image
    y = np.asarray(layer(x, training=True))
    assert y.shape == x.shape
    rows, cols = np.nonzero(y[..., 0].sum(axis=0))          # where the pixel went, over the batch
    assert set(rows) <= set(range(1, 6)) and set(cols) <= set(range(2, 7))
    assert len(set(zip(rows, cols))) > 10                   # shifts differ between images
    np.testing.assert_allclose(y.reshape(64, -1).sum(axis=1), 1.0)   # moved, not blurred
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_random_shift_drops_what_leaves_the_frame():
    x = np.ones((32, 5, 5, 2), "float32")
    y = np.asarray(augment.RandomShift(1, seed=0)(x, training=True))
    assert y.min() == 0.0 and y.max() == 1.0                # zeros came in at the borders


def test_random_flip_mirrors_about_half():
    x = np.arange(3 * 4, dtype="float32").reshape(1, 3, 4, 1).repeat(200, axis=0)
    y = np.asarray(augment.RandomFlip(seed=3)(x, training=True))
    flipped = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    same = np.all(y == x, axis=(1, 2, 3))
    assert np.all(flipped | same) and 60 < flipped.sum() < 140


def test_augmentation_layers_compile_and_serialize():
    model = keras.Sequential([keras.Input((8, 8, 1)), augment.RandomShift(1), augment.RandomFlip(),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.fit(np.zeros((16, 8, 8, 1)), np.zeros((16, 2)), epochs=1, verbose=0)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert [type(layer).__name__ for layer in clone.layers][:2] == ["RandomShift", "RandomFlip"]


def test_bad_shift():
    with pytest.raises(ValueError, match="max_shift must be an integer"):
        augment.RandomShift(-1)


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("builder,total", [
    (models.slides_cifar_simple, 4_200_842),
    (models.slides_cifar_deeper, 2_168_362),
    (models.lecture_notes_cifar, 293_930),
    (models.cifar_resnet, 6_577_600),
])
def test_cifar_builders(builder, total):
    model = builder()
    assert model.count_params() == total
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)


def test_lecture_notes_cifar_third_block_is_unpadded():
    model = models.lecture_notes_cifar()
    shapes = [layer.output.shape[1] for layer in model.layers
              if isinstance(layer, keras.layers.MaxPooling2D)]
    assert shapes == [16, 8, 2]
    assert model.layers[-1].kernel.shape == (512, 10)


def test_cifar_recipes_build_and_compile():
    for name, recipe in models.CIFAR10_RECIPES.items():
        model = recipe.build()
        assert model.output_shape == (None, 10), name
        model.compile(optimizer=recipe.optimizer(10, recipe.epochs), loss="categorical_crossentropy")
    assert models.CIFAR10_RECIPES["lecture_notes"].standardize
    assert models.CIFAR10_RECIPES["lecture_notes"].validation == "test"
    book = models.CIFAR10_RECIPES["book"]
    assert book.test_time_flip and book.mixed_precision and book.label_smoothing == 0.2


def test_with_augmentation_keeps_the_model_and_its_count():
    inner = models.lecture_notes_cifar()
    model = models.with_augmentation(inner, augment.RandomAffine(rotation=10))
    assert model.count_params() == inner.count_params()
    assert [type(layer).__name__ for layer in model.layers] == ["RandomAffine", "Sequential"]
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(inner(x, training=False)),
                               atol=1e-6)


def test_residual_block_is_identity_when_its_kernels_are_zero():
    inputs = keras.Input((6, 6, 4))
    block = keras.Model(inputs, models.residual_block(inputs, 4))
    assert any(isinstance(layer, keras.layers.Add) for layer in block.layers)
    assert block.count_params() == 2 * (9 * 4 * 4) + 2 * 4 * 4
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 4)).astype("float32")
    assert not np.allclose(np.asarray(block(x, training=False)), x)
    for layer in block.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    np.testing.assert_allclose(np.asarray(block(x, training=False)), x, atol=1e-6)


def test_residual_block_refuses_a_channel_mismatch():
    with pytest.raises(ValueError, match="3 channels but the block makes 8"):
        models.residual_block(keras.Input((6, 6, 3)), 8)


def test_resnet_without_augmentation_and_its_schedule():
    plain = models.cifar_resnet(width=8, max_shift=0, flip=False)
    assert not any(isinstance(layer, (augment.RandomShift, augment.RandomFlip)) for layer in plain.layers)
    schedule = models.warmup_cosine(10, 5, peak=0.4)
    rates = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 10, 25, 50)]
    assert rates[0] == pytest.approx(0.04) and rates[1] == pytest.approx(0.4)
    assert rates[1] > rates[2] > rates[3] >= 0 and rates[3] == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------- RandomAffine


def _probe(seed=0, shape=(2, 5, 5, 3)):
    return np.random.default_rng(seed).random(shape).astype("float32")


def test_random_affine_exact_transforms():
    x = _probe()
    layer = augment.RandomAffine(rotation=90)
    np.testing.assert_allclose(np.asarray(layer.transform(x)), x)
    quarter = np.asarray(layer.transform(x, angle=np.pi / 2))
    np.testing.assert_allclose(quarter, np.rot90(x, k=-1, axes=(1, 2)), atol=1e-5)
    half = np.asarray(layer.transform(x, angle=np.pi))
    np.testing.assert_allclose(half, x[:, ::-1, ::-1], atol=1e-5)
    moved = np.asarray(layer.transform(x, shift=(1.0, 0.0)))
    np.testing.assert_allclose(moved[:, :-1], x[:, 1:], atol=1e-6)
    np.testing.assert_allclose(moved[:, -1], x[:, -1], atol=1e-6)   # nearest: the edge repeats


def test_random_affine_bilinear_and_constant_fill():
    x = _probe(1)
    half_pixel = np.asarray(augment.RandomAffine(shift=0.5).transform(x, shift=(0.0, 0.5)))
    np.testing.assert_allclose(half_pixel[:, :, :-1], (x[:, :, :-1] + x[:, :, 1:]) / 2, atol=1e-6)
    constant = augment.RandomAffine(shift=0.5, fill_mode="constant")
    out = np.asarray(constant.transform(x, shift=(0.0, 1.0)))
    np.testing.assert_allclose(out[:, :, :-1], x[:, :, 1:], atol=1e-6)
    np.testing.assert_allclose(out[:, :, -1], 0.0, atol=1e-6)
    zoomed = np.asarray(constant.transform(x, zoom=(2.0, 2.0)))       # shows a larger scene
    assert np.allclose(zoomed[:, 0, 0], 0.0) and np.allclose(zoomed[:, 2, 2], x[:, 2, 2])


def test_random_affine_only_in_training_and_per_image():
    x = np.repeat(_probe(2, (1, 8, 8, 3)), 16, axis=0)
    layer = augment.RandomAffine(rotation=30, shift=0.1, zoom=0.1, horizontal_flip=True, seed=0)
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    y = np.asarray(layer(x, training=True))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert len({arr.tobytes() for arr in y}) == 16                       # each image its own
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6      # nearest + bilinear


def test_random_affine_compiles_and_serializes():
    model = keras.Sequential([keras.Input((8, 8, 3)), augment.RandomAffine(20, 0.1, 0.1, True),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    assert all(layer.supports_jit for layer in model.layers)
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.fit(np.zeros((8, 8, 8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert clone.layers[0].get_config()["rotation"] == 20.0


@pytest.mark.parametrize("kwargs,message", [
    ({"rotation": -1}, "rotation must be a number from 0 to 180"),
    ({"shift": 2}, "shift must be a number from 0 to 1"),
    ({"zoom": 1.0}, "zoom must be below 1"),
    ({"rotation": True}, "rotation must be a number"),
    ({"fill_mode": "reflect"}, "fill_mode must be one of"),
])
def test_random_affine_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment.RandomAffine(**kwargs)


def test_random_affine_refuses_a_single_image():
    with pytest.raises(ValueError, match="expects a batch of images"):
        augment.RandomAffine(rotation=10)(np.zeros((5, 5, 3), "float32"), training=True)


def test_recipes_name_their_documents_as_the_book_cites_them():
    assert models.MNIST_RECIPES["lenet"].document == "the ESIB slides"
    assert models.CIFAR10_RECIPES["lecture_notes"].document == "the lecture notes"
    assert models.document_title("the book (chapter 7)") == "the book (chapter 7)"
    assert sorted(models.DOCUMENTS.values()) == ["the CNN slides", "the ESIB slides",
                                                 "the Keras tutorial", "the book chapter",
                                                 "the lecture notes"]
