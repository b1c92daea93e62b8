"""MNIST and CIFAR-10, exactly as ``keras.datasets.<name>.load_data()`` returns them.

Where the data comes from, in order:

1. the folder named by the environment variable ``CNN_HELPERS_DATA``, laid out as::

       $CNN_HELPERS_DATA/mnist/train-images-idx3-ubyte.gz   (and the three other IDX files)
       $CNN_HELPERS_DATA/cifar10/cifar10-jpeg.tar.gz

   Every file is checked against its published SHA-256 before use. A missing folder or
   file, or a corrupt or truncated one, raises :class:`DatasetError` naming the file and
   what to do. (When the variable is set, the folder is *meant* to be used: nothing is
   downloaded behind your back.)
2. otherwise the normal Keras download (``keras.datasets.mnist.load_data()``), which
   caches under ``~/.keras/datasets``. With no network and no cached copy, that too
   raises :class:`DatasetError` with instructions.

The offline CIFAR-10 copy is the JPEG re-encoding (quality 75) of the data set: close to,
but not the same as, canonical CIFAR-10. It is decoded once and cached as ``.npz`` under
the Keras cache folder; :func:`data_source` says which copy a loader used, so a chapter
can say so next to its results.

Introduced in chapter 1 (Convolution).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_ENV",
    "DataSource",
    "DatasetError",
    "data_source",
    "load_cifar10",
    "load_mnist",
    "stratified_indices",
]

log = logging.getLogger(__name__)

#: Environment variable naming a folder with offline copies of the data sets.
DATA_ENV = "CNN_HELPERS_DATA"

#: CIFAR-10's labels 0..9, in the canonical order.
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

# SHA-256 of the *decompressed* IDX files (the original MNIST files).
_MNIST_FILES: dict[str, tuple[str, tuple[int, ...]]] = {
    "train-images-idx3-ubyte.gz": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
    "t10k-images-idx3-ubyte.gz": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
}

_CIFAR_ARCHIVE = "cifar10-jpeg.tar.gz"
_CIFAR_SHA256 = "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965"
_CIFAR_COUNTS = {"train": 5000, "test": 1000}  # images per class
# The JPEG copy has lost CIFAR-10's sample order. Files are read in (class, file name) order
# and then shuffled with this fixed seed, so that the classes are interleaved as in the
# original (a sorted training set would make validation_split hold out only trucks).
_CIFAR_ORDER_SEED = 20240917
_CIFAR_CACHE_VERSION = 1

Split = tuple[np.ndarray, np.ndarray]


class DatasetError(RuntimeError):
    """A data set could not be loaded; the message says which file and what to do."""


@dataclass(frozen=True)
class DataSource:
    """Where a loader found its data.

    Attributes:
        dataset: ``"mnist"`` or ``"cifar10"``.
        origin: ``"offline"`` (the ``CNN_HELPERS_DATA`` folder) or ``"keras"`` (download/cache).
        path: the file or folder read (``None`` for the Keras download).
        canonical: ``False`` when the pixels differ from the canonical data set
            (the JPEG re-encoded CIFAR-10).
        description: one sentence on where the data came from (the run report and the
            benchmarks record it).
    """

    dataset: str
    origin: str
    path: str | None
    canonical: bool
    description: str

    @property
    def notice(self) -> str:
        """What a reader of results on this data must know, in plain words, for a chapter
        to print once; ``""`` for the canonical data set (nothing to say)."""
        if self.canonical:
            return ""
        return (f"Note: these {_PRETTY[self.dataset]} images are a JPEG re-encoding (quality 75) "
                "of the data set. Their pixels differ slightly from the original ones, so "
                "accuracies are close to, but not the same as, published results.")


_PRETTY = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


_SOURCES: dict[str, DataSource] = {}


def data_source(dataset: str) -> DataSource:
    """Where the most recent :func:`load_mnist` / :func:`load_cifar10` call got its data."""
    try:
        return _SOURCES[dataset]
    except KeyError:
        raise DatasetError(
            f"{dataset!r} has not been loaded in this session yet; call load_{dataset}() first"
        ) from None


# --------------------------------------------------------------------------- public loaders


def load_mnist(n_train: int | None = None, n_test: int | None = None, *,
               seed: int = 0) -> tuple[Split, Split]:
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``.

    Same arrays as ``keras.datasets.mnist.load_data()``: ``x`` is uint8 ``(n, 28, 28)``
    with 0 for the background and 255 for full ink, ``y`` is uint8 ``(n,)`` with the digit.

    Args:
        n_train, n_test: if given, a reproducible *stratified* slice of that many images
            (each digit keeps its share), in the original order. ``None`` keeps all.
        seed: which slice; the same seed always gives the same images.
    """
    return _load("mnist", _load_mnist_offline, n_train, n_test, seed)


def load_cifar10(n_train: int | None = None, n_test: int | None = None, *,
                 seed: int = 0) -> tuple[Split, Split]:
    """Load CIFAR-10 as ``((x_train, y_train), (x_test, y_test))``.

    Same layout as ``keras.datasets.cifar10.load_data()``: ``x`` is uint8
    ``(n, 32, 32, 3)`` RGB, ``y`` is uint8 ``(n, 1)`` with the class index
    (see :data:`CIFAR10_CLASSES`).

    From the offline folder this is the JPEG re-encoded copy (see :func:`data_source`);
    it is decoded once (about 15 s) and then read from a cache in the Keras cache folder.

    Args:
        n_train, n_test: if given, a reproducible stratified slice of that many images.
        seed: which slice.
    """
    return _load("cifar10", _load_cifar_offline, n_train, n_test, seed)


# --------------------------------------------------------------------------- subsets


def stratified_indices(labels: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """Indices of a reproducible stratified sample of ``n`` items, in ascending order.

    Every class keeps its share of ``n`` (rounded by largest remainder, so the counts add
    up to exactly ``n``), and within a class the items are drawn at random with ``seed``.
    """
    y = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    total = len(y)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 < n <= total:
        raise ValueError(f"the sample size must be an integer between 1 and {total}, got {n!r}")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (n / total)
    quota = np.floor(exact).astype(int)
    short = n - quota.sum()
    # Largest remainders first; ties go to the lower class index (stable sort).
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:short]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def _subset(split: Split, n: int | None, seed: int, name: str) -> Split:
    x, y = split
    if n is None:
        return x, y
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 < n <= len(y):
        raise ValueError(f"{name} must be None or an integer between 1 and {len(y)}, got {n!r}")
    if n == len(y):
        return x, y
    idx = stratified_indices(y, int(n), seed=seed)
    return x[idx], y[idx]


# --------------------------------------------------------------------------- resolution


OfflineLoader = Callable[[Path], tuple[tuple[Split, Split], DataSource]]


def _load(name: str, offline: OfflineLoader, n_train: int | None, n_test: int | None,
          seed: int) -> tuple[Split, Split]:
    """$CNN_HELPERS_DATA/<name> if the variable is set, else Keras; then the subsets."""
    folder = _offline_folder()
    if folder is not None:
        (train, test), source = offline(folder / name)
    else:
        (train, test), source = _load_with_keras(name)
    _remember(source)
    return _subset(train, n_train, seed, "n_train"), _subset(test, n_test, seed, "n_test")


def _offline_folder() -> Path | None:
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DatasetError(
            f"{DATA_ENV} is set to '{value}', which is not a folder. Point it at a folder "
            "holding mnist/*.gz and cifar10/cifar10-jpeg.tar.gz (see README.md), or unset it "
            "to download the data with Keras."
        )
    return folder


def _remember(source: DataSource) -> None:
    _SOURCES[source.dataset] = source
    log.info("%s", source.description)


def _load_with_keras(name: str) -> tuple[tuple[Split, Split], DataSource]:
    try:
        import keras

        loader: Callable[[], tuple[Split, Split]] = getattr(keras.datasets, name).load_data
    except ImportError as exc:  # pragma: no cover - keras is a dependency
        raise DatasetError(f"Keras is needed to download {name} but cannot be imported: {exc}") from None
    try:
        data = loader()
    except Exception as exc:  # network errors surface as many different exception types
        reason = f"{type(exc).__name__}: {exc}".strip()
        raise DatasetError(
            f"Could not download {name} with Keras ({reason[:300]}). This machine may have no "
            f"internet access. Either connect to the internet, or set {DATA_ENV} to a folder "
            f"with the offline copies ({_expected_layout(name)}); see README.md."
        ) from None
    pretty = _PRETTY[name]
    return data, DataSource(
        dataset=name, origin="keras", path=None, canonical=True,
        description=f"{pretty}: the canonical data set, via keras.datasets.{name}.load_data().",
    )


def _expected_layout(name: str) -> str:
    if name == "mnist":
        return "mnist/" + ", mnist/".join(_MNIST_FILES)
    return f"cifar10/{_CIFAR_ARCHIVE}"


def _missing(path: Path, name: str) -> DatasetError:
    return DatasetError(
        f"{path} is missing. {DATA_ENV} points at {path.parent.parent}, which must contain "
        f"{_expected_layout(name)}. Copy the file there, or unset {DATA_ENV} to download "
        f"{name} with Keras."
    )


def _corrupt(path: Path, problem: str) -> DatasetError:
    return DatasetError(
        f"{path} is corrupt or truncated ({problem}). Replace it with a fresh copy of the "
        f"file, or unset {DATA_ENV} to download the data with Keras."
    )


# --------------------------------------------------------------------------- MNIST (IDX)


def _load_mnist_offline(folder: Path) -> tuple[tuple[Split, Split], DataSource]:
    arrays = {}
    for fname, (sha256, shape) in _MNIST_FILES.items():
        path = folder / fname
        if not path.is_file():
            raise _missing(path, "mnist")
        arrays[fname] = _read_idx(path, sha256, shape)
    train = (arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"])
    test = (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"])
    return (train, test), DataSource(
        dataset="mnist", origin="offline", path=str(folder), canonical=True,
        description="MNIST: the original IDX files (byte-identical to the published data set), "
                    f"read from the offline copy in ${DATA_ENV}.",
    )


def _read_idx(path: Path, sha256: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, f"cannot decompress: {exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise _corrupt(path, f"SHA-256 of its content is {digest[:12]}..., expected {sha256[:12]}...")
    # IDX: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then one
    # big-endian uint32 per dimension, then the data.
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if raw[2] != 0x08 or dims != shape:
        raise _corrupt(path, f"unexpected IDX header: type {raw[2]:#x}, shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


# --------------------------------------------------------------------------- CIFAR-10 (JPEG)


def _cache_dir() -> Path:
    """The Keras cache folder (``$KERAS_HOME`` or ``~/.keras``), ``datasets/cnn_helpers``."""
    base = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return base / "datasets" / "cnn_helpers"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_cifar_offline(folder: Path) -> tuple[tuple[Split, Split], DataSource]:
    archive = folder / _CIFAR_ARCHIVE
    if not archive.is_file():
        raise _missing(archive, "cifar10")
    digest = _sha256_file(archive)
    if digest != _CIFAR_SHA256:
        raise _corrupt(archive, f"SHA-256 is {digest[:12]}..., expected {_CIFAR_SHA256[:12]}...")
    cache = _cache_dir() / f"cifar10-jpeg-{_CIFAR_SHA256[:16]}-v{_CIFAR_CACHE_VERSION}.npz"
    arrays = _read_cifar_cache(cache)
    if arrays is None:
        log.info("decoding %s once (about 15 s); caching the arrays in %s", archive, cache)
        arrays = _decode_cifar_archive(archive)
        _write_cache(cache, arrays)
    train = (arrays["x_train"], arrays["y_train"])
    test = (arrays["x_test"], arrays["y_test"])
    return (train, test), DataSource(
        dataset="cifar10", origin="offline", path=str(archive), canonical=False,
        description="CIFAR-10: the offline JPEG re-encoding (quality 75) of all 60,000 images; "
                    "pixels differ slightly from canonical CIFAR-10, so accuracies are close to, "
                    "not identical with, results on the original data.",
    )


def _read_cifar_cache(cache: Path) -> dict[str, np.ndarray] | None:
    if not cache.is_file():
        return None
    try:
        with np.load(cache) as data:
            arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:  # a half-written or damaged cache is rebuilt, not fatal
        log.warning("ignoring unreadable cache %s (%s); decoding again", cache, exc)
        return None
    if arrays["x_train"].shape != (50000, 32, 32, 3) or arrays["x_test"].shape != (10000, 32, 32, 3):
        log.warning("ignoring cache %s with unexpected shapes; decoding again", cache)
        return None
    return arrays


def _write_cache(cache: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename: concurrent notebooks never see half a cache.
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache)
    except OSError as exc:  # a read-only home folder only costs speed
        log.warning("could not cache CIFAR-10 arrays in %s (%s)", cache, exc)


def _decode_cifar_archive(archive: Path) -> dict[str, np.ndarray]:
    from PIL import Image  # Pillow comes with matplotlib

    class_index = {name: i for i, name in enumerate(CIFAR10_CLASSES)}
    images: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".jpg"):
                    continue
                parts = member.name.split("/")
                if len(parts) != 3 or parts[0] not in images or parts[1] not in class_index:
                    raise _corrupt(archive, f"unexpected member {member.name!r}")
                fh = tar.extractfile(member)
                assert fh is not None
                with Image.open(io.BytesIO(fh.read())) as img:
                    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
                if pixels.shape != (32, 32, 3):
                    raise _corrupt(archive, f"{member.name} is {pixels.shape}, not 32x32 RGB")
                images[parts[0]].append((class_index[parts[1]], parts[2], pixels))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _corrupt(archive, f"cannot read the archive: {exc}") from None

    rng = np.random.default_rng(_CIFAR_ORDER_SEED)
    out: dict[str, np.ndarray] = {}
    for split, per_class in _CIFAR_COUNTS.items():
        items = sorted(images[split], key=lambda t: (t[0], t[1]))
        labels = np.array([t[0] for t in items], dtype=np.uint8)
        counts = np.bincount(labels, minlength=len(CIFAR10_CLASSES))
        if not np.all(counts == per_class):
            raise _corrupt(archive, f"{split} split has {counts.tolist()} images per class, "
                                    f"expected {per_class} each")
        order = rng.permutation(len(items))
        out[f"x_{split}"] = np.stack([items[i][2] for i in order])
        out[f"y_{split}"] = labels[order].reshape(-1, 1)
    return out
