"""Task definitions of the exercise notebooks: ``ex<NN_topic>.py`` for ``exercises/<NN_topic>.ipynb``.

Each module defines ``TASKS`` (a list of :class:`cnn_helpers.grading.Task`) and ``SMOKE``
(the parameters with which the grader and CI run the notebook).
"""
