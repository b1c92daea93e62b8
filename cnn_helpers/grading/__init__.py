"""Exercise checks and the grader: instant feedback in the notebook, the same verdicts at grading.

The group, bottom to top (each module imports only those above it in this list):

* :mod:`~cnn_helpers.grading.protocol`: how an answer travels as plain data (no pickle),
  probe seeds, and limits on what is read back;
* :mod:`~cnn_helpers.grading.checks`: building blocks for checks (numbers, arrays, probes,
  models, training histories) and the hint policy every exercise follows;
* :mod:`~cnn_helpers.grading.exercises`: :class:`Task`, :class:`Result`, :func:`verify`, the
  notebook-facing :class:`Exercise` and the registry :data:`EXERCISES`;
* :mod:`~cnn_helpers.grading.tasks`: one module of task definitions per exercise notebook;
* :mod:`~cnn_helpers.grading.replay`, :mod:`~cnn_helpers.grading.sandbox`,
  :mod:`~cnn_helpers.grading.runner`, :mod:`~cnn_helpers.grading.cli`: the grader
  (``cnn-grade``, also ``python -m cnn_helpers.grade``).

The library modules the chapters use (``ops``, ``models``, ``training``, ...) never import
this package.
"""

from cnn_helpers.grading.checks import (
    ACTIVATION_LAYERS,
    Problems,
    Progress,
    activation_after,
    arrays_agree,
    as_float_array,
    choice,
    compare_arrays,
    model_shapes,
    partial_for,
    near,
    number_answer,
    output_layer_problems,
    probe_rng,
    probe_verdict,
    training_losses,
    training_progress,
    use_probe_seed,
    val_accuracy_key,
)
from cnn_helpers.grading.exercises import (
    ERROR,
    EXERCISES,
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Exercise,
    Result,
    Task,
    exercise,
    verify,
)
from cnn_helpers.grading.protocol import (
    PROBE_SECONDS,
    ExportError,
    Failure,
    export_answers,
    load_exported,
)

__all__ = ["ACTIVATION_LAYERS", "ERROR", "EXERCISES", "FAILED", "NOT_ATTEMPTED", "PASSED",
           "PROBE_SECONDS", "Exercise", "ExportError", "Failure", "Problems", "Progress", "Result",
           "Task", "activation_after", "arrays_agree", "as_float_array", "choice",
           "compare_arrays", "exercise", "export_answers", "model_shapes", "partial_for",
           "load_exported", "near", "number_answer", "output_layer_problems", "probe_rng",
           "probe_verdict", "training_losses", "training_progress", "use_probe_seed",
           "val_accuracy_key", "verify"]
