"""Graph, Operation and Tensor: a NodeDef-shaped graph model with TensorFlow's naming rules.

An :class:`Operation` holds exactly what a NodeDef holds — name, op type, data inputs,
control inputs, requested device and attrs (as ``AttrValue`` protos, so files round-trip
losslessly) — plus its output tensors with their static dtype and shape.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Callable, Optional

from gmeta import dtypes
from gmeta import errors as _errors
from gmeta.devices import spec as device_spec
from gmeta.framework import attr_value as attr_lib
from gmeta.framework.tensor_shape import TensorShape, as_shape

_VALID_OP_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
_VALID_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


if hasattr(_errors, "OperatorNotAllowedInGraphError"):
    OperatorNotAllowedInGraphError = _errors.OperatorNotAllowedInGraphError
else:
    class OperatorNotAllowedInGraphError(TypeError):
        """TF's ``tf.errors.OperatorNotAllowedInGraphError``: a Python operation on a symbolic
        Tensor that only eager tensors support (``bool(t)``, ``for x in t``)."""


class Tensor:
    """A symbolic output of an :class:`Operation` (``op.outputs[value_index]``)."""

    __slots__ = ("_op", "_value_index", "_dtype", "_shape", "__weakref__")

    # Make numpy defer to our operators (``np_array + tensor`` -> Tensor.__radd__).
    __array_priority__ = 100

    def __init__(self, op: "Operation", value_index: int, dtype: dtypes.DType):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = TensorShape(None)

    @property
    def op(self) -> "Operation":
        return self._op

    @property
    def value_index(self) -> int:
        return self._value_index

    @property
    def dtype(self) -> dtypes.DType:
        return self._dtype

    @property
    def graph(self) -> "Graph":
        return self._op._graph

    @property
    def name(self) -> str:
        return f"{self._op._name}:{self._value_index}"

    @property
    def device(self) -> str:
        return self._op.device

    @property
    def shape(self) -> TensorShape:
        s = self._shape
        if s is None:  # an imported node's recorded shape, decoded on first use
            s = self._op._decode_recorded_shapes()[self._value_index]
        return s

    def get_shape(self) -> TensorShape:
        return self.shape

    def set_shape(self, shape) -> None:
        """Refines the static shape; raises ValueError when ``shape`` is incompatible."""
        try:
            self._shape = self.shape.merge_with(as_shape(shape))
        except ValueError:
            raise ValueError(f"Tensor {self.name} has shape {self.shape}, which is not "
                             f"compatible with the shape {as_shape(shape)} being set") from None

    def consumers(self) -> list["Operation"]:
        return [op for op in self._op._graph._consumers.get(self, ())]

    def eval(self, feed_dict=None, session=None):
        from gmeta.session import _session_for

        return _session_for(self.graph, session).run(self, feed_dict)

    def _as_node_def_input(self) -> str:
        if self._value_index == 0:
            return self._op._name
        return f"{self._op._name}:{self._value_index}"

    def __repr__(self):
        return f"<tf.Tensor '{self.name}' shape={self.shape} dtype={self._dtype.name}>"

    def __str__(self):
        shape = f", shape={self.shape}" if self.shape.ndims is not None else ""
        device = f", device={self.device}" if self.device else ""
        return f'Tensor("{self.name}"{shape}, dtype={self._dtype.name}{device})'

    def __bool__(self):
        raise OperatorNotAllowedInGraphError(
            f"Using a symbolic `tf.Tensor` ({self.name}) as a Python `bool` is not allowed in "
            "graph mode: it has no value until a Session runs it. Use tf.cond, or compare the "
            "values Session.run returns.")

    def __iter__(self):
        raise OperatorNotAllowedInGraphError(
            f"Iterating over a symbolic `tf.Tensor` ({self.name}) is not allowed in graph mode. "
            "Use tf.unstack(t) for a list of tensors along the first dimension.")

    def __len__(self):
        raise TypeError(f"len is not well defined for a symbolic Tensor ({self.name}). Please "
                        "call `x.shape` rather than `len(x)` for shape information.")

    def __array__(self, dtype=None, copy=None):
        raise NotImplementedError(f"Cannot convert a symbolic tf.Tensor ({self.name}) to a numpy "
                                  "array; run it in a Session to get its value.")

    @classmethod
    def _override_operator(cls, operator: str, func: Callable) -> None:
        setattr(cls, operator, func)


class Operation:
    """A node of the graph: a NodeDef (name, op type, inputs, device, attrs) and its outputs."""

    __slots__ = ("_graph", "_name", "_type", "_inputs", "_control_inputs", "_outputs",
                 "_device", "_attrs", "_op_def", "_id", "_control_outputs", "_traceback",
                 "_full_type", "__weakref__")

    def __init__(self, graph, name, op_type, inputs, output_types, attrs, op_def, device=""):
        self._graph = graph
        self._name = name
        self._type = op_type
        self._inputs = list(inputs)
        self._control_inputs: list[Operation] = []
        self._control_outputs: list[Operation] = []
        self._attrs = attrs
        self._op_def = op_def
        self._device = device
        self._id = 0
        self._traceback = None
        self._full_type = None
        self._outputs = [Tensor(self, i, t) for i, t in enumerate(output_types)]

    # -- NodeDef view ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> str:
        return self._type

    @property
    def graph(self) -> "Graph":
        return self._graph

    @property
    def inputs(self) -> tuple:
        return tuple(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def control_inputs(self) -> list:
        return list(self._control_inputs)

    @property
    def device(self) -> str:
        """The requested device (what export writes); placement never changes it."""
        return self._device

    @property
    def op_def(self):
        return self._op_def

    @property
    def node_def(self):
        from gmeta.proto import NodeDef

        nd = NodeDef(name=self._name, op=self._type, device=self._device)
        nd.input.extend(t._as_node_def_input() for t in self._inputs)
        nd.input.extend("^" + op._name for op in self._control_inputs)
        self._fill_attrs(nd, add_shapes=False)
        if self._full_type is not None:
            nd.experimental_type.CopyFrom(self._full_type)
        return nd

    def _set_device(self, device) -> None:
        """Sets the requested device as given (a DeviceSpec is printed), as TF stores it."""
        self._device = _device_string(device)

    def _set_device_from_string(self, device: str) -> None:
        self._device = device

    @property
    def node_def_attrs(self) -> dict:
        return self._attrs

    def get_attr(self, name: str):
        """The attr's value as TensorFlow's ``Operation.get_attr`` returns it."""
        try:
            av = self._attrs[name]
        except KeyError:
            raise ValueError(f"Operation {self._name!r} has no attr named {name!r}.") from None
        return attr_lib.decode_attr_value(av, tf_style=True)

    def _attr(self, name: str, default=None):
        """The attr's value decoded for kernels (TensorShape, ndarray); ``default`` if unset."""
        av = self._attrs.get(name)
        if av is None:
            return default
        return attr_lib.decode_attr_value(av, tf_style=False)

    def _fill_attrs(self, nd, add_shapes: bool) -> None:
        """Writes this op's attrs into NodeDef ``nd`` (``_output_shapes`` only with
        ``add_shapes``, from the static shapes, as TF's ``as_graph_def(add_shapes=True)``)."""
        attrs = self._attrs
        if attrs.__class__ is dict:
            for key, av in attrs.items():
                nd.attr[key].CopyFrom(av)
        else:
            nd.attr.MergeFrom(attrs)
        recorded = "_output_shapes" in nd.attr
        if recorded and not (add_shapes and all(t._shape is None for t in self._outputs)):
            del nd.attr["_output_shapes"]  # stale or unwanted: rebuilt below if asked for
            recorded = False
        if add_shapes and self._outputs and not recorded:
            shapes = nd.attr["_output_shapes"].list.shape
            for t in self._outputs:
                dims = t.shape._dims
                p = shapes.add()
                if dims is None:
                    p.unknown_rank = True
                else:
                    for d in dims:
                        p.dim.add(size=-1 if d is None else d)

    def _decode_recorded_shapes(self) -> list:
        """Static shapes from an imported node's ``_output_shapes`` (TF's inference when it
        wrote the file); shape inference where the record is missing or does not fit."""
        av = self._attrs.get("_output_shapes")
        shapes = None
        if av is not None and len(av.list.shape) == len(self._outputs):
            shapes = [TensorShape._from_proto(p) for p in av.list.shape]
        for i, t in enumerate(self._outputs):
            if t._shape is None:
                t._shape = shapes[i] if shapes is not None else TensorShape(None)
        if shapes is None:
            from gmeta.framework import shape_inference

            try:
                shape_inference.infer(self)
            except ValueError:
                pass
        return [t._shape for t in self._outputs]

    def _own_attrs(self) -> dict:
        """The attrs as a dict this op owns (an imported node's attr map is copied on first
        write)."""
        attrs = self._attrs
        if attrs.__class__ is not dict:
            attrs = self._attrs = dict(attrs.items())
        return attrs

    def _set_attr(self, name: str, av) -> None:
        self._own_attrs()[name] = av

    def _clear_attr(self, name: str) -> None:
        if name in self._attrs:
            del self._own_attrs()[name]

    def colocation_groups(self) -> list:
        av = self._attrs.get("_class")
        groups = [s for s in av.list.s if s.startswith(b"loc:@")] if av is not None else []
        return groups or [b"loc:@" + self._name.encode()]

    def _add_control_input(self, op: "Operation") -> None:
        if not isinstance(op, Operation):
            raise TypeError(f"control input must be an Operation, not {type(op).__name__}")
        if op not in self._control_inputs:
            self._control_inputs.append(op)
            op._control_outputs.append(self)
            self._graph._version += 1  # invalidates Session plans; the public version is ops

    def _add_control_inputs(self, ops) -> None:
        for op in ops:
            self._add_control_input(op)

    def values(self):
        return tuple(self._outputs)

    def run(self, feed_dict=None, session=None) -> None:
        from gmeta.session import _session_for

        _session_for(self._graph, session).run(self, feed_dict)

    def __repr__(self):
        return f"<tf.Operation '{self._name}' type={self._type}>"

    def __str__(self):
        return str(self.node_def)


# -- the default-graph stack ---------------------------------------------------------------------
class _DefaultStack(threading.local):
    def __init__(self):
        super().__init__()
        self.stack: list = []


_graph_stack = _DefaultStack()
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


def _TRUE_ATTR():
    from gmeta.proto import AttrValue

    return AttrValue(b=True)


class _ControlDependencies:
    """One ``control_dependencies`` block: its control inputs and the ops built inside it."""

    __slots__ = ("control_inputs", "seen")

    def __init__(self, control_inputs):
        self.control_inputs = control_inputs
        self.seen: set = set()


def _device_string(device) -> str:
    """A device as TF stores it: strings as given, DeviceSpecs printed."""
    if isinstance(device, str):
        return device
    if isinstance(device, bytes):
        return device.decode()
    if hasattr(device, "to_string"):
        return device.to_string()
    raise TypeError(f"Expected binary or unicode string, got {device!r}")


def _name_from_scope_name(name: str) -> str:
    return name[:-1] if name and name[-1] == "/" else name


class Graph:
    """A dataflow graph of :class:`Operation` nodes, with TF1's scopes and collections."""

    def __init__(self):
        self._nodes_by_name: dict[str, Operation] = {}
        self._nodes: list[Operation] = []
        self._consumers: dict[Tensor, list[Operation]] = {}
        self._version = 0
        self._next_id = 0
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._device_stack: list = []  # entries: str spec, callable, or None (reset)
        self._colocation_stack: list[Operation] = []
        self._control_stack: list[_ControlDependencies] = []
        self._collections: dict[str, list] = {}
        self._finalized = False
        self._seed = None
        self._container = ""
        self._gradient_override_map: dict[str, str] = {}
        self._attr_scope_map: dict = {}
        self._lock = threading.RLock()

    # -- identity -------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The number of operations created so far (TF's ``Graph.version``)."""
        return self._next_id

    @property
    def seed(self):
        return self._seed

    @seed.setter
    def seed(self, value):
        self._seed = value

    @property
    def _last_id(self) -> int:
        return self._next_id

    @property
    def finalized(self) -> bool:
        return self._finalized

    def finalize(self) -> None:
        self._finalized = True

    def _unsafe_unfinalize(self) -> None:
        self._finalized = False

    @property
    def building_function(self) -> bool:
        return False

    @contextlib.contextmanager
    def as_default(self):
        _graph_stack.stack.append(self)
        try:
            yield self
        finally:
            _graph_stack.stack.pop()

    # -- names ----------------------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """``name`` under the current name scope, made unique (``add``, ``add_1``, ...).

        Names are compared case-insensitively, as TensorFlow does.
        """
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = i + 1
        if i > 0:
            base = key
            while key in self._names_in_use:
                key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[key] = 1
            name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name):
        """Pushes a name scope; ``name`` ending in '/' re-enters that exact scope."""
        if name:
            name = name.decode() if isinstance(name, bytes) else str(name)
            if not _VALID_SCOPE_NAME.match(name) or (not self._name_stack and not
                                                      _VALID_OP_NAME.match(name)):
                raise ValueError(f"'{name}' is not a valid scope name; scope names use letters, "
                                 "digits and _ . - / > and cannot start with _ - / or >")
        old = self._name_stack
        if not name:
            new_stack, returned = "", ""
        elif name[-1] == "/":
            new_stack, returned = _name_from_scope_name(name), name
        else:
            new_stack = self.unique_name(name)
            returned = new_stack + "/"
        self._name_stack = new_stack
        try:
            yield returned
        finally:
            self._name_stack = old

    # -- devices and colocation -----------------------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function):
        """Requests a device for the ops created in the block (a string, DeviceSpec, callable
        or None to reset). Nested string scopes merge field by field, the inner one winning."""
        entry = device_name_or_function
        if entry is not None and not callable(entry):
            entry = device_spec.canonical_name(_device_string(entry))
        self._device_stack.append(entry)
        try:
            yield
        finally:
            self._device_stack.pop()

    def _apply_device_functions(self, op: Operation) -> None:
        """Applies the device stack, innermost first: a string scope fills the fields the op
        leaves unset (canonical form); a device function's result replaces the device as it is
        returned; ``None`` stops the walk."""
        for entry in reversed(self._device_stack):
            if entry is None:
                break
            if callable(entry):
                op._device = _device_string(entry(op))
            elif entry:
                op._device = device_spec.merge_device(entry, op._device)

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing: bool = False):
        """Places new ops with ``op`` (adds ``_class: loc:@op``) and suspends device scopes."""
        if op is not None and not isinstance(op, Operation):
            op = _as_operation(op)
        saved_coloc = self._colocation_stack
        if ignore_existing:
            self._colocation_stack = []
        if op is not None:
            self._colocation_stack = self._colocation_stack + [op]
        elif not ignore_existing:
            raise ValueError("Trying to reset colocation (op is None) but ignore_existing is "
                             "not True")
        saved_devices = self._device_stack
        self._device_stack = []
        try:
            yield
        finally:
            self._device_stack = saved_devices
            self._colocation_stack = saved_coloc

    # -- control dependencies -------------------------------------------------------------------
    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        """Makes every op created in the block run after ``control_inputs``.

        ``None`` clears the enclosing blocks' dependencies. Elements are Operations, Tensors,
        Variables or their names; one already required by an enclosing block is skipped. An op
        whose data input was itself built in a block does not get that block's dependencies
        again (it is dominated), as in TensorFlow.
        """
        if control_inputs is None:
            saved = self._control_stack
            self._control_stack = [_ControlDependencies([])]
            try:
                yield
            finally:
                self._control_stack = saved
            return
        current = {op for ctl in self._control_stack for op in ctl.control_inputs}
        ops = []
        for c in control_inputs:
            if hasattr(c, "_as_graph_element_for_control"):
                c = c._as_graph_element_for_control()
            c = self.as_graph_element(c)
            op = c.op if isinstance(c, Tensor) else c
            if op not in current:
                ops.append(op)
                current.add(op)
                # TF marks every op used through this API (an attr it exports).
                op._set_attr("_has_manual_control_dependencies", _TRUE_ATTR())
        self._control_stack.append(_ControlDependencies(ops))
        try:
            yield
        finally:
            self._control_stack.pop()

    def _control_inputs_for(self, input_ops) -> list:
        out, seen = [], set()
        for ctl in self._control_stack:
            if any(op in ctl.seen for op in input_ops):
                continue  # dominated: an input already runs after this block's dependencies
            for op in ctl.control_inputs:
                if op not in input_ops and op not in seen:
                    seen.add(op)
                    out.append(op)
        return out

    # -- op creation ----------------------------------------------------------------------------
    def _create_op_internal(self, op_type, inputs, output_types, name=None, attrs=None,
                            op_def=None, compute_device=True, device=None) -> Operation:
        self._check_not_finalized()
        name = name or op_type
        if name[-1] == "/":
            name = _name_from_scope_name(name)
        else:
            name = self.unique_name(name)
        if name in self._nodes_by_name:
            raise ValueError(f"Duplicate node name in graph: {name!r}")
        for t in inputs:
            if t.graph is not self:
                raise ValueError(f"Tensor {t.name!r} must be from the same graph as the op "
                                 f"{name!r} that uses it.")
        op = Operation(self, name, op_type, inputs, output_types, dict(attrs or {}), op_def)
        input_ops = {t._op for t in inputs}
        control = self._control_inputs_for(input_ops)
        if device:
            op._device = device_spec.canonical_name(device)
        for key, av in self._attr_scope_map.items():
            op._set_attr(key, av)
        if compute_device:
            self._apply_device_functions(op)
        if self._colocation_stack:
            groups = []
            device_set = False
            for cop in reversed(self._colocation_stack):
                groups.extend(cop.colocation_groups())
                if cop._device and not device_set:
                    op._device = cop._device
                    device_set = True
            from gmeta.proto import AttrValue

            av = AttrValue()
            av.list.s.extend(sorted(set(groups)))
            op._set_attr("_class", av)
        if self._container and op_def is not None and op_def.is_stateful:
            container_attr = op._attrs.get("container")
            if container_attr is not None and not container_attr.s:
                op._set_attr("container", attr_lib.make_attr_value("string", self._container))
        for ctl in self._control_stack:
            ctl.seen.add(op)
        self._add_op(op, control)
        from gmeta.framework import shape_inference

        shape_inference.infer(op)
        full_type = _FULL_TYPE_FNS.get(op_type)
        if full_type is not None:
            op._full_type = full_type(op)
        return op

    def _add_op(self, op: Operation, control=()) -> None:
        with self._lock:
            self._next_id += 1
            op._id = self._next_id
            self._nodes_by_name[op._name] = op
            self._nodes.append(op)
            for t in op._inputs:
                self._consumers.setdefault(t, []).append(op)
            for c in control:
                op._control_inputs.append(c)
                c._control_outputs.append(op)
            self._version += 1

    def create_op(self, op_type, inputs, dtypes_=None, input_types=None, name=None, attrs=None,
                  op_def=None, compute_shapes=True, compute_device=True):
        """Low-level op creation (``Graph.create_op``): attrs are AttrValue protos."""
        from gmeta.framework import op_def_registry

        op_def = op_def or op_def_registry.get(op_type)
        return self._create_op_internal(op_type, list(inputs),
                                        [dtypes.as_dtype(d) for d in (dtypes_ or [])],
                                        name=name, attrs=attrs, op_def=op_def,
                                        compute_device=compute_device)

    # -- lookups --------------------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._nodes)

    def get_operation_by_name(self, name: str) -> Operation:
        """The operation called ``name``.

        Raises:
            TypeError: ``name`` is not a string.
            ValueError: ``name`` looks like a tensor name (``op:0``).
            KeyError: no such operation.
        """
        if not isinstance(name, str):
            raise TypeError(f"Operation names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def get_tensor_by_name(self, name: str) -> Tensor:
        """The tensor called ``name`` (``"<op_name>:<output_index>"``).

        Raises:
            TypeError: ``name`` is not a string.
            ValueError: ``name`` is not a tensor name (an operation name, or malformed).
            KeyError: the operation does not exist or has no such output.
        """
        if not isinstance(name, str):
            raise TypeError(f"Tensor names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        """Resolves a Tensor, Operation, Variable or name ("op" / "op:0") to an element of this
        graph, with TF's exception types (KeyError: missing, ValueError: wrong kind or other
        graph, TypeError: not convertible)."""
        with self._lock:
            return self._as_graph_element_locked(obj, allow_tensor, allow_operation)

    def _as_graph_element_locked(self, obj, allow_tensor, allow_operation):
        if allow_tensor and allow_operation:
            kinds = "Tensor or Operation"
        elif allow_tensor:
            kinds = "Tensor"
        elif allow_operation:
            kinds = "Operation"
        else:
            raise ValueError("allow_tensor and allow_operation can't both be False.")
        conv = getattr(obj, "_as_graph_element", None)
        if conv is not None and callable(conv):
            obj = conv()
        if isinstance(obj, bytes):
            obj = obj.decode()
        if isinstance(obj, str):
            return self._element_by_name(obj, allow_tensor, allow_operation, kinds)
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj._graph is not self:
                raise ValueError(f"Operation {obj!r} is not an element of this graph.")
            return obj
        raise TypeError(f"Can not convert a {type(obj).__name__} into a {kinds}.")

    def _element_by_name(self, name, allow_tensor, allow_operation, kinds):
        if ":" in name:
            if not allow_tensor:
                raise ValueError(f"Name {name!r} appears to refer to a Tensor, not a {kinds}.")
            parts = name.split(":")
            try:
                op_name, index = parts
                index = int(index)
            except ValueError:
                raise ValueError(f"The name {name!r} looks a like a Tensor name, but is not a "
                                 "valid one. Tensor names must be of the form "
                                 '"<op_name>:<output_index>".') from None
            op = self._nodes_by_name.get(op_name)
            if op is None:
                raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. The "
                               f"operation, {op_name!r}, does not exist in the graph.")
            try:
                return op._outputs[index]  # a negative index counts from the end, as in TF
            except IndexError:
                raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. The "
                               f"operation, {op_name!r}, exists but only has "
                               f"{len(op._outputs)} outputs.") from None
        op = self._nodes_by_name.get(name)
        if allow_operation:
            if op is None:
                raise KeyError(f"The name {name!r} refers to an Operation not in the graph.")
            return op
        what = "refers to an Operation" if op is not None else \
            "looks like an (invalid) Operation name"
        raise ValueError(f"The name {name!r} {what}, not a {kinds}. Tensor names must be of the "
                         'form "<op_name>:<output_index>".')

    # -- collections ----------------------------------------------------------------------------
    def _check_not_finalized(self) -> None:
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")

    def add_to_collection(self, name, value) -> None:
        """Appends ``value`` to the collection ``name``.

        Raises:
            RuntimeError: the graph is finalized.
        """
        self._check_not_finalized()
        with self._lock:
            self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value) -> None:
        names = (names,) if isinstance(names, str) else set(names)
        for name in names:
            self.add_to_collection(name, value)

    def get_collection_ref(self, name) -> list:
        return self._collections.setdefault(name, [])

    def get_collection(self, name, scope=None) -> list:
        items = self._collections.get(name)
        if items is None:
            return []
        if scope is None:
            return list(items)
        regex = re.compile(scope)
        out = []
        for item in items:
            item_name = getattr(item, "name", None)
            if isinstance(item_name, str) and regex.match(item_name):
                out.append(item)
        return out

    def get_all_collection_keys(self) -> list:
        """The string keys of the collections (other keys are left out, as TF does)."""
        return [k for k in self._collections if isinstance(k, str)]

    def clear_collection(self, name) -> None:
        """Removes the collection ``name``; RuntimeError if the graph is finalized."""
        self._check_not_finalized()
        with self._lock:
            self._collections.pop(name, None)

    # -- serialisation --------------------------------------------------------------------------
    def as_graph_def(self, from_version=None, add_shapes=False):
        """A ``GraphDef`` of the graph, nodes in creation order, as TF 2.21 writes it.

        Control inputs are sorted by name (TF's GraphDef writer does so; ``op.node_def`` keeps
        insertion order). ``add_shapes`` adds ``_output_shapes`` to ops that have outputs.
        ``from_version`` is accepted and, as in TF 2.x, ignored.
        """
        from gmeta.proto import GraphDef

        del from_version  # TF 2.x's C-API export ignores it too
        gd = GraphDef()
        self._write_graph_def(gd, add_shapes)
        return gd

    def _write_graph_def(self, gd, add_shapes=False) -> None:
        """Fills the (empty) GraphDef ``gd`` in place (export writes straight into its
        MetaGraphDef, without a second copy)."""
        gd.versions.producer = GRAPH_DEF_VERSION
        gd.versions.min_consumer = GRAPH_DEF_VERSION_MIN_CONSUMER
        nodes = gd.node
        for op in self._nodes:
            nd = nodes.add()
            nd.name = op._name
            nd.op = op._type
            if op._device:
                nd.device = op._device
            inputs = [t._as_node_def_input() for t in op._inputs]
            if op._control_inputs:
                inputs.extend(sorted("^" + c._name for c in op._control_inputs))
            nd.input.extend(inputs)
            op._fill_attrs(nd, add_shapes)
            if op._full_type is not None:
                nd.experimental_type.CopyFrom(op._full_type)

    @contextlib.contextmanager
    def _attr_scope(self, attr_map):
        """Sets the given attrs (AttrValue protos) on every op created in the block."""
        saved = dict(self._attr_scope_map)
        self._attr_scope_map.update(attr_map)
        try:
            yield
        finally:
            self._attr_scope_map = saved

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map):
        saved = dict(self._gradient_override_map)
        self._gradient_override_map.update(op_type_map)
        try:
            yield
        finally:
            self._gradient_override_map = saved

    @contextlib.contextmanager
    def container(self, container_name):
        saved = self._container
        self._container = container_name
        try:
            yield container_name
        finally:
            self._container = saved

    def __repr__(self):
        return f"<gmeta.Graph with {len(self._nodes)} ops>"


def _shape_full_type(op):
    """TF's forward type function for Shape: an int32 shape is a TFT_SHAPE_TENSOR (TF records
    it in the NodeDef's ``experimental_type``; int64 shapes get none)."""
    from gmeta.proto import full_type_pb2

    if op._attrs["out_type"].type != 3:  # DT_INT32
        return None
    ft = full_type_pb2.FullTypeDef(type_id=full_type_pb2.TFT_PRODUCT)
    shape = ft.args.add(type_id=full_type_pb2.TFT_SHAPE_TENSOR)
    shape.args.add(type_id=full_type_pb2.TFT_INT32)
    return ft


_FULL_TYPE_FNS = {"Shape": _shape_full_type}

GRAPH_DEF_VERSION = 2474
GRAPH_DEF_VERSION_MIN_CONSUMER = 0


def _as_operation(obj) -> Operation:
    if isinstance(obj, Operation):
        return obj
    if isinstance(obj, Tensor):
        return obj.op
    if hasattr(obj, "op") and isinstance(obj.op, Operation):
        return obj.op
    raise TypeError(f"Expected an Operation, Tensor or Variable, got {obj!r}")


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

