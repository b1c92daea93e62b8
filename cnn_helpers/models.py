"""The architectures the lectures discuss, and the book's own, as Keras 3 builders.

Each builder returns a fresh, uncompiled model for 28x28x1 MNIST digits, laid out exactly
as its lecture document does (so ``model.summary()`` matches the document's figures), with
the modern API: ``keras.Input`` first, ``keras.layers.Conv2D`` and so on.

:data:`MNIST_RECIPES` holds how each document *trains* its model (optimizer, batch size,
epochs, whether the pixels are scaled, which data it validates on, what it reports), so
that chapter 7 and ``benchmarks/time_to_accuracy.py`` train the same recipes.

Introduced in chapter 7 (MNIST, end to end); chapter 5 builds LeNet by hand first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
from keras import layers

from cnn_helpers.augment import RandomShift

__all__ = [
    "MNIST_RECIPES",
    "Recipe",
    "book_chapter_one_block",
    "book_chapter_two_blocks",
    "lecture_notes_mnist",
    "lenet",
    "mnist_best",
    "softmax_regression",
    "tutorial_convnet",
]

MNIST_SHAPE = (28, 28, 1)


def softmax_regression(name: str = "softmax_regression") -> keras.Model:
    """The slide deck's baseline (``001_73c0d1273ab449eb.txt``): ``softmax(W x + b)`` on the
    784 pixels. 7,850 parameters."""
    return keras.Sequential([keras.Input(shape=MNIST_SHAPE), layers.Flatten(),
                             layers.Dense(10, activation="softmax")], name=name)


def book_chapter_one_block(name: str = "book_chapter_one_block") -> keras.Model:
    """The book chapter's first network (``002_b7fd399e9140e221.txt``): 32 filters of 5x5
    and 2x2 max pooling; 832 parameters. No classifier: the chapter shows it for its shapes."""
    return keras.Sequential([keras.Input(shape=MNIST_SHAPE),
                             layers.Conv2D(32, (5, 5), activation="relu"),
                             layers.MaxPooling2D((2, 2))], name=name)


def book_chapter_two_blocks(name: str = "book_chapter_two_blocks") -> keras.Model:
    """The book chapter's classifier (``002_b7fd399e9140e221.txt``): two 5x5 conv + pool
    blocks (32 and 64 filters) and a softmax layer; 832 + 51,264 + 10,250 = 62,346."""
    return keras.Sequential([
        keras.Input(shape=MNIST_SHAPE),
        layers.Conv2D(32, (5, 5), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (5, 5), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def tutorial_convnet(name: str = "tutorial_convnet") -> keras.Model:
    """The Keras tutorial's ConvNet (``000_2a4dcc60907c12fc.txt``): two 3x3 conv + 2x2 pool
    blocks (32 and 64 filters), Dense(64), Dense(10); 121,930 parameters."""
    return keras.Sequential([
        keras.Input(shape=MNIST_SHAPE),
        layers.Conv2D(32, (3, 3), strides=(1, 1), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), strides=(1, 1), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def lecture_notes_mnist(name: str = "lecture_notes_mnist") -> keras.Model:
    """The lecture notes' network (``003_a3ea8e62b8836153.txt``), with its separate
    ``Activation`` layers: conv 3x3 (32), conv 3x3 (32), 2x2 pool, Dense(64), Dense(10);
    320 + 9,248 + 294,976 + 650 = 305,194 parameters."""
    return keras.Sequential([
        keras.Input(shape=MNIST_SHAPE),
        layers.Conv2D(filters=32, kernel_size=(3, 3)),
        layers.Activation("relu"),
        layers.Conv2D(filters=32, kernel_size=(3, 3)),
        layers.Activation("relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(64),
        layers.Activation("relu"),
        layers.Dense(10),
        layers.Activation("softmax"),
    ], name=name)


def lenet(name: str = "lenet") -> keras.Model:
    """LeNet as the ESIB slides build it (``004_a26f83427e620ceb.txt``): 20 then 50 filters
    of 5x5 with "same" padding and ReLU, each followed by 2x2 max pooling with stride 2,
    then Dense(500) and a softmax layer; 1,256,080 parameters."""
    return keras.Sequential([
        keras.Input(shape=MNIST_SHAPE),
        layers.Conv2D(20, kernel_size=5, padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)),
        layers.Conv2D(50, kernel_size=5, padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)),
        layers.Flatten(),
        layers.Dense(500, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def _conv_bn_relu(filters: int, bn_momentum: float) -> list[keras.layers.Layer]:
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=bn_momentum),
            layers.Activation("relu")]


def mnist_best(width: int = 32, max_shift: int = 2, dropout: float = 0.2,
               bn_momentum: float = 0.9, name: str = "mnist_best") -> keras.Model:
    """The book's MNIST network (chapter 7): only ideas the book teaches.

    Random shifts of up to ``max_shift`` pixels (augmentation, chapter 6, active only in
    training); three stages of 3x3 convolutions with batch normalization and ReLU
    (``width``, ``2 * width``, ``4 * width`` filters), 2x2 max pooling between stages;
    global average pooling (chapter 3) instead of a large dense layer; dropout; softmax.
    With ``width=32``: 141,098 parameters (about a ninth of LeNet's).

    ``bn_momentum`` is 0.9 rather than Keras' 0.99: the moving averages that batch
    normalization uses at inference then follow the weights within a few dozen steps, so
    the network is already accurate at test time after its first epoch of a short run.
    """
    return keras.Sequential([
        keras.Input(shape=MNIST_SHAPE),
        RandomShift(max_shift, name="random_shift"),
        *_conv_bn_relu(width, bn_momentum), *_conv_bn_relu(width, bn_momentum),
        layers.MaxPooling2D(2),
        *_conv_bn_relu(2 * width, bn_momentum), *_conv_bn_relu(2 * width, bn_momentum),
        layers.MaxPooling2D(2),
        *_conv_bn_relu(4 * width, bn_momentum),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(dropout),
        layers.Dense(10, activation="softmax"),
    ], name=name)


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """How a lecture document (or the book) trains its MNIST model.

    Attributes:
        name: short key.
        source: the document, by file name (or "the book").
        build: the model builder.
        optimizer: a function returning a fresh optimizer, given the number of training
            steps per epoch and of epochs (a learning-rate schedule spans the whole run).
        batch_size, epochs: as in the document.
        scale: divide pixels by 255 (the lecture notes do not).
        validation: how the document validates: ``"test"`` (``validation_data`` = the test
            set), a fraction for ``validation_split``, or ``None``.
        label_smoothing: for the loss (0 = plain cross-entropy).
        reported: what the document reports, quoted.
    """

    name: str
    source: str
    build: Callable[[], keras.Model]
    optimizer: Callable[[int, int], Any]
    batch_size: int
    epochs: int
    scale: bool = True
    validation: str | float | None = None
    label_smoothing: float = 0.0
    reported: str = ""


def _best_optimizer(steps_per_epoch: int, epochs: int, peak: float = 3e-3) -> Any:
    """AdamW with a linear warm-up over half an epoch, then a cosine decay to zero
    (chapter 7)."""
    total = steps_per_epoch * epochs
    warmup = max(1, min(steps_per_epoch // 2, total // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10, decay_steps=total - warmup, alpha=0.0,
        warmup_target=peak, warmup_steps=warmup)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4)


MNIST_RECIPES: dict[str, Recipe] = {
    "tutorial": Recipe(
        "tutorial", "000_2a4dcc60907c12fc.txt", tutorial_convnet,
        lambda steps, epochs: keras.optimizers.RMSprop(), batch_size=64, epochs=4,
        validation="test", reported="around 99% on the validation (= test) set after 4 epochs"),
    "book_chapter": Recipe(
        "book_chapter", "002_b7fd399e9140e221.txt", book_chapter_two_blocks,
        lambda steps, epochs: keras.optimizers.SGD(), batch_size=100, epochs=5,
        reported="Test accuracy: 0.9704"),
    "lecture_notes": Recipe(
        "lecture_notes", "003_a3ea8e62b8836153.txt", lecture_notes_mnist,
        lambda steps, epochs: keras.optimizers.Adadelta(), batch_size=100, epochs=5, scale=False,
        validation=0.1, reported="Test accuracy: 0.6704999804496765"),
    "lenet": Recipe(
        "lenet", "004_a26f83427e620ceb.txt", lenet,
        lambda steps, epochs: keras.optimizers.Adam(), batch_size=128, epochs=20, validation=0.2,
        reported="Test accuracy: 0.9921 (after 20 epochs)"),
    "book": Recipe(
        "book", "the book (chapter 7)", mnist_best, _best_optimizer, batch_size=128,
        epochs=12, label_smoothing=0.1,
        reported="chapter 7 (at least 99.5% is the target)"),
}
