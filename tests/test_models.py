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
