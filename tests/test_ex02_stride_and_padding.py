"""The checks of exercises/02_stride_and_padding.ipynb, without a kernel.

Every task: the reference answer passes, typical student mistakes get the intended
status, points and hint, and no failure message gives the answer away.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnn_helpers import grading, ops
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED
from cnn_helpers.grading.tasks import ex02_stride_and_padding as ex02

from conftest import wrong_option_is_explained

EX = grading.exercise("02_stride_and_padding")


def result(task_id: str, answer) -> grading.Result:
    return EX.result(task_id, answer)


def hides(message: str, answer: str, student: str = "") -> bool:
    """Does ``message`` avoid ``answer`` (once the student's own value is taken out)?"""
    return answer not in (message.replace(student, "") if student else message)


def test_tasks_and_points():
    assert [t.id for t in EX.tasks] == [f"2.{n}" for n in range(1, 9)]
    assert sum(t.points for t in EX.tasks) == 12
    assert EX.smoke == {}


# --------------------------------------------------------------------------- 2.1


def test_output_size():
    right = ops.conv_output_size(64, 7, 2, 2)
    assert result("2.1", right).passed and result("2.1", float(right)).passed
    cases = [
        ((64 + 4 - 7) / 2 + 1, "which way does that round"),         # no floor
        ((64 + 4 - 7) // 2, "counts the first position"),             # no +1
        ((64 + 2 - 7) // 2 + 1, "P zeros go on each side"),           # one side only
        ((64 - 7) // 2 + 1, "without padding"),                       # no padding
        (-(-(64 + 4 - 7) // 2) + 1, "rounded down, not up"),          # ceil
        (64 + 4 - 7 + 1, "divide by the stride"),                     # stride ignored
    ]
    for answer, hint in cases:
        r = result("2.1", answer)
        assert r.status == FAILED and r.points == 0, (answer, r)
        assert hint in r.message, (answer, r.message)
        assert hides(r.message, str(right), str(answer)), r.message
    assert result("2.1", "thirty-one").status == FAILED
    assert result("2.1", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 2.2


def test_same_split():
    right = ops.same_padding(32, 5, 3)
    assert right[0] != right[1]              # the task needs an asymmetric split
    for answer in (right, list(right), np.array(right), (right, right)):
        assert result("2.2", answer).passed, answer
    mirrored = result("2.2", right[::-1])
    assert mirrored.status == FAILED and mirrored.points == 0.5
    assert "mirrored" in mirrored.message and "after" in mirrored.message
    stride_one = result("2.2", (2, 2))       # (F - 1) / 2 per side, as at stride 1
    assert stride_one.points == 0 and "stride 1" in stride_one.message
    uneven = result("2.2", (0, sum(right)))
    assert uneven.points == 0.5 and "evenly" in uneven.message
    assert "two numbers" in result("2.2", sum(right)).message
    assert "too few zeros in all" in result("2.2", (1, 1)).message   # no count
    for answer in [right[::-1], (2, 2), (0, 3), (1, 1), (0, 0), 3]:
        assert hides(result("2.2", answer).message, str(right))


# --------------------------------------------------------------------------- 2.3


def loop_conv(image, kernel, strides, pad, *, one_side=False, by_one=False,
              shape_plus=0, np_pad_pair=False):
    """The reference loop, with switches for typical mistakes."""
    (sh, sw), (ph, pw) = strides, pad
    pads = ((ph, 0), (pw, 0)) if one_side else ((ph, ph), (pw, pw))
    padded = np.pad(image, tuple(pad) if np_pad_pair else pads)
    fh, fw = kernel.shape
    oh = (padded.shape[0] - fh) // sh + 1 + shape_plus
    ow = (padded.shape[1] - fw) // sw + 1 + shape_plus
    out = np.zeros((oh, ow))
    for r in range(oh):
        for c in range(ow):
            r0, c0 = (r, c) if by_one else (r * sh, c * sw)
            out[r, c] = np.sum(padded[r0:r0 + fh, c0:c0 + fw] * kernel)
    return out


def test_strided_convolution_passes_and_matches_ops():
    assert result("2.3", loop_conv).passed
    by_ops = result("2.3", lambda im, k, s, p: ops.conv2d(im, k, strides=s, padding=p))
    assert by_ops.passed


@pytest.mark.parametrize("mistake, hint", [
    (lambda im, k, s, p: loop_conv(im, k, s, p, one_side=True), "one side only"),
    (lambda im, k, s, p: loop_conv(im, k, s, (0, 0)), "no zeros were added"),
    (lambda im, k, s, p: loop_conv(im, k, s, p, by_one=True), "moves 1 pixel"),
    (lambda im, k, s, p: loop_conv(im, k, s, p, shape_plus=1), "ran past the edge"),
    (lambda im, k, s, p: loop_conv(im, k, s, p, shape_plus=-1), "+1"),
    (lambda im, k, s, p: loop_conv(im, k, s[::-1], p[::-1]), "swapped"),
    (lambda im, k, s, p: loop_conv(im, k, (1, 1), p), "stride"),
    (lambda im, k, s, p: loop_conv(im, k[::-1, ::-1], s, p), "flipped the kernel"),
])
def test_strided_convolution_mistakes(mistake, hint):
    r = result("2.3", mistake)
    assert r.status == FAILED and r.points < 3, r
    assert hint in r.message, r.message
    assert "[[" not in r.message                      # never prints an array


def test_strided_convolution_partial_credit_and_errors():
    one_side = result("2.3", lambda im, k, s, p: loop_conv(im, k, s, p, one_side=True))
    assert 0 < one_side.points < 3                   # the unpadded probes still pass
    crash = result("2.3", lambda im, k, s, p: im[k])
    assert crash.status == FAILED and "raised" in crash.message
    todo = result("2.3", lambda *args: (_ for _ in ()).throw(NotImplementedError()))
    assert todo.status == NOT_ATTEMPTED
    assert "a function" in result("2.3", 42).message


def test_np_pad_with_a_pair_is_named_and_earns_only_the_slip_share():
    """Review: np.pad(image, pad) got "one window position too many ... rounded down"
    and 2.25 of 3 points, from the probes whose padding is the same on both axes."""
    slip = result("2.3", lambda im, k, s, p: loop_conv(im, k, s, p, np_pad_pair=True))
    assert slip.status == FAILED and "np.pad(image, (P_h, P_w))" in slip.message, slip
    assert "rounded down" not in slip.message and "too many" not in slip.message
    assert slip.points == 1                       # the slip's share: 1/3 of 3 points


def test_a_shape_nobody_explains_gets_no_invented_cause():
    def overhang(im, k, s, p):                    # a window may stick out (ceil)
        padded = np.pad(im, ((p[0], p[0] + s[0]), (p[1], p[1] + s[1])))
        out = ops.conv2d(padded, k, strides=s)
        return out[:-(-(im.shape[0] + 2 * p[0] - k.shape[0]) // s[0]) + 1,
                   :-(-(im.shape[1] + 2 * p[1] - k.shape[1]) // s[1]) + 1]

    assert "overhang" in result("2.3", overhang).message
    odd = result("2.3", lambda im, k, s, p: np.zeros((2, 7)))
    assert odd.status == FAILED and odd.points == 0
    for claim in ("overhang", "rounded", "too many", "short", "swapped", "np.pad"):
        assert claim not in odd.message, odd.message


# --------------------------------------------------------------------------- 2.4


def axis_read(size, kernel, stride):
    read = np.zeros(size, dtype=bool)
    for o in range((size - kernel) // stride + 1):
        read[o * stride:o * stride + kernel] = True
    return read


ROWS, COLS = axis_read(11, 3, 3), axis_read(12, 2, 3)
NEVER = ~(ROWS[:, None] & COLS[None, :])


def test_never_read_passes():
    assert result("2.4", NEVER).passed
    assert result("2.4", NEVER.astype(int)).passed
    assert result("2.4", NEVER.tolist()).passed
    # Keras agrees: changing the unread pixels leaves the output alone.
    import keras

    conv = keras.layers.Conv2D(1, kernel_size=(3, 2), strides=3)
    x = np.random.default_rng(0).normal(size=(1, 11, 12, 1)).astype("float32")
    changed = np.where(NEVER[None, :, :, None], 1e3, x).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv(x)),
                                  keras.ops.convert_to_numpy(conv(changed)))


def test_never_read_mistakes():
    both = result("2.4", ~ROWS[:, None] & ~COLS[None, :])
    assert both.points == 0 and "OR" in both.message
    rows_2, cols_3 = axis_read(11, 2, 3), axis_read(12, 3, 3)   # kernel (2, 3)
    swapped = result("2.4", ~(rows_2[:, None] & cols_3[None, :]))
    assert swapped.points == 0 and "swapped" in swapped.message
    assert "NEVER" in result("2.4", ~NEVER).message
    assert "rows first" in result("2.4", NEVER.T).message
    trailing_only = np.arange(12) < 11                 # misses the gaps between windows
    gaps = result("2.4", ~(ROWS[:, None] & trailing_only[None, :]))
    assert gaps.points == 1 and "narrower than the stride" in gaps.message
    no_rows = result("2.4", ~(np.ones(11, bool)[:, None] & COLS[None, :]))
    assert no_rows.points == 1 and "left over" in no_rows.message
    assert result("2.4", np.zeros((11, 12), bool)).points == 0
    assert "shape" in result("2.4", np.zeros((11, 11), bool)).message
    for answer in (~NEVER, NEVER.T, ~ROWS[:, None] & ~COLS[None, :]):
        message = result("2.4", answer).message
        assert str(int(NEVER.sum())) not in message and "[[" not in message


# --------------------------------------------------------------------------- 2.5


def model(*layers, shape=(28, 28, 1)):
    import keras

    return keras.Sequential([keras.Input(shape=shape), *layers])


def test_halving_model_passes():
    from keras import layers

    assert result("2.5", model(layers.Conv2D(8, 3, strides=2, padding="same"))).passed
    padded = model(layers.ZeroPadding2D(1), layers.Conv2D(8, 3, strides=2))
    assert result("2.5", padded).passed
    after = layers.ZeroPadding2D(((0, 1), (0, 1)))
    assert result("2.5", model(after, layers.Conv2D(8, 3, strides=2))).passed


def test_halving_model_mistakes():
    from keras import layers

    valid = result("2.5", model(layers.Conv2D(8, 3, strides=2)))
    assert valid.points == 1 and "(None, 13, 13, 8)" in valid.message
    assert "floor" in valid.message
    same1 = result("2.5", model(layers.Conv2D(8, 3, padding="same")))
    assert same1.points == 1 and "only at stride 1" in same1.message
    before = layers.ZeroPadding2D(((2, 0), (2, 0)))
    unread = result("2.5", model(before, layers.Conv2D(8, 3, strides=2)))
    assert unread.points == 1.5 and "never read" in unread.message
    pooled = result("2.5", model(layers.Conv2D(8, 3, padding="same"),
                                 layers.MaxPooling2D()))
    assert pooled.points == 0 and "no pooling" in pooled.message
    no_bias = result("2.5", model(layers.Conv2D(8, 3, strides=2, padding="same",
                                               use_bias=False)))
    assert no_bias.points == 1.5 and "biases" in no_bias.message
    kernel = result("2.5", model(layers.Conv2D(8, 2, strides=2)))
    assert kernel.points == 0.5 and "3x3" in kernel.message
    rgb = result("2.5", model(layers.Conv2D(8, 3, strides=2, padding="same"),
                              shape=(28, 28, 3)))
    assert rgb.points == 0 and "(None, 28, 28, 1)" in rgb.message
    assert "Keras model" in result("2.5", "a model").message


# --------------------------------------------------------------------------- 2.6


def test_receptive_field():
    stack = [("a", 3, 1), ("b", 3, 2), ("c", 3, 2), ("d", 3, 1)]
    right = ops.receptive_field(stack)[-1]
    assert result("2.6", right.size).passed
    cases = {9: "stride-1 layers", 13: "not times its own stride",
             23: "jump before the layer", 81: "do not multiply", 12: "not F"}
    for answer, hint in cases.items():
        r = result("2.6", answer)
        assert r.status == FAILED and hint in r.message, (answer, r.message)
        assert hides(r.message, str(right.size), str(answer)), r.message
    doubled = result("2.6", 2 * right.size)            # near() would say "17 too large"
    assert hides(doubled.message, str(right.size), str(2 * right.size)), doubled.message
    assert result("2.6", ...).status == NOT_ATTEMPTED


def test_notebook_check_prints_without_the_answer(capsys):
    EX.check("2.1", 30)
    out = capsys.readouterr().out
    assert out.startswith("[NOT YET] Task 2.1") and "31" not in out


# --------------------------------------------------------------------------- 2.7 and 2.8

QUESTIONS = {"2.7": ("c", ex02.WHY_WRONG_27), "2.8": ("b", ex02.WHY_WRONG_28)}


@pytest.mark.parametrize("task_id", QUESTIONS)
def test_questions_pass_with_the_right_letter(task_id):
    right, _ = QUESTIONS[task_id]
    for answer in (right, right.upper()):
        r = result(task_id, answer)
        assert r.passed and r.message == "correct", r
    assert result(task_id, ...).status == NOT_ATTEMPTED
    assert "one of the letters" in result(task_id, "cd").message


@pytest.mark.parametrize("task_id, letter", [(t, w) for t, (_, why) in QUESTIONS.items()
                                             for w in why])
def test_each_wrong_option_names_its_misconception(task_id, letter):
    right, why_wrong = QUESTIONS[task_id]
    wrong_option_is_explained(result(task_id, letter), letter, right, why_wrong)


def test_the_right_options_are_what_keras_does():
    """2.7: a stride keeps the parameters and quarters the outputs; 2.8: a dilated 3x3
    layer has 9 weights and the window of one neuron spans a 5x5 patch."""
    from keras import layers

    counts = []
    for s in (1, 2):
        layer = layers.Conv2D(32, 3, strides=s, padding="same")
        layer.build((None, 28, 28, 16))
        _, h, w, _ = layer.compute_output_shape((None, 28, 28, 16))
        counts.append((layer.count_params(), h * w))
    assert counts[0][0] == counts[1][0] and counts[0][1] == 4 * counts[1][1]
    dilated = layers.Conv2D(1, 3, dilation_rate=2, use_bias=False)
    dilated.build((None, 5, 5, 1))
    assert dilated.count_params() == 9
    assert dilated.compute_output_shape((None, 5, 5, 1))[1:3] == (1, 1)


# --------------------------------------------------------------------------- delegation
# "Every number of exercise 2 is one ops call away": computed with ops or Keras, it earns
# nothing; worked out with the formulas (Keras used afterwards), it passes.

IMPORTS = "import numpy as np\nimport keras\nfrom keras import layers\nfrom cnn_helpers import ops\n"


@pytest.mark.delegation
@pytest.mark.parametrize("task_id, answer, code", [
    ("2.1", 31, "out_size = ops.conv_output_size(64, 7, 2, 2)"),
    ("2.1", 31, "model = keras.Sequential([keras.Input(shape=(64, 64, 1)), "
                "layers.ZeroPadding2D(2), layers.Conv2D(1, 7, strides=2)])\n"
                "out_size = model.output_shape[1]"),
    ("2.2", (1, 2), "same_pads = ops.same_padding(32, 5, 3)"),
    ("2.4", NEVER, "reads = ops.conv2d(np.eye(132).reshape(132, 11, 12, 1), "
                   "np.ones((3, 2, 1, 1)), strides=(3, 3))\n"
                   "never_read = ~reads.reshape(132, -1).any(axis=1).reshape(11, 12)"),
    ("2.6", 17, "field_size = ops.receptive_field([('a', 3, 1), ('b', 3, 2), ('c', 3, 2), "
                "('d', 3, 1)])[-1].size"),
])
def test_numbers_from_ops_or_keras_earn_nothing(task_id, answer, code):
    r = EX.result(task_id, answer, sources=[IMPORTS, code])
    assert r.status == FAILED and r.points == 0, r
    assert "no credit" in r.message and "yourself" in r.message, r.message


@pytest.mark.delegation
def test_numbers_by_hand_pass_with_keras_used_afterwards():
    code = ("I, F, S, P = 64, 7, 2, 2\n"
            "out_size = (I + 2 * P - F) // S + 1\n"
            "model = keras.Sequential([keras.Input(shape=(64, 64, 1)), "
            "layers.ZeroPadding2D(2), layers.Conv2D(1, 7, strides=2)])\n"
            "assert model.output_shape[1] == out_size == ops.conv_output_size(64, 7, 2, 2)\n")
    assert EX.result("2.1", 31, sources=[IMPORTS, code]).passed
    pads = ("O = -(-32 // 3)\ntotal = (O - 1) * 3 + 5 - 32\n"
            "same_pads = (total // 2, total - total // 2)\n")
    assert EX.result("2.2", (1, 2), sources=[IMPORTS, pads]).passed


@pytest.mark.delegation
def test_the_halving_model_may_use_keras_of_course():
    code = ("halving_model = keras.Sequential([keras.Input(shape=(28, 28, 1)), "
            "layers.Conv2D(8, 3, strides=2, padding='same')])")
    from keras import layers

    answer = model(layers.Conv2D(8, 3, strides=2, padding="same"))
    assert EX.result("2.5", answer, sources=[IMPORTS, code]).passed
