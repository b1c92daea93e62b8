"""Gradients on any Keras backend, for checking hand-derived backward passes.

Keras 3 computes gradients inside ``model.fit`` on TensorFlow, JAX or PyTorch, but has no
backend-neutral "give me d f / d x" function. :func:`gradients` is that function: write
``f`` with ``keras.ops`` (or a Keras model) and get NumPy arrays back, whichever backend
runs the notebook.

Introduced in chapter 3 (Pooling: receptive fields measured with gradients) and used in
chapter 5 (backpropagation, and section 5.7, the backward pass of a convolution).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["gradients"]


def gradients(fn: Callable[..., Any], *args: np.ndarray) -> list[np.ndarray]:
    """``[d fn(*args) / d arg for arg in args]`` for a function returning a scalar.

    Args:
        fn: takes backend tensors (one per ``args``) and returns a scalar tensor, e.g.
            ``lambda x: keras.ops.sum(model(x)[0, 5, 5, :])``.
        args: the point at which to differentiate (NumPy arrays, cast to float32).
    """
    import keras

    if not args:
        raise ValueError("gradients needs at least one argument to differentiate with respect to")
    values = [np.asarray(a, dtype="float32") for a in args]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.Variable(v) for v in values]
        with tf.GradientTape() as tape:
            out = fn(*tensors)
        grads = tape.gradient(out, tensors)
        return [np.zeros_like(v) if g is None else np.asarray(g) for v, g in zip(values, grads)]
    if backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(values))))(*values)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        tensors = [keras.ops.convert_to_tensor(v).detach().requires_grad_(True) for v in values]
        fn(*tensors).backward()
        return [np.zeros_like(v) if t.grad is None else t.grad.detach().cpu().numpy()
                for v, t in zip(values, tensors)]
    raise RuntimeError(f"gradients: unsupported Keras backend {backend!r}")
