"""The global step: ``create_global_step``, ``get_global_step``, ``get_or_create_global_step``,
``global_step`` — TF's nodes (``global_step``, ``global_step/Initializer/zeros``, ...), collections
and VariableDef (int64 scalar, not trainable, aggregation ONLY_FIRST_REPLICA)."""

from __future__ import annotations

import numpy as np

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.ops import GraphKeys


def get_global_step(graph=None):
    """The global step variable (or tensor) of ``graph``, or None.

    Raises:
        TypeError: the GLOBAL_STEP collection holds more than one item, or one that is not an
            integer scalar.
    """
    graph = graph or ops_lib.get_default_graph()
    steps = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(steps) == 1:
        step = steps[0]
    elif not steps:
        try:
            step = graph.get_tensor_by_name("global_step:0")
        except KeyError:
            return None
    else:
        raise TypeError(f"Multiple tensors in global_step collection: {steps}")
    if not step.dtype.base_dtype.is_integer:
        raise TypeError(f"Existing \"global_step\" does not have integer type: {step.dtype}")
    if step.get_shape().ndims != 0 and step.get_shape().is_fully_defined():
        raise TypeError(f"Existing \"global_step\" is not scalar: {step.get_shape()}")
    return step


def create_global_step(graph=None):
    """Creates the global step variable in ``graph``.

    Raises:
        ValueError: a global step already exists.
    """
    from gmeta.ops import init_ops, variable_scope
    from gmeta.ops.variables import VariableAggregation

    graph = graph or ops_lib.get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return variable_scope.get_variable(
            GraphKeys.GLOBAL_STEP, shape=[], dtype=dtypes.int64,
            initializer=init_ops.zeros_initializer(), trainable=False,
            aggregation=VariableAggregation.ONLY_FIRST_REPLICA,
            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    graph = graph or ops_lib.get_default_graph()
    step = get_global_step(graph)
    return create_global_step(graph) if step is None else step


def global_step(sess, global_step_tensor) -> int:
    """The global step's current value as a Python int."""
    return int(np.asarray(sess.run(global_step_tensor)))
