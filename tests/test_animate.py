"""The animations: they show what cnn_helpers.ops computes, fit a page, and play offline."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from cnn_helpers import animate, ops, plotting

RNG = np.random.default_rng(7)


def _frames(anim: animate.Animation) -> list[Image.Image]:
    payload = re.search(r'<script type="application/json">(.*?)</script>', anim.html, re.S).group(1)
    return [Image.open(io.BytesIO(base64.b64decode(f))) for f in json.loads(payload)]


def _captions(anim: animate.Animation) -> list[str]:
    return json.loads(re.search(r"var captions = (\[.*?\]), interval", anim.html, re.S).group(1))


def test_convolution_has_one_frame_per_output_and_the_ops_values():
    x = np.arange(25).reshape(5, 5) % 4
    k = np.array([[1, 0, -1]] * 3)
    anim = animate.convolution(x, k)
    out = ops.conv2d(x, k)
    assert anim.frames == out.size == 9
    frames = _frames(anim)
    assert len(frames) == 9 and len({f.tobytes() for f in frames}) == 9    # every frame differs
    captions = _captions(anim)
    assert all(f"= {v:.0f}" in c for v, c in zip(out.ravel(), captions))
    assert "http" not in anim.html          # nothing loaded from the network: it plays offline
    assert len(anim.html) < animate.MAX_BYTES


def test_frames_follow_the_book_figure_style():
    anim = animate.conv_arithmetic(5, 3, stride=2, padding=1)
    png = base64.b64decode(json.loads(re.search(r'application/json">(.*?)</script>', anim.html).group(1))[0])
    info = Image.open(io.BytesIO(png)).text
    assert float(info[plotting.PNG_FONT_KEY]) >= plotting.MIN_FONT_PT
    width_px = int(re.search(r'<img [^>]*width="(\d+)"', anim.html).group(1))
    assert width_px <= plotting.COLUMN_WIDTH * plotting.PX_PER_INCH


@pytest.mark.parametrize("i,f,s,p,d", [(5, 3, 1, 0, 1), (5, 3, 2, 1, 1), (7, 3, 1, 0, 2), (6, 4, 2, 1, 1)])
def test_conv_arithmetic_output_size_is_the_formula(i, f, s, p, d):
    anim = animate.conv_arithmetic(i, f, stride=s, padding=p, dilation=d)
    o = ops.conv_output_size(i, f, s, p, dilation=d)
    assert anim.frames == o * o
    assert f"gives a {o}×{o} output" in anim.description


def test_volume_is_the_slides_demo_and_matches_conv2d():
    x = RNG.integers(0, 3, (5, 5, 3))
    k = RNG.integers(-1, 2, (3, 3, 3, 2))
    b = np.array([1, 0])
    anim = animate.volume(x, k, b, stride=2, padding=1)
    out = ops.conv2d(x, k, b, strides=2, padding=1)
    assert out.shape == (3, 3, 2) and anim.frames == 18
    captions = _captions(anim)
    values = [out[r, c, j] for j in range(2) for r in range(3) for c in range(3)]
    assert all(c.endswith(f"gives {v:.0f}.") for v, c in zip(values, captions))


def test_pooling_marks_the_winner_and_matches_pool2d():
    x = RNG.integers(0, 10, (4, 6))
    anim = animate.pooling(x, pool_size=2)
    out = ops.pool2d(x, 2)
    assert anim.frames == out.size
    assert [c.rsplit(" is ", 1)[1] for c in _captions(anim)] == [f"{v:.0f}." for v in out.ravel()]
    avg = animate.pooling(x, pool_size=2, mode="avg")
    assert "average" in avg.description


def test_transposed_convolution_is_zero_insertion():
    x = np.array([[1, 2], [3, 4]])
    k = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    anim = animate.transposed_convolution(x, k, stride=2)
    out = ops.conv2d_transpose(x[..., None], k[:, :, None, None], strides=2)[..., 0]
    assert out.shape == (5, 5) and anim.frames == 25
    assert [c.rsplit(" = ", 1)[1] for c in _captions(anim)] == [f"{v:.0f}." for v in out.ravel()]


@pytest.mark.parametrize("call,message", [
    (lambda: animate.convolution(np.zeros((3, 3, 3)), np.ones((2, 2))), "x must be a 2-D array"),
    (lambda: animate.conv_arithmetic(3, 5), "does not fit"),
    (lambda: animate.convolution(np.zeros((40, 40)), np.ones((3, 3))), "frames"),
    (lambda: animate.volume(np.zeros((5, 5, 3)), np.zeros((3, 3, 2, 2)), [0, 0]), "matching D and M"),
    (lambda: animate.pooling(np.zeros((4, 4)), mode="l2"), "mode must be"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_explore_shows_the_default_animation_where_no_slider_can_move(monkeypatch):
    monkeypatch.setenv(animate.STATIC_ENV, "1")
    anim = animate.explore(animate.conv_arithmetic, input_size=(3, 9, 5), kernel_size=(1, 5, 3),
                           stride=(1, 3, 2), padding=1)
    assert isinstance(anim, animate.Animation)
    assert "a 5×5 input, kernel 3×3, stride 2, padding 1" in anim.description
    with pytest.raises(ValueError, match="default 9 is not within"):
        animate.explore(animate.conv_arithmetic, input_size=(3, 5, 9))


def _bowl(x, y):
    return 0.5 * (x ** 2 + 10 * y ** 2)


def _descent(rate, steps=20):
    w, points = np.array([-3.0, 1.5]), []
    for _ in range(steps + 1):
        points.append(w.copy())
        w = w - rate * np.array([w[0], 10 * w[1]])
    return np.array(points)


def test_trajectories_draw_each_path_step_by_step_with_its_loss():
    paths = {"slow": _descent(0.02), "fast": _descent(0.09)}
    anim = animate.trajectories(_bowl, paths, extent=(-4, 4, -2, 2), minimum=(0, 0), every=2)
    assert anim.frames == 11                        # steps 0, 2, ..., 20
    captions = _captions(anim)
    assert captions[0].endswith(f"after step 0: slow at (-3.00, 1.50), loss {_bowl(-3, 1.5):.3g}; "
                                f"fast at (-3.00, 1.50), loss {_bowl(-3, 1.5):.3g}.")
    last = paths["fast"][-1]
    assert f"fast at ({last[0]:.2f}, {last[1]:.2f}), loss {_bowl(*last):.3g}" in captions[-1]
    frames = _frames(anim)
    assert len({f.tobytes() for f in frames}) == 11
    # the paths keep their colours through the palette: C0 blue and C1 orange are in the frames
    colours = {tuple(c) for _, c in frames[-1].convert("RGB").getcolors(10_000)}
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert min(sum(abs(a - b) for a, b in zip(rgb, c)) for c in colours) <= 6
    assert len(anim.html) < animate.MAX_BYTES and "http" not in anim.html


@pytest.mark.parametrize("paths, message", [
    ({}, "non-empty dict"),
    ({"a": np.zeros((5, 3))}, r"shape \(steps \+ 1, 2\)"),
    ({"a": np.array([[0.0, 0.0], [np.nan, 1.0]])}, "diverge"),
    ({"a": np.zeros((5, 2)), "b": np.zeros((6, 2))}, "same number of steps"),
])
def test_trajectories_reject_bad_paths_with_a_clear_message(paths, message):
    with pytest.raises(ValueError, match=message):
        animate.trajectories(_bowl, paths, extent=(-1, 1, -1, 1))


def test_trajectories_reject_a_bad_extent_a_bad_loss_and_too_many_frames():
    path = {"a": _descent(0.05)}
    with pytest.raises(ValueError, match="extent"):
        animate.trajectories(_bowl, path, extent=(1, -1, -1, 1))
    with pytest.raises(TypeError, match="loss must be a function"):
        animate.trajectories(np.zeros(3), path, extent=(-1, 1, -1, 1))
    with pytest.raises(ValueError, match="shaped like X"):
        animate.trajectories(lambda x, y: 1.0, path, extent=(-1, 1, -1, 1))
    with pytest.raises(ValueError, match="frames"):
        animate.trajectories(_bowl, {"a": _descent(0.01, steps=300)}, extent=(-4, 4, -2, 2))
