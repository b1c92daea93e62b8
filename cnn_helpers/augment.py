"""Data augmentation layers that compile, on every Keras backend.

Keras' own ``RandomTranslation``, ``RandomRotation``, ``RandomZoom`` and ``RandomCrop`` cannot
be compiled: one of them inside a model switches XLA / jit off for the whole training
step, which makes training several times slower on the JAX backend. The layers here are
written with ``keras.ops`` only, so they compile wherever the model does:

- :class:`RandomShift` moves every image by its own random whole number of pixels (what
  "pad and random-crop" does), as two matrix products with one-hot selection matrices;
- :class:`RandomFlip` mirrors a random half of the images left-right.

Both act only when ``training=True`` (in ``fit``), and pass images through unchanged in
``predict`` and ``evaluate``. Chapter 6 explains augmentation; chapters 7 and 8 and the
benchmarks use these layers.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["RandomFlip", "RandomShift"]


@keras.saving.register_keras_serializable(package="cnn_helpers")
class RandomShift(keras.layers.Layer):
    """Shift each image by up to ``max_shift`` pixels along each axis; vacated pixels are 0.

    The shifts are independent per image and per axis, uniform on
    ``-max_shift .. max_shift``. Equivalent to zero-padding by ``max_shift`` and taking a
    random crop of the original size.
    """

    def __init__(self, max_shift: int = 2, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
        self.max_shift = max_shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def _selection(self, batch: Any, size: int) -> Any:
        # Row i of output image b reads padded row i + offset[b]: a one-hot (B, size, size + 2m).
        m = self.max_shift
        offsets = keras.random.randint((batch, 1), 0, 2 * m + 1, seed=self.seed_generator)
        rows = offsets + ops.arange(size)[None, :]
        return ops.one_hot(rows, size + 2 * m, dtype=self.compute_dtype)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training or self.max_shift == 0:
            return images
        m = self.max_shift
        shape = ops.shape(images)
        batch, height, width = shape[0], images.shape[1], images.shape[2]
        padded = ops.pad(images, [[0, 0], [m, m], [m, m], [0, 0]])
        select_rows = self._selection(batch, height)          # (B, H, H + 2m)
        select_cols = self._selection(batch, width)           # (B, W, W + 2m)
        rows = ops.einsum("bij,bjkc->bikc", select_rows, padded)
        return ops.einsum("bikc,blk->bilc", rows, select_cols)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_shift": self.max_shift, "seed": self.seed}


@keras.saving.register_keras_serializable(package="cnn_helpers")
class RandomFlip(keras.layers.Layer):
    """Mirror each image left-right with probability 1/2 (independently per image)."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training:
            return images
        batch = ops.shape(images)[0]
        coin = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < 0.5
        return ops.where(coin, ops.flip(images, axis=2), images)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
