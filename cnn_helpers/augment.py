"""Data augmentation layers that compile, on every Keras backend.

Keras' own ``RandomTranslation``, ``RandomRotation``, ``RandomZoom`` and ``RandomCrop`` cannot
be compiled: one of them inside a model switches XLA / jit off for the whole training
step, which makes training several times slower on the JAX backend. The layers here are
written with ``keras.ops`` only, so they compile wherever the model does:

- :class:`RandomShift` moves every image by its own random whole number of pixels (what
  "pad and random-crop" does), as two matrix products with one-hot selection matrices;
- :class:`RandomFlip` mirrors a random half of the images left-right;
- :class:`RandomAffine` does what ``ImageDataGenerator``'s ``rotation_range``,
  ``width_shift_range`` / ``height_shift_range``, ``zoom_range`` and ``horizontal_flip``
  did, with bilinear interpolation written as four gathers.

All act only when ``training=True`` (in ``fit``), and pass images through unchanged in
``predict`` and ``evaluate``. Chapter 6 explains augmentation; chapters 7 and 8 and the
benchmarks use these layers.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

__all__ = ["RandomAffine", "RandomFlip", "RandomShift"]


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


_FILL_MODES = ("nearest", "constant")


@keras.saving.register_keras_serializable(package="cnn_helpers")
class RandomAffine(keras.layers.Layer):
    """Random rotation, shift, zoom and left-right flip of each image, in one compiled step.

    The arguments mean what they meant to Keras 2's ``ImageDataGenerator``:

    - ``rotation``: degrees; each image turns by an angle drawn uniformly from
      ``[-rotation, rotation]`` about its centre;
    - ``shift``: a fraction of the height and of the width; each image moves by up to that
      much along each axis (``width_shift_range`` / ``height_shift_range``);
    - ``zoom``: the two scale factors are drawn independently from ``[1 - zoom, 1 + zoom]``
      (above 1 shows more of the scene, so the content looks smaller);
    - ``horizontal_flip``: mirror a random half of the images;
    - ``fill_mode``: what the pixels that come from outside the image get: ``"nearest"``
      (the closest edge pixel, ``ImageDataGenerator``'s default) or ``"constant"`` (0).

    Every output pixel reads its source position through one 2x2 matrix and an offset per
    image, and interpolates bilinearly between the four pixels around it (gathers, not
    ``ImageProjectiveTransform``), so the layer compiles with XLA and jit like any other.
    It acts only in training; ``predict`` and ``evaluate`` see the images unchanged.
    """

    def __init__(self, rotation: float = 0.0, shift: float = 0.0, zoom: float = 0.0,
                 horizontal_flip: bool = False, fill_mode: str = "nearest",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value, upper in (("rotation", rotation, 180.0), ("shift", shift, 1.0),
                                   ("zoom", zoom, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= upper:
                raise ValueError(f"{name} must be a number from 0 to {upper:g}, got {value!r}")
        if zoom >= 1:
            raise ValueError(f"zoom must be below 1 (a scale factor of 1 - zoom > 0), got {zoom}")
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
        self.rotation = float(rotation)
        self.shift = float(shift)
        self.zoom = float(zoom)
        self.horizontal_flip = bool(horizontal_flip)
        self.fill_mode = fill_mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch: Any, half_width: float) -> Any:
        return keras.random.uniform((batch, 1), -half_width, half_width,
                                    seed=self.seed_generator)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training or not (self.rotation or self.shift or self.zoom or self.horizontal_flip):
            return images
        if len(images.shape) != 4:
            raise ValueError(f"RandomAffine expects a batch of images (batch, height, width, "
                             f"channels), got shape {images.shape}")
        batch = ops.shape(images)[0]
        out = self.transform(
            images,
            angle=self._uniform(batch, self.rotation * math.pi / 180.0),
            zoom=(1.0 + self._uniform(batch, self.zoom), 1.0 + self._uniform(batch, self.zoom)),
            shift=(self._uniform(batch, self.shift * images.shape[1]),
                   self._uniform(batch, self.shift * images.shape[2])))
        if self.horizontal_flip:
            coin = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < 0.5
            out = ops.where(coin, ops.flip(out, axis=2), out)
        return out

    def transform(self, images: Any, angle: Any = 0.0, zoom: tuple[Any, Any] = (1.0, 1.0),
                  shift: tuple[Any, Any] = (0.0, 0.0)) -> Any:
        """Apply one given transform per image (no randomness, no flip).

        ``angle`` in radians (positive turns the picture clockwise as displayed), ``zoom`` as (vertical,
        horizontal) factors, ``shift`` in pixels as (down, right) moves of the *sampling
        grid*; each a number or an array of shape ``(batch, 1)``. ``call`` draws them at
        random; tests and chapter 8 call this directly to show one exact transform.
        """
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        batch = ops.shape(images)[0]
        dtype = "float32"
        x = ops.cast(images, dtype)
        zoom_y, zoom_x = zoom
        ty, tx = shift
        # Source position (sy, sx) of output pixel (i, j), about the image centre (cy, cx):
        # [sy, sx] = R(angle) diag(zoom_y, zoom_x) [i - cy, j - cx] + [cy + ty, cx + tx]
        cos, sin = ops.cos(angle), ops.sin(angle)
        cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
        rows = ops.repeat(ops.arange(height, dtype=dtype), width) - cy      # (H*W,)
        cols = ops.tile(ops.arange(width, dtype=dtype), height) - cx
        rows, cols = rows[None, :], cols[None, :]                           # (1, H*W)
        src_y = cos * zoom_y * rows - sin * zoom_x * cols + cy + ty         # (B, H*W)
        src_x = sin * zoom_y * rows + cos * zoom_x * cols + cx + tx
        if self.fill_mode == "constant":   # a border of zeros; positions beyond it read it
            x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
            src_y, src_x = src_y + 1.0, src_x + 1.0
        padded_h, padded_w = x.shape[1], x.shape[2]
        src_y = ops.clip(src_y, 0.0, padded_h - 1.0)
        src_x = ops.clip(src_x, 0.0, padded_w - 1.0)
        y0, x0 = ops.floor(src_y), ops.floor(src_x)
        wy, wx = (src_y - y0)[..., None], (src_x - x0)[..., None]           # (B, H*W, 1)
        y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
        y1 = ops.minimum(y0 + 1, padded_h - 1)
        x1 = ops.minimum(x0 + 1, padded_w - 1)
        flat = ops.reshape(x, (batch, padded_h * padded_w, channels))

        def pixel(yy: Any, xx: Any) -> Any:
            index = ops.broadcast_to((yy * padded_w + xx)[..., None],
                                     (batch, height * width, channels))
            return ops.take_along_axis(flat, index, axis=1)

        top = pixel(y0, x0) * (1 - wx) + pixel(y0, x1) * wx
        bottom = pixel(y1, x0) * (1 - wx) + pixel(y1, x1) * wx
        out = ops.reshape(top * (1 - wy) + bottom * wy, (batch, height, width, channels))
        return ops.cast(out, images.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift,
                "zoom": self.zoom, "horizontal_flip": self.horizontal_flip,
                "fill_mode": self.fill_mode, "seed": self.seed}
