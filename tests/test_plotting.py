"""Figures: grids have the right panels, signed data is centred on zero, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_helpers import plotting


def test_show_images_grid_and_titles():
    imgs = np.random.default_rng(0).integers(0, 255, size=(5, 28, 28), dtype=np.uint8)
    fig = plotting.show_images(imgs, [f"d{i}" for i in range(5)], ncols=3, suptitle="digits")
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x 3 columns, the last one switched off
    assert [a.get_title() for a in axes[:5]] == [f"d{i}" for i in range(5)]
    assert not axes[5].axison
    assert fig._suptitle.get_text() == "digits"


def test_rgb_and_signed_images():
    rgb = np.zeros((8, 8, 3), np.uint8)
    signed = np.linspace(-2, 1, 64).reshape(8, 8)
    fig = plotting.show_images([rgb, signed])
    im_rgb, im_signed = fig.axes[0].images[0], fig.axes[1].images[0]
    assert im_rgb.get_array().shape == (8, 8, 3)
    assert im_signed.get_cmap().name == "RdBu_r"
    assert im_signed.norm.vmin == -2 and im_signed.norm.vmax == 2


def test_feature_maps_one_panel_per_channel():
    fig = plotting.show_feature_maps(np.zeros((1, 6, 6, 4)))
    assert [a.get_title() for a in fig.axes] == ["map 0", "map 1", "map 2", "map 3"]


def test_show_matrix_writes_every_value():
    m = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    ax = plotting.show_matrix(m, fmt="{:+d}", highlight=(0, 0, 2, 2), title="Sobel")
    assert [t.get_text() for t in ax.texts] == ["-1", "+0", "+1", "-2", "+0", "+2", "-1", "+0", "+1"]
    assert len(ax.patches) == 1 and ax.get_title() == "Sobel"


def test_show_matrix_labels_nan_cells():
    ax = plotting.show_matrix(np.array([[1.0, np.nan]]), fmt="{:.0f}", nan_text="pad")
    assert [t.get_text() for t in ax.texts] == ["1", "pad"]


@pytest.mark.parametrize("call,message", [
    (lambda: plotting.show_images([]), "at least one image"),
    (lambda: plotting.show_images([np.zeros((2, 2))], ["a", "b"]), "1 images but 2 titles"),
    (lambda: plotting.show_feature_maps(np.zeros((4, 4))), "expects (H, W, channels)"),
    (lambda: plotting.show_matrix(np.zeros(3)), "expects a 2-D array"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_plot_history_single_and_compared():
    h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7]}
    fig = plotting.plot_history(h)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    fig = plotting.plot_history({"a": h, "b": {"loss": [2.0, 1.0]}}, metrics=("loss",))
    assert [line.get_label() for line in fig.axes[0].lines] == ["a train", "a validation", "b train"]


def test_confusion_matrix_counts_and_figure():
    m = plotting.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    ax = plotting.plot_confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], ["a", "b", "c"])
    assert ax.get_title() == "4 of 6 correct" and len(ax.texts) == 9
    with pytest.raises(ValueError, match="same length"):
        plotting.confusion_matrix([0, 1], [0])
