"""Learning-rate schedules of ``tf.compat.v1.train``: ``exponential_decay``, ``piecewise_constant``,
``polynomial_decay``, ``natural_exp_decay``, ``inverse_time_decay``, ``cosine_decay``.

Each returns the decayed learning rate as a scalar Tensor of the global step, built with the
nodes TensorFlow 1.x builds (its legacy Keras schedules called once in graph mode): a name
scope ``ExponentialDecay/`` (``PolynomialDecay``, ...; or ``name``) holding
``initial_learning_rate``, the casts of the hyper-parameters and of the step to the learning
rate's dtype (``Cast``, ``Cast_1``, ...), and a last op named after the scope.

``piecewise_constant`` builds TF's comparisons but selects the value with ``SelectV2`` nodes
where TF builds ``tf.case`` (``Switch``/``Merge`` conditionals, which gmeta does not run):
same values, a different subgraph under ``PiecewiseConstant/case/``.
"""

from __future__ import annotations

import math

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.ops import array_ops, math_ops
from gmeta.ops.constant_op import constant

__all__ = [
    "cosine_decay", "exponential_decay", "inverse_time_decay", "natural_exp_decay",
    "piecewise_constant", "polynomial_decay",
]


def _scope(name, default):
    """TF's ``name_scope_v2`` in a graph: the scope ``name or default``, made unique."""
    return ops_lib.get_default_graph().name_scope(name or default)


def _check_step(global_step, fn):
    if global_step is None:
        raise ValueError(f"global_step is required for {fn}.")


def _initial(learning_rate):
    lr = ops_lib.convert_to_tensor(learning_rate, name="initial_learning_rate")
    return lr, lr.dtype


def _exponential(learning_rate, global_step, decay_steps, decay_rate, staircase, name):
    with _scope(name, "ExponentialDecay") as scope:
        initial, dtype = _initial(learning_rate)
        decay_steps = math_ops.cast(decay_steps, dtype)
        decay_rate = math_ops.cast(decay_rate, dtype)
        p = math_ops.cast(global_step, dtype) / decay_steps
        if staircase:
            p = math_ops.floor(p)
        return math_ops.multiply(initial, math_ops.pow(decay_rate, p), name=scope)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """``learning_rate * decay_rate ^ (global_step / decay_steps)``.

    Args:
        learning_rate: the initial learning rate (a float or scalar float Tensor).
        global_step: the step (a scalar int Tensor or Variable); must not be None.
        decay_steps: steps per decay period (positive).
        decay_rate: the factor per period.
        staircase: decay at integer periods only (``floor(global_step / decay_steps)``).
        name: the name scope (default ``ExponentialDecay``).

    Returns:
        A scalar Tensor of ``learning_rate``'s dtype.

    Raises:
        ValueError: ``global_step`` is None.
    """
    _check_step(global_step, "exponential_decay")
    return _exponential(learning_rate, global_step, decay_steps, decay_rate, staircase, name)


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """``learning_rate * exp(-decay_rate * global_step / decay_steps)``: an
    :func:`exponential_decay` by ``exp(-decay_rate)`` (computed before its scope, as TF does).

    Raises:
        ValueError: ``global_step`` is None.
    """
    _check_step(global_step, "natural_exp_decay")
    natural_exp_rate = math_ops.exp(math_ops.negative(decay_rate))
    return _exponential(learning_rate, global_step, decay_steps, natural_exp_rate, staircase,
                        name)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False, name=None):
    """``(lr - end) * (1 - step / decay_steps) ^ power + end``, the step clipped at
    ``decay_steps``, or with ``cycle`` ``decay_steps`` multiplied by ``ceil(step / decay_steps)``
    (1 at step 0).

    Raises:
        ValueError: ``global_step`` is None.
    """
    _check_step(global_step, "polynomial_decay")
    with _scope(name, "PolynomialDecay") as scope:
        initial, dtype = _initial(learning_rate)
        end_learning_rate = math_ops.cast(end_learning_rate, dtype)
        power = math_ops.cast(power, dtype)
        step = math_ops.cast(global_step, dtype)
        decay_steps_t = math_ops.cast(decay_steps, dtype)
        if cycle:
            multiplier = array_ops.where_v2(math_ops.equal(step, 0), 1.0,
                                            math_ops.ceil(step / decay_steps))
            decay_steps_t = math_ops.multiply(decay_steps_t, multiplier)
        else:
            step = math_ops.minimum(step, decay_steps_t)
        p = math_ops.divide(step, decay_steps_t)
        return math_ops.add(math_ops.multiply(initial - end_learning_rate,
                                              math_ops.pow(1 - p, power)),
                            end_learning_rate, name=scope)


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                       name=None):
    """``learning_rate / (1 + decay_rate * global_step / decay_steps)`` (the quotient floored
    with ``staircase``).

    Raises:
        ValueError: ``global_step`` is None.
    """
    _check_step(global_step, "inverse_time_decay")
    with _scope(name, "InverseTimeDecay") as scope:
        initial, dtype = _initial(learning_rate)
        decay_steps = math_ops.cast(decay_steps, dtype)
        decay_rate = math_ops.cast(decay_rate, dtype)
        p = math_ops.cast(global_step, dtype) / decay_steps
        if staircase:
            p = math_ops.floor(p)
        one = math_ops.cast(constant(1), dtype)
        denom = math_ops.add(one, math_ops.multiply(decay_rate, p))
        return math_ops.divide(initial, denom, name=scope)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) +
    alpha)``.

    Raises:
        ValueError: ``global_step`` is None.
    """
    _check_step(global_step, "cosine_decay")
    with _scope(name, "CosineDecay"):
        initial, dtype = _initial(learning_rate)
        decay_steps = math_ops.cast(decay_steps, dtype)
        step = math_ops.minimum(math_ops.cast(global_step, dtype), decay_steps)
        completed_fraction = step / decay_steps
        cosine_decayed = 0.5 * (1.0 + math_ops.cos(constant(math.pi) * completed_fraction))
        decayed = (1 - alpha) * cosine_decayed + alpha
        return math_ops.multiply(initial, decayed)


def piecewise_constant(x, boundaries, values, name=None):
    """``values[0]`` while ``x <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < x <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Args:
        x: a scalar Tensor (the step).
        boundaries: increasing boundaries of ``x``'s dtype (int32 ones are cast for int64 ``x``).
        values: one more value than boundaries, all of one dtype.
        name: the name scope (default ``PiecewiseConstant``).

    Raises:
        ValueError: dtypes differ, or ``len(values) != len(boundaries) + 1``.
    """
    boundaries = [ops_lib.convert_to_tensor(b) for b in _flat(boundaries)]
    values = [ops_lib.convert_to_tensor(v) for v in _flat(values)]
    x = ops_lib.convert_to_tensor(x)
    for i, b in enumerate(boundaries):
        if b.dtype.base_dtype != x.dtype.base_dtype:
            if b.dtype.base_dtype == dtypes.int32 and x.dtype.base_dtype == dtypes.int64:
                boundaries[i] = math_ops.cast(b, x.dtype.base_dtype)
            else:
                raise ValueError(f"Boundaries ({b.dtype.base_dtype.name}) must have the same "
                                 f"dtype as x ({x.dtype.base_dtype.name}).")
    for v in values[1:]:
        if v.dtype.base_dtype != values[0].dtype.base_dtype:
            raise ValueError(f"Values must have elements all with the same dtype "
                             f"({values[0].dtype.base_dtype.name} vs {v.dtype.base_dtype.name}).")
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with _scope(name, "PiecewiseConstant"):
        pairs = [(x <= boundaries[0], values[0]), (x > boundaries[-1], values[-1])]
        for low, high, v in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            pairs.append(((x > low) & (x <= high), v))
        with ops_lib.get_default_graph().name_scope("case"):
            # tf.case(pairs, default=values[0], exclusive=True): at most one predicate holds.
            out = values[0]
            for pred, v in reversed(pairs):
                out = array_ops.where_v2(pred, v, out)
            return out


def _flat(items):
    if isinstance(items, (list, tuple)):
        out = []
        for x in items:
            out.extend(_flat(x))
        return out
    return [items]
