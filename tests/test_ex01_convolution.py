"""The checks of exercise 1 (convolution) added for issue 18, called directly: the trained
filter of task 1.6, the questions 1.7 and 1.8, and the "work it out yourself" rule of the
number tasks. (The checks of tasks 1.1-1.5 are tested in tests/test_grading.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from cnn_helpers import grading
from cnn_helpers.grading import FAILED, NOT_ATTEMPTED, PASSED
from cnn_helpers.grading.tasks import ex01_convolution as ex01

from conftest import wrong_option_is_explained

EX1 = grading.exercise("01_convolution")
SOBEL_V = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_H = SOBEL_V.T


def _result(task_id: str, answer, sources=()) -> grading.Result:
    return EX1.result(task_id, answer, sources=list(sources))


def test_tasks_and_points():
    assert [t.id for t in EX1.tasks] == [f"1.{n}" for n in range(1, 9)]
    assert sum(t.points for t in EX1.tasks) == 11
    assert EX1.task("1.6").kind == "model" and EX1.task("1.6").answer == "learner"
    assert EX1.smoke == {"LEARN_IMAGES": 1000, "LEARN_EPOCHS": 8}


# --------------------------------------------------------------------------- 1.6


def _learner(kernel=None, *, optimizer="adam", steps=10, filters=1, size=3,
             padding="valid", extra=False):
    """A ``learner`` as a student might hand it in: ``kernel`` (3x3) set as its weights
    (None: Keras' random start), compiled with ``optimizer`` ("adam" is the task's
    Adam(0.05), None leaves it uncompiled), and ``steps`` optimizer steps recorded."""
    import keras

    layers = [keras.layers.Conv2D(filters, (size, size), padding=padding)]
    if extra:
        layers += [keras.layers.Flatten(), keras.layers.Dense(1)]
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), *layers])
    if kernel is not None:
        model.layers[0].set_weights([np.asarray(kernel, "float32")[:, :, None, None],
                                     np.zeros(1, "float32")])
    if optimizer is not None:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05)
                      if optimizer == "adam" else optimizer, loss="mse")
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(steps)
    return model


def test_16_the_solutions_training_passes_at_the_graders_size(data_dir):
    import keras

    from cnn_helpers import datasets, ops

    keras.utils.set_random_seed(1)                      # the slowest seed tried
    (digits, _), _ = datasets.load_mnist(n_train=ex01.SMOKE["LEARN_IMAGES"], seed=1)
    inputs = digits[..., None].astype("float32") / 255
    targets = ops.conv2d(inputs, SOBEL_H[:, :, None, None]).astype("float32")
    learner = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(1, 3)])
    learner.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="mse")
    learner.fit(inputs, targets, epochs=ex01.SMOKE["LEARN_EPOCHS"], batch_size=32, verbose=0)
    result = _result("1.6", learner)
    assert result.passed, result
    assert "close to the horizontal Sobel filter" in result.message


def test_16_a_kernel_within_the_goal_or_the_floor_passes():
    near = _result("1.6", _learner(SOBEL_H + 0.01))
    assert near.passed and "every weight within 0.05" in near.message
    floor = _result("1.6", _learner(SOBEL_H + 0.5))
    assert floor.passed and "at its small size" in floor.message


@pytest.mark.parametrize("kernel, hint", [
    (-SOBEL_H + 0.2, "opposite sign"),
    (SOBEL_V, "vertical Sobel filter"),
    (-SOBEL_V, "vertical Sobel filter"),
    (SOBEL_H * 0.5, "on its way"),
])
def test_16_the_wrong_filter_or_too_little_training_gets_half(kernel, hint):
    result = _result("1.6", _learner(kernel))
    assert result.status == FAILED and result.points == 0.5, result
    assert hint in result.message, result.message


def test_16_an_untrained_or_unrelated_kernel_earns_nothing():
    set_by_hand = _result("1.6", _learner(SOBEL_H, steps=0))
    assert set_by_hand.points == 0 and "never trained" in set_by_hand.message
    uncompiled = _result("1.6", _learner(SOBEL_H, optimizer=None))
    assert uncompiled.points == 0 and "never trained" in uncompiled.message
    random_start = _result("1.6", _learner())
    assert random_start.points == 0 and "not the horizontal Sobel filter" in random_start.message
    wrong_and_sgd = _result("1.6", _learner(optimizer="sgd"))
    assert wrong_and_sgd.points == 0 and "Adam(learning_rate=0.05)" in wrong_and_sgd.message


def test_16_the_tasks_optimizer_is_required():
    import keras

    other = _result("1.6", _learner(SOBEL_H, optimizer=keras.optimizers.RMSprop(0.05)))
    assert other.points == 0.5 and "compiled with RMSprop at 0.05" in other.message
    slow = _result("1.6", _learner(SOBEL_H, optimizer=keras.optimizers.Adam(0.001)))
    assert slow.points == 0.5 and "Adam at 0.001" in slow.message
    both = _result("1.6", _learner(SOBEL_V, optimizer="sgd"))
    assert both.points == 0.25
    assert "vertical" in both.message and "SGD" in both.message


@pytest.mark.parametrize("kwargs, hint", [
    ({"filters": 2}, "one 3x3 filter"),
    ({"size": 5}, "one 3x3 filter"),
    ({"padding": "same"}, "(None, 26, 26, 1)"),
    ({"extra": True}, "exactly one layer with weights"),
])
def test_16_the_learner_must_be_one_conv2d(kwargs, hint):
    result = _result("1.6", _learner(**kwargs))
    assert result.status == FAILED and result.points == 0
    assert hint in result.message, result.message


def test_16_a_history_earns_nothing():
    made_up = _result("1.6", {"loss": [1.0, 0.1, 0.001]})
    assert made_up.status == FAILED and made_up.points == 0
    assert "Keras model" in made_up.message
    assert _result("1.6", ...).status == NOT_ATTEMPTED


# --------------------------------------------------------------------------- 1.7 and 1.8

QUESTIONS = {"1.7": ("d", ex01.WHY_WRONG_17), "1.8": ("c", ex01.WHY_WRONG_18)}


@pytest.mark.parametrize("task_id", QUESTIONS)
def test_questions_pass_with_the_right_letter(task_id):
    right, _ = QUESTIONS[task_id]
    for answer in (right, right.upper(), f" {right} "):
        result = _result(task_id, answer)
        assert result.passed and result.message == "correct", result


@pytest.mark.parametrize("task_id, letter", [(t, w) for t, (_, why) in QUESTIONS.items()
                                             for w in why])
def test_each_wrong_option_names_its_misconception(task_id, letter):
    right, why_wrong = QUESTIONS[task_id]
    wrong_option_is_explained(_result(task_id, letter), letter, right, why_wrong)


@pytest.mark.parametrize("task_id", QUESTIONS)
def test_questions_want_one_letter(task_id):
    assert "one of the letters" in _result(task_id, "e").message
    assert "one of the letters" in _result(task_id, 4).message
    assert "one of the letters" in _result(task_id, "ad").message
    assert _result(task_id, ...).status == NOT_ATTEMPTED


def test_the_shifted_digit_answer_is_what_keras_does():
    """Task 1.7's right option, checked: the maps of a shifted digit are the shifted maps."""
    import keras

    layer = keras.layers.Conv2D(1, 3)
    x = np.zeros((1, 28, 28, 1), "float32")
    x[0, 8:20, 6:18, 0] = np.random.default_rng(0).uniform(size=(12, 12))
    moved = np.roll(x, 3, axis=2)
    a, b = (keras.ops.convert_to_numpy(layer(v)) for v in (x, moved))
    np.testing.assert_allclose(b[:, :, 3:], a[:, :, :-3], atol=1e-5)
    assert not np.allclose(a, b)


# --------------------------------------------------------------------------- delegation

IMPORTS = "import keras\nfrom keras import layers\nfrom cnn_helpers import grading, ops\n"


@pytest.mark.delegation
@pytest.mark.parametrize("task_id, answer, code", [
    ("1.1", 28, "output_size = ops.conv_output_size(32, 5)"),
    ("1.1", 28, "output_size = layers.Conv2D(1, 5).compute_output_shape((None, 32, 32, 3))[1]"),
    ("1.2", 1168, "n_params = ops.conv_params(8, 3, 16)"),
    ("1.2", 1168, "layer = layers.Conv2D(16, (3, 3))\nlayer.build((None, 64, 64, 8))\n"
                  "n_params = layer.count_params()"),
])
def test_numbers_from_ops_or_keras_earn_nothing(task_id, answer, code):
    result = _result(task_id, answer, [IMPORTS, code])
    assert result.status == FAILED and result.points == 0, result
    assert "no credit" in result.message and "yourself" in result.message


@pytest.mark.delegation
def test_numbers_by_hand_pass_with_keras_used_afterwards():
    code = ("n_params = (8 * 3 * 3 + 1) * 16\n"
            "layer = layers.Conv2D(16, (3, 3))\nlayer.build((None, 64, 64, 8))\n"
            "assert layer.count_params() == n_params\n")
    assert _result("1.2", 1168, [IMPORTS, code]).passed
    assert _result("1.1", 28, [IMPORTS, "output_size = 32 - 5 + 1"]).passed


@pytest.mark.delegation
def test_16_targets_made_with_ops_are_allowed():
    code = ("targets = ops.conv2d(inputs, sobel_h[:, :, None, None])\n"
            "learner = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(1, 3)])\n"
            "learner.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss='mse')\n"
            "history = learner.fit(inputs, targets, epochs=8)\n")
    assert _result("1.6", _learner(SOBEL_H + 0.01), [IMPORTS, code]).status == PASSED


@pytest.mark.delegation
def test_convolution_from_scratch_may_not_call_ops():
    from cnn_helpers import ops

    result = EX1.result("1.3", lambda image, kernel: ops.conv2d(image, kernel))
    assert result.status == FAILED and result.points == 0
    assert "ops.conv2d" in result.message


def test_15_a_model_whose_later_layer_zeroes_the_output_loses_half():
    import keras

    from cnn_helpers.grading import exercises

    ex = exercises.exercise("01_convolution")
    sobel_v = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernel = np.stack([sobel_v, sobel_v.T], axis=-1)[:, :, np.newaxis, :]
    good = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(2, 3, use_bias=False)])
    good.layers[0].set_weights([kernel])
    assert ex.result("1.5", good).passed
    zeroed = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(2, 3, use_bias=False),
                               keras.layers.Rescaling(0.0)])
    zeroed.layers[0].set_weights([kernel])
    result = ex.result("1.5", zeroed)
    assert result.points == 1.0 and "a layer after it changes it" in result.message
