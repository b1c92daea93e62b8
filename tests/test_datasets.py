"""Loaders: same arrays as keras.datasets, offline copies verified, clear errors."""

from __future__ import annotations

import gzip
import shutil
import time

import numpy as np
import pytest

from cnn_helpers import datasets
from cnn_helpers.datasets import DatasetError

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def offline(monkeypatch, data_dir):
    monkeypatch.setenv("CNN_HELPERS_DATA", str(data_dir))
    return data_dir


@pytest.fixture
def fake_data(tmp_path, data_dir, monkeypatch):
    """A private copy of the offline folder that a test may damage."""
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copy(data_dir / "mnist" / name, root / "mnist" / name)
    (root / "cifar10").mkdir()
    monkeypatch.setenv("CNN_HELPERS_DATA", str(root))
    return root


def _assert_clean_error(info: pytest.ExceptionInfo, *fragments: str) -> None:
    """One clear error: our type, no chained traceback, the message names what to do."""
    err = info.value
    assert isinstance(err, DatasetError)
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
    for fragment in fragments:
        assert fragment in str(err), f"{fragment!r} not in {str(err)!r}"


# --------------------------------------------------------------------------- MNIST


def test_mnist_offline_matches_keras_layout(offline):
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    # The facts the seed tutorial prints about the first training image.
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    row5 = x_train[0][5]
    assert row5[row5 > 0].tolist() == [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    src = datasets.data_source("mnist")
    assert src.origin == "offline" and src.canonical
    assert src.notice == ""        # the published bytes: nothing for a chapter to say


def test_missing_folder_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_HELPERS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "nowhere", "CNN_HELPERS_DATA", "unset it")


def test_missing_file_is_named(fake_data):
    (fake_data / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "t10k-labels-idx1-ubyte.gz is missing", "Copy the file there")


def test_truncated_file_is_named(fake_data):
    path = fake_data / "mnist" / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "train-images-idx3-ubyte.gz is corrupt or truncated", "fresh copy")


def test_wrong_content_fails_the_checksum(fake_data):
    path = fake_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[5000] ^= 0xFF  # one flipped pixel, still a valid gzip file
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "t10k-images-idx3-ubyte.gz is corrupt", "SHA-256")


def test_not_gzip_at_all(fake_data):
    (fake_data / "mnist" / "train-labels-idx1-ubyte.gz").write_text("<html>404 Not Found</html>")
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "train-labels-idx1-ubyte.gz is corrupt", "cannot decompress")


def test_no_data_and_no_network(monkeypatch, tmp_path):
    import keras

    def offline_download():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: "
                        "None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("CNN_HELPERS_DATA", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline_download)
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist()
    _assert_clean_error(info, "Could not download mnist", "no internet", "CNN_HELPERS_DATA",
                        "mnist/train-images-idx3-ubyte.gz")


def test_falls_back_to_keras_when_no_folder(monkeypatch):
    import keras

    fake = ((np.zeros((20, 28, 28), np.uint8), np.arange(20, dtype=np.uint8) % 10),
            (np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.uint8)))
    monkeypatch.delenv("CNN_HELPERS_DATA", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    (x, y), (xt, yt) = datasets.load_mnist(n_train=10)
    assert x.shape == (10, 28, 28) and np.bincount(y).tolist() == [1] * 10
    assert datasets.data_source("mnist").origin == "keras"


# --------------------------------------------------------------------------- subsets


def test_stratified_subset_keeps_class_shares_and_is_reproducible(offline):
    (x_all, y_all), _ = datasets.load_mnist()
    (x, y), (xt, yt) = datasets.load_mnist(n_train=1000, n_test=200, seed=3)
    assert x.shape == (1000, 28, 28) and xt.shape == (200, 28, 28)
    share = np.bincount(y_all, minlength=10) / len(y_all) * 1000
    assert np.all(np.abs(np.bincount(y, minlength=10) - share) < 1)
    (x2, y2), _ = datasets.load_mnist(n_train=1000, seed=3)
    np.testing.assert_array_equal(x, x2)
    (x3, _), _ = datasets.load_mnist(n_train=1000, seed=4)
    assert not np.array_equal(x, x3)
    idx = datasets.stratified_indices(y_all, 1000, seed=3)
    assert np.all(np.diff(idx) > 0)  # original order kept
    np.testing.assert_array_equal(x_all[idx], x)


@pytest.mark.parametrize("n", [0, -5, 60001, 2.5, True])
def test_bad_subset_size(offline, n):
    with pytest.raises(ValueError, match="n_train must be None or an integer between 1 and 60000"):
        datasets.load_mnist(n_train=n)


def test_stratified_indices_exact_total():
    y = np.array([0] * 7 + [1] * 2 + [2] * 1)
    for n in range(1, 11):
        idx = datasets.stratified_indices(y, n)
        assert len(idx) == n == len(set(idx.tolist()))


def test_data_source_before_loading():
    datasets._SOURCES.pop("nothing", None)
    with pytest.raises(DatasetError, match="call load_nothing"):
        datasets.data_source("nothing")


# --------------------------------------------------------------------------- CIFAR-10


@pytest.fixture(scope="session")
def cifar_cache_home(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_home")


def test_cifar10_offline_decodes_once_then_uses_the_cache(offline, monkeypatch, cifar_cache_home):
    monkeypatch.setenv("KERAS_HOME", str(cifar_cache_home))
    (x, y), (xt, yt) = datasets.load_cifar10()
    assert x.shape == (50000, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (50000, 1) and y.dtype == np.uint8
    assert xt.shape == (10000, 32, 32, 3) and yt.shape == (10000, 1)
    assert np.bincount(y.ravel()).tolist() == [5000] * 10
    assert np.bincount(yt.ravel()).tolist() == [1000] * 10
    # classes are interleaved, as in the original: validation_split must not hold out one class
    assert len(np.unique(y[-5000:])) == 10 and len(np.unique(y[:20])) > 3
    mean = x.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=0.005)  # canonical means
    src = datasets.data_source("cifar10")
    assert src.origin == "offline" and not src.canonical and "JPEG" in src.description
    # what a chapter prints for its reader: plain words, nothing about where the file was
    assert "JPEG re-encoding" in src.notice and "CIFAR-10" in src.notice
    assert "offline" not in src.notice and "CNN_HELPERS_DATA" not in src.notice
    assert list(cifar_cache_home.glob("datasets/cnn_helpers/cifar10-jpeg-*.npz"))

    def must_not_decode(_):
        raise AssertionError("decoded again although the cache exists")

    monkeypatch.setattr(datasets, "_decode_cifar_archive", must_not_decode)
    t0 = time.perf_counter()
    (x2, y2), _ = datasets.load_cifar10()
    assert time.perf_counter() - t0 < 5
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_cifar10_damaged_cache_is_rebuilt(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache_dir = tmp_path / "datasets" / "cnn_helpers"
    cache_dir.mkdir(parents=True)
    cache = cache_dir / f"cifar10-jpeg-{datasets._CIFAR_SHA256[:16]}-v{datasets._CIFAR_CACHE_VERSION}.npz"
    cache.write_bytes(b"half a file")
    calls = []

    def fake_decode(_archive):
        calls.append(1)
        return {"x_train": np.zeros((50000, 32, 32, 3), np.uint8), "y_train": np.zeros((50000, 1), np.uint8),
                "x_test": np.zeros((10000, 32, 32, 3), np.uint8), "y_test": np.zeros((10000, 1), np.uint8)}

    monkeypatch.setattr(datasets, "_decode_cifar_archive", fake_decode)
    (x, _), _ = datasets.load_cifar10(n_train=100)
    assert calls == [1] and x.shape == (100, 32, 32, 3)
    datasets.load_cifar10()
    assert calls == [1], "the rebuilt cache was not used"


def test_cifar10_truncated_archive(fake_data, data_dir):
    src = data_dir / "cifar10" / "cifar10-jpeg.tar.gz"
    dst = fake_data / "cifar10" / "cifar10-jpeg.tar.gz"
    with open(src, "rb") as fh:
        dst.write_bytes(fh.read(1_000_000))
    with pytest.raises(DatasetError) as info:
        datasets.load_cifar10()
    _assert_clean_error(info, "cifar10-jpeg.tar.gz is corrupt or truncated", "SHA-256")


def test_cifar10_missing_archive(fake_data):
    with pytest.raises(DatasetError) as info:
        datasets.load_cifar10()
    _assert_clean_error(info, "cifar10-jpeg.tar.gz is missing")
