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


# --------------------------------------------------------------------------- the book's style


def _png_info(png: bytes) -> dict:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    return {"size": image.size, **image.info}


def test_book_style_sets_fonts_and_resolution():
    import matplotlib as mpl

    plotting.use_book_style()
    assert mpl.rcParams["savefig.dpi"] == plotting.DPI == 2 * plotting.PX_PER_INCH
    for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "font.size"):
        assert mpl.rcParams[key] >= plotting.MIN_FONT_PT, key


def test_figure_png_records_its_smallest_font_and_shows_at_true_size():
    import matplotlib.pyplot as plt

    plotting.use_book_style()
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.plot([0, 1], [0, 1])
    ax.text(0.5, 0.5, "note", fontsize=11)
    png, size = plotting.figure_png(fig)
    info = _png_info(png)
    assert float(info[plotting.PNG_FONT_KEY]) == plotting.MIN_FONT_PT     # the tick labels
    assert int(info[plotting.PNG_DPI_KEY]) == plotting.DPI
    width, height = info["size"]
    assert size == {"width": round(width / 2), "height": round(height / 2)}  # hi-DPI: 2 px per CSS px
    assert 400 < size["width"] <= 5 * plotting.PX_PER_INCH                     # cropped, never wider
    assert plotting.figure_png(plt.figure()) is None                          # nothing drawn


def test_figure_png_warns_about_figures_the_page_would_shrink():
    import matplotlib.pyplot as plt

    plotting.use_book_style()
    wide, ax = plt.subplots(figsize=(12, 2))
    ax.plot([0, 1])
    with pytest.warns(plotting.FigureStyleWarning, match="inches wide"):
        plotting.figure_png(wide)
    small, ax = plt.subplots(figsize=(4, 2))
    ax.set_title("tiny", fontsize=6)
    with pytest.warns(plotting.FigureStyleWarning, match="6 pt"):
        png, _ = plotting.figure_png(small)
    assert float(_png_info(png)[plotting.PNG_FONT_KEY]) == 6


def test_min_font_size_ignores_hidden_and_empty_text():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "", fontsize=3)
    hidden = ax.text(0.5, 0.5, "hidden", fontsize=4)
    hidden.set_visible(False)
    ax.set_title("title", fontsize=12)
    assert plotting.min_font_size(fig) == 12


def test_figures_display_through_the_book_formatter_in_ipython():
    """Inside IPython (Jupyter, Colab) a figure is shown as the book's PNG, at its size."""
    import base64

    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        plotting.use_book_style()
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.plot([0, 1])
        data, metadata = shell.display_formatter.format(fig)
        info = _png_info(base64.b64decode(data["image/png"]))
        assert plotting.PNG_FONT_KEY in info
        assert metadata["image/png"]["width"] == round(info["size"][0] / 2)
    finally:
        InteractiveShell.clear_instance()


def test_grids_fit_the_column_and_signed_panels_share_one_scale():
    rng = np.random.default_rng(0)
    filters = [rng.normal(size=(5, 5)) * s for s in (1, 2, 3)]
    fig = plotting.show_images(filters, ["a", "b", "c"])
    assert fig.get_figwidth() <= plotting.COLUMN_WIDTH
    images = [ax.images[0] for ax in fig.axes if ax.images]
    lim = max(np.abs(f).max() for f in filters)
    assert all(im.norm.vmin == -lim and im.norm.vmax == lim for im in images)
    assert all(im.get_cmap().name == plotting.SIGNED_CMAP for im in images)
    assert len(fig.axes) == 4                          # three panels and one colour bar
    fig = plotting.show_images(filters, share_scale=False)
    assert len(fig.axes) == 6                          # one bar each
    assert [ax.images[0].norm.vmax for ax in fig.axes[:3]] == pytest.approx(
        [np.abs(f).max() for f in filters])
    fig = plotting.show_images(rng.integers(0, 255, (16, 28, 28)).astype(np.uint8), ncols=8)
    assert fig.get_figwidth() <= plotting.COLUMN_WIDTH and len(fig.axes) == 16  # no bar for pictures


def test_plot_history_one_legend_below_the_panels():
    h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    fig = plotting.plot_history({"a": h, "b": h}, metrics=("loss",), legend="below")
    assert fig.axes[0].get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "a train", "a validation", "b train", "b validation"]
    with pytest.raises(ValueError, match="legend must be"):
        plotting.plot_history(h, legend="left")


def test_show_matrix_can_force_the_signed_scale_and_colour_the_outline():
    ax = plotting.show_matrix(np.array([[1, 2], [3, 4]]), signed=True, highlight=(0, 0, 1, 1),
                              highlight_color="k")
    im = ax.images[0]
    assert (im.norm.vmin, im.norm.vmax) == (-4, 4) and im.get_cmap().name == plotting.SIGNED_CMAP
    assert ax.patches[0].get_edgecolor()[:3] == (0, 0, 0)


def test_calibration_table_bins_counts_accuracy_and_ece():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [1.0, 0.0]])
    labels = np.array([0, 1, 1, 0, 0])
    table = plotting.calibration_table(probs, labels, bins=[0.5, 0.75, 1.0])
    # top probabilities 0.9, 0.8, 0.7, 0.55, 1.0 -> bins [0.5, 0.75): 0.7, 0.55; [0.75, 1]: 0.9, 0.8, 1.0
    assert table.counts.tolist() == [2, 3]
    np.testing.assert_allclose(table.confidence, [0.625, 0.9])
    np.testing.assert_allclose(table.accuracy, [0.5, 2 / 3])
    np.testing.assert_allclose(table.ece, (2 * 0.125 + 3 * abs(2 / 3 - 0.9)) / 5)
    one_hot = np.eye(2)[labels]
    same = plotting.calibration_table(probs, one_hot, bins=[0.5, 0.75, 1.0])
    assert same.counts.tolist() == table.counts.tolist()


def test_calibration_table_equal_bins_and_empty_ones():
    probs = np.array([[0.95, 0.05], [0.92, 0.08]])
    table = plotting.calibration_table(probs, [0, 1], bins=10)
    assert len(table.edges) == 11 and table.counts.sum() == 2 and table.counts[9] == 2
    assert np.isnan(table.accuracy[0]) and table.accuracy[9] == 0.5


@pytest.mark.parametrize("kwargs, message", [
    (dict(probs=np.ones(3), labels=[0, 1, 2]), "must be"),
    (dict(probs=np.eye(3), labels=[0, 1]), "same length"),
    (dict(probs=np.eye(3), labels=[0, 1, 2], bins=[0.0, 0.5, 0.5, 1.0]), "increasing"),
    (dict(probs=np.eye(3), labels=[0, 1, 2], bins=[0.0, 0.5]), "outside"),
])
def test_calibration_table_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plotting.calibration_table(**kwargs)


def test_reliability_diagram_draws_bars_diagonal_and_counts():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 10, size=200)
    ax = plotting.reliability_diagram(probs, labels, bins=5)
    table = plotting.calibration_table(probs, labels, bins=5)
    filled = int((table.counts > 0).sum())
    assert len(ax.patches) == filled
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{c:,}" for c in table.counts if c)
    assert "ECE" in ax.get_title()
    assert ax.get_xlim() == (0.0, 1.0)
