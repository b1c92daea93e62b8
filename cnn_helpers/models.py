"""The architectures the lectures discuss, and the book's own, as Keras 3 builders.

Each builder returns a fresh, uncompiled model (28x28x1 MNIST digits or 32x32x3 CIFAR-10
images), laid out exactly as its lecture document does (so ``model.summary()`` matches the
document's figures), with the modern API: ``keras.Input`` first, ``keras.layers.Conv2D``
and so on.

:data:`MNIST_RECIPES` and :data:`CIFAR10_RECIPES` hold how each document *trains* its
model (optimizer, batch size, epochs, preprocessing, augmentation, which data it validates
on, what it reports), so that chapters 7 and 8 and ``benchmarks/time_to_accuracy.py``
train the same recipes.

Introduced in chapter 7 (MNIST, end to end); chapter 5 builds LeNet by hand first;
chapter 8 adds the CIFAR-10 models and the residual block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
from keras import layers

from cnn_helpers.augment import RandomAffine, RandomFlip, RandomShift

__all__ = [
    "CIFAR10_RECIPES",
    "DOCUMENTS",
    "MNIST_RECIPES",
    "Recipe",
    "book_chapter_one_block",
    "book_chapter_two_blocks",
    "cifar_resnet",
    "document_title",
    "lecture_notes_cifar",
    "lecture_notes_mnist",
    "lenet",
    "mnist_best",
    "residual_block",
    "slides_cifar_deeper",
    "slides_cifar_simple",
    "softmax_regression",
    "tutorial_convnet",
    "warmup_cosine",
    "with_augmentation",
]

MNIST_SHAPE = (28, 28, 1)
CIFAR_SHAPE = (32, 32, 3)


def softmax_regression(name: str = "softmax_regression") -> keras.Model:
    """The slide deck's baseline: ``softmax(W x + b)`` on the
    784 pixels. 7,850 parameters."""
    return keras.Sequential([keras.Input(shape=MNIST_SHAPE), layers.Flatten(),
                             layers.Dense(10, activation="softmax")], name=name)


def book_chapter_one_block(name: str = "book_chapter_one_block") -> keras.Model:
    """The book chapter's first network: 32 filters of 5x5
    and 2x2 max pooling; 832 parameters. No classifier: the chapter shows it for its shapes."""
    return keras.Sequential([keras.Input(shape=MNIST_SHAPE),
                             layers.Conv2D(32, (5, 5), activation="relu"),
                             layers.MaxPooling2D((2, 2))], name=name)


def book_chapter_two_blocks(name: str = "book_chapter_two_blocks") -> keras.Model:
    """The book chapter's classifier: two 5x5 conv + pool
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
    """The Keras tutorial's ConvNet: two 3x3 conv + 2x2 pool
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
    """The lecture notes' network, with its separate
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
    """LeNet as the ESIB slides build it: 20 then 50 filters
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

# The lecture documents by file name, and the short names the book cites them by (its
# "The source documents" page describes each).
DOCUMENTS = {
    "000_2a4dcc60907c12fc.txt": "the Keras tutorial",
    "001_73c0d1273ab449eb.txt": "the CNN slides",
    "002_b7fd399e9140e221.txt": "the book chapter",
    "003_a3ea8e62b8836153.txt": "the lecture notes",
    "004_a26f83427e620ceb.txt": "the ESIB slides",
}


def document_title(source: str) -> str:
    """The short name of a recipe's source (a document's file name), for a reader."""
    return DOCUMENTS.get(source, source)


@dataclass(frozen=True)
class Recipe:
    """How a lecture document (or the book) trains its model.

    Attributes:
        name: short key.
        source: the document, by file name (or "the book"); :attr:`document` gives
            the name a reader knows it by.
        build: the model builder.
        optimizer: a function returning a fresh optimizer, given the number of training
            steps per epoch and of epochs (a learning-rate schedule spans the whole run).
        batch_size, epochs: as in the document.
        scale: divide pixels by 255 (the MNIST lecture notes do not).
        validation: how the document validates: ``"test"`` (``validation_data`` = the test
            set), a fraction for ``validation_split``, or ``None``.
        label_smoothing: for the loss (0 = plain cross-entropy).
        reported: what the document reports, quoted.
        standardize: after scaling, subtract the training images' per-channel mean and
            divide by their per-channel standard deviation (``ImageDataGenerator``'s
            ``featurewise_center`` and ``featurewise_std_normalization``).
        test_time_flip: predict by averaging the probabilities for each image and its
            mirror image (chapter 8).
        mixed_precision: compute in bfloat16 (weights stay float32) when a GPU is present.
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
    standardize: bool = False
    test_time_flip: bool = False
    mixed_precision: bool = False

    @property
    def document(self) -> str:
        """The source's short name ("the lecture notes"), as the book cites it."""
        return document_title(self.source)


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


# --------------------------------------------------------------------------- CIFAR-10


def slides_cifar_simple(name: str = "slides_cifar_simple") -> keras.Model:
    """The ESIB slides' first CIFAR-10 network: 32 filters of
    3x3 with "same" padding and ReLU, 2x2 max pooling, dropout 0.25, Dense(512) with ReLU,
    dropout 0.5, softmax; 896 + 4,194,816 + 5,130 = 4,200,842 parameters."""
    return keras.Sequential([
        keras.Input(shape=CIFAR_SHAPE),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def slides_cifar_deeper(name: str = "slides_cifar_deeper") -> keras.Model:
    """The slides' deeper network: conv+conv+maxpool+dropout
    twice (32 then 64 filters of 3x3, "same" padding, ReLU; dropout 0.25), then
    Dense(512) with ReLU, dropout 0.5 and softmax; 2,168,362 parameters."""
    return keras.Sequential([
        keras.Input(shape=CIFAR_SHAPE),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def lecture_notes_cifar(name: str = "lecture_notes_cifar") -> keras.Model:
    """The lecture notes' CIFAR-10 network, as written:
    three blocks of two 3x3 convolutions (32, 64, 128 filters), each followed by batch
    normalization and ELU, 2x2 max pooling and dropout (0.2, 0.2, 0.5). The third block's
    convolutions have no ``padding="same"`` (8x8 -> 6x6 -> 4x4), so the softmax layer sees
    2x2x128 = 512 features; 293,930 parameters (896 of them batch-norm statistics)."""
    def conv(filters: int, padding: str) -> list[keras.layers.Layer]:
        return [layers.Conv2D(filters, (3, 3), padding=padding), layers.BatchNormalization(),
                layers.Activation("elu")]

    return keras.Sequential([
        keras.Input(shape=CIFAR_SHAPE),
        *conv(32, "same"), *conv(32, "same"),
        layers.MaxPooling2D(pool_size=(2, 2)), layers.Dropout(0.2),
        *conv(64, "same"), *conv(64, "same"),
        layers.MaxPooling2D(pool_size=(2, 2)), layers.Dropout(0.2),
        *conv(128, "valid"), *conv(128, "valid"),
        layers.MaxPooling2D(pool_size=(2, 2)), layers.Dropout(0.5),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def with_augmentation(model: keras.Model, *augmentation: keras.layers.Layer,
                      name: str | None = None) -> keras.Model:
    """``model`` with augmentation layers in front (they act in ``fit`` only).

    The model keeps its own layers and parameter count; the result is a two-level
    ``Sequential`` whose summary shows the augmentation, then the model as one row.
    """
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *augmentation, model],
                            name=name or f"{model.name}_augmented")


def residual_block(x: Any, filters: int, bn_momentum: float = 0.9, name: str = "res") -> Any:
    """Two 3x3 conv + batch norm + ReLU layers whose output is *added* to their input.

    ``y = x + F(x)``: the block only has to learn the correction ``F``, and the gradient
    reaches ``x`` through the addition unchanged (chapter 8). ``x`` must already have
    ``filters`` channels, so the shapes of ``x`` and ``F(x)`` agree.
    """
    if x.shape[-1] != filters:
        raise ValueError(f"residual_block: the input has {x.shape[-1]} channels but the block "
                         f"makes {filters}; the two can only be added when they agree")
    y = x
    for i in (1, 2):
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(y)
        y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{i}")(y)
        y = layers.Activation("relu", name=f"{name}_relu{i}")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def cifar_resnet(width: int = 64, max_shift: int = 4, flip: bool = True,
                 bn_momentum: float = 0.9, logit_scale: float = 0.125,
                 name: str = "cifar_resnet") -> keras.Model:
    """The book's CIFAR-10 network (chapter 8): a nine-layer residual network.

    Random shifts of up to ``max_shift`` pixels and left-right flips (active only in
    training; ``max_shift=0, flip=False`` leaves them out); a 3x3 stem with ``width`` filters; three stages with ``2``, ``4`` and
    ``8 * width`` filters, each a conv + batch norm + ReLU + 2x2 max pooling, the first and
    last followed by a :func:`residual_block`; global max pooling; a dense layer without
    bias whose logits are multiplied by ``logit_scale`` (it keeps the first, large
    learning-rate steps from saturating the softmax); softmax in float32.
    With ``width=64``: 6,577,600 parameters.
    """
    def conv_bn(x: Any, filters: int, label: str) -> Any:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{label}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{label}_bn")(x)
        return layers.Activation("relu", name=f"{label}_relu")(x)

    inputs = keras.Input(shape=CIFAR_SHAPE, name="image")
    x = RandomShift(max_shift, name="random_shift")(inputs) if max_shift else inputs
    x = RandomFlip(name="random_flip")(x) if flip else x
    x = conv_bn(x, width, "stem")
    for stage, (factor, residual) in enumerate(((2, True), (4, False), (8, True)), start=1):
        x = conv_bn(x, factor * width, f"stage{stage}")
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        if residual:
            x = residual_block(x, factor * width, bn_momentum, name=f"stage{stage}_res")
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(10, use_bias=False, name="logits")(x)
    x = layers.Rescaling(logit_scale, name="logit_scale")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def warmup_cosine(steps_per_epoch: int, epochs: int, peak: float = 0.4,
                  warmup_fraction: float = 0.2) -> Any:
    """The book's CIFAR-10 learning-rate schedule: a linear rise from ``peak / 10`` to
    ``peak`` over the first ``warmup_fraction`` of the run, then a cosine down to zero."""
    total = steps_per_epoch * epochs
    warmup = max(1, int(total * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=peak, warmup_steps=warmup)


def _resnet_optimizer(steps_per_epoch: int, epochs: int) -> Any:
    """SGD with Nesterov momentum 0.9 and weight decay, on :func:`warmup_cosine`."""
    return keras.optimizers.SGD(learning_rate=warmup_cosine(steps_per_epoch, epochs),
                                momentum=0.9, nesterov=True, weight_decay=5e-3)


def _rmsprop(steps: int, epochs: int) -> Any:
    return keras.optimizers.RMSprop()


def _adam(steps: int, epochs: int) -> Any:
    return keras.optimizers.Adam()


def _slides_augmented() -> keras.Model:
    """The slides' deeper network trained on ``ImageDataGenerator(rotation_range=40,
    width_shift_range=0.2, height_shift_range=0.2, zoom_range=0.2, horizontal_flip=True,
    fill_mode="nearest")`` images, here as a layer in front of it."""
    return with_augmentation(
        slides_cifar_deeper(), RandomAffine(rotation=40, shift=0.2, zoom=0.2,
                                            horizontal_flip=True, name="random_affine"))


def _notes_augmented() -> keras.Model:
    """The lecture notes' network on ``ImageDataGenerator(rotation_range=90,
    width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)`` images."""
    return with_augmentation(
        lecture_notes_cifar(), RandomAffine(rotation=90, shift=0.1, horizontal_flip=True,
                                            name="random_affine"))


CIFAR10_RECIPES: dict[str, Recipe] = {
    "slides_simple": Recipe(
        "slides_simple", "004_a26f83427e620ceb.txt", slides_cifar_simple, _rmsprop,
        batch_size=128, epochs=20, validation=0.2,
        reported="no figure in the slide text (the simple network)"),
    "slides_deeper": Recipe(
        "slides_deeper", "004_a26f83427e620ceb.txt", slides_cifar_deeper, _rmsprop,
        batch_size=128, epochs=40, validation=0.2,
        reported="no figure in the slide text (the deeper network)"),
    "slides_augmented": Recipe(
        "slides_augmented", "004_a26f83427e620ceb.txt", _slides_augmented, _rmsprop,
        batch_size=128, epochs=50,
        reported="an accuracy of 78.3% after 50 epochs with augmentation"),
    "lecture_notes": Recipe(
        "lecture_notes", "003_a3ea8e62b8836153.txt", _notes_augmented, _adam,
        batch_size=50, epochs=100, validation="test", standardize=True,
        reported="Test accuracy: 0.784600019454956 (after 100 epochs)"),
    "book": Recipe(
        "book", "the book (chapter 8)", cifar_resnet, _resnet_optimizer, batch_size=512,
        epochs=16, label_smoothing=0.2, standardize=True, test_time_flip=True,
        mixed_precision=True, reported="chapter 8 (at least 90% is the target)"),
}
