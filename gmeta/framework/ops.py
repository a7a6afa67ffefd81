"""Graph, Operation and Tensor: a NodeDef-shaped graph model with TensorFlow's naming rules.

An :class:`Operation` holds exactly what a NodeDef holds — name, op type, data inputs,
control inputs, requested device and attrs (as ``AttrValue`` protos, so files round-trip
losslessly) — plus its output tensors with their static dtype and shape.

The classes live in private modules (``_graph_elements.py``: Tensor and Operation;
``_graph.py``: Graph) and are re-exported here, their public home; this module holds the
default graph, ``GraphKeys``, the module-level helpers on the default graph and tensor
conversion.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Optional

from gmeta import dtypes
from gmeta.framework._graph import (  # re-exported: the public (and ops_lib.<name>) home
    GRAPH_DEF_VERSION as GRAPH_DEF_VERSION,
    GRAPH_DEF_VERSION_MIN_CONSUMER as GRAPH_DEF_VERSION_MIN_CONSUMER,
    Graph,
    _as_operation as _as_operation,
    _graph_stack,
    _name_from_scope_name as _name_from_scope_name,
)
from gmeta.framework._graph_elements import (
    OperatorNotAllowedInGraphError as OperatorNotAllowedInGraphError,
    Operation,
    Tensor,
)

_global_default_graph: Optional["Graph"] = None


def get_default_graph() -> "Graph":
    """The innermost graph of ``as_default()`` blocks, else the global default graph."""
    if _graph_stack.stack:
        return _graph_stack.stack[-1]
    global _global_default_graph
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    """Replaces the global default graph with a new, empty one."""
    if _graph_stack.stack:
        raise AssertionError("Do not use reset_default_graph() to clear nested graphs. If you "
                             "need a cleared graph, exit the nesting and create a new graph.")
    global _global_default_graph
    _global_default_graph = Graph()
    from gmeta import session as _session

    _session._clear_default_sessions()


class GraphKeys:
    """Standard collection names (``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    METRIC_VARIABLES = "metric_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    TABLE_INITIALIZERS = "table_initializer"
    ASSET_FILEPATHS = "asset_filepaths"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    CONCATENATED_VARIABLES = "concatenated_variables"
    SAVERS = "savers"
    WEIGHTS = "weights"
    BIASES = "biases"
    ACTIVATIONS = "activations"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    SAVEABLE_OBJECTS = "saveable_objects"
    RESOURCES = "resources"
    LOCAL_RESOURCES = "local_resources"
    TRAINABLE_RESOURCE_VARIABLES = "trainable_resource_variables"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    READY_FOR_LOCAL_INIT_OP = "ready_for_local_init_op"
    SUMMARY_OP = "summary_op"
    GLOBAL_STEP = "global_step"
    EVAL_STEP = "eval_step"
    TRAIN_OP = "train_op"
    COND_CONTEXT = "cond_context"
    WHILE_CONTEXT = "while_context"
    _VARIABLE_COLLECTIONS = [GLOBAL_VARIABLES, LOCAL_VARIABLES, METRIC_VARIABLES, MODEL_VARIABLES,
                             TRAINABLE_VARIABLES, MOVING_AVERAGE_VARIABLES, CONCATENATED_VARIABLES,
                             TRAINABLE_RESOURCE_VARIABLES]


# -- module-level helpers on the default graph ---------------------------------------------------
class name_scope_v1:  # noqa: N801 - TF's public name, used as a function
    """``tf.compat.v1.name_scope(name, default_name=None, values=None)``.

    Enters the scope ``name`` (or ``default_name`` when ``name`` is None) in the graph of
    ``values`` (the default graph when they hold no graph element), which also becomes the
    default graph for the block; yields the scope string ("outer/name/").

    Raises:
        TypeError: ``default_name`` is not a string (values passed in its place).
        ValueError: neither name nor default_name is given but values are; or values come
            from different graphs; or the name is not a valid scope name.
    """

    def __init__(self, name, default_name=None, values=None):
        if not (default_name is None or isinstance(default_name, str)):
            raise TypeError(f"`default_name` type ({type(default_name)}) is not a string type. "
                            "You likely meant to pass this into the `values` kwarg.")
        self._name = default_name if name is None else name
        self._default_name = default_name
        self._values = values
        self._stack = None

    def __enter__(self):
        if self._name is None and self._values is not None:
            raise ValueError(f"At least one of name ({self._name}) and default_name "
                             f"({self._default_name}) must be provided.")
        g = _get_graph_from_inputs(self._values or [])
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(g.as_default())
            scope = stack.enter_context(g.name_scope(self._name))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return scope

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc)


def _get_graph_from_inputs(values) -> "Graph":
    """The graph of the graph elements among ``values``, else the default graph.

    Raises:
        ValueError: two elements come from different graphs.
    """
    graph = None
    first = None
    for v in values:
        if isinstance(v, (Tensor, Operation)):
            element = v
        else:
            conv = getattr(v, "_as_graph_element", None)
            element = conv() if conv is not None and callable(conv) else None
        if element is None:
            continue
        if graph is None:
            graph, first = element.graph, element
        elif element.graph is not graph:
            raise ValueError(f"{element!r} must be from the same graph as {first!r} (graphs "
                             f"are {element.graph!r} and {graph!r}).")
    return graph or get_default_graph()


def _graph_of(values):
    return _get_graph_from_inputs(values or ())


def device(device_name_or_function):
    return get_default_graph().device(device_name_or_function)


def colocate_with(op, ignore_existing=False):
    return get_default_graph().colocate_with(op, ignore_existing)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


def container(container_name):
    return get_default_graph().container(container_name)


def get_name_scope():
    return get_default_graph().get_name_scope()


# -- tensor conversion --------------------------------------------------------------------------
_conversion_functions: list[tuple[type, Callable]] = []


def register_tensor_conversion_function(base_type, conversion_func, priority=100):
    """Registers ``conversion_func(value, dtype=None, name=None, as_ref=False)`` for a type."""
    _conversion_functions.append((base_type, conversion_func))


def convert_to_tensor(value, dtype=None, name=None, as_ref=False, preferred_dtype=None,
                      dtype_hint=None) -> Tensor:
    """Converts ``value`` (Tensor, Variable, numpy or Python value) to a Tensor.

    Python values become ``Const`` ops; lists that contain tensors are packed (``Pack``).
    Raises:
        TypeError: the value cannot be converted, or its dtype differs from ``dtype``.
    """
    preferred_dtype = preferred_dtype or dtype_hint
    if isinstance(value, Tensor):
        if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(value.dtype):
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} "
                             f"for Tensor with dtype {value.dtype.name}: {value!r}")
        if not as_ref and value.dtype.is_ref_dtype:
            return value
        return value
    for base, fn in _conversion_functions:
        if isinstance(value, base):
            return fn(value, dtype=dtype, name=name, as_ref=as_ref)
    if isinstance(value, Operation):
        raise TypeError(f"Can't convert Operation {value.name!r} to Tensor (target dtype="
                        f"{dtype}, name={name!r}, as_ref={as_ref})")
    if isinstance(value, (list, tuple)) and _contains_tensor(value):
        from gmeta.ops import array_ops

        return array_ops._autopacking(value, dtype, name or "packed")
    from gmeta.ops import constant_op

    if dtype is None and preferred_dtype is not None:
        try:
            return constant_op.constant(value, dtype=preferred_dtype, name=name or "Const")
        except (TypeError, ValueError):
            pass
    return constant_op.constant(value, dtype=dtype, name=name or "Const")


def _contains_tensor(value) -> bool:
    for v in value:
        if isinstance(v, Tensor) or any(isinstance(v, b) for b, _ in _conversion_functions):
            return True
        if isinstance(v, (list, tuple)) and _contains_tensor(v):
            return True
    return False


def convert_n_to_tensor(values, dtype=None, name=None, preferred_dtype=None) -> list:
    return [convert_to_tensor(v, dtype=dtype, preferred_dtype=preferred_dtype,
                              name=None if name is None else f"{name}_{i}")
            for i, v in enumerate(values)]


def convert_to_tensor_or_indexed_slices(value, dtype=None, name=None):
    if hasattr(value, "indices") and hasattr(value, "values") and hasattr(value, "dense_shape"):
        return value
    return convert_to_tensor(value, dtype=dtype, name=name)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)
