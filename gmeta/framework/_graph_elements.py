"""Tensor and Operation: a graph's nodes (NodeDef-shaped) and their outputs.

Defined here and re-exported by ``gmeta.framework.ops``, their public home (each reports
``__module__`` as ``gmeta.framework.ops``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gmeta import dtypes
from gmeta import errors as _errors
from gmeta.framework import attr_value as attr_lib
from gmeta.framework.tensor_shape import TensorShape, as_shape

if TYPE_CHECKING:
    from gmeta.framework._graph import Graph


if hasattr(_errors, "OperatorNotAllowedInGraphError"):
    OperatorNotAllowedInGraphError = _errors.OperatorNotAllowedInGraphError
else:
    class OperatorNotAllowedInGraphError(TypeError):
        """TF's ``tf.errors.OperatorNotAllowedInGraphError``: a Python operation on a symbolic
        Tensor that only eager tensors support (``bool(t)``, ``for x in t``)."""


class Tensor:
    """A symbolic output of an :class:`Operation` (``op.outputs[value_index]``)."""

    __module__ = "gmeta.framework.ops"  # the public home of this class

    __slots__ = ("_op", "_value_index", "_dtype", "_shape", "__weakref__")

    # Make numpy defer to our operators (``np_array + tensor`` -> Tensor.__radd__).
    __array_priority__ = 100

    def __init__(self, op: "Operation", value_index: int, dtype: dtypes.DType,
                 shape_recorded: bool = False):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = None if shape_recorded else TensorShape(None)  # None: decode on first use

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

    __module__ = "gmeta.framework.ops"  # the public home of this class

    __slots__ = ("_graph", "_name", "_type", "_inputs", "_control_inputs", "_outputs",
                 "_device", "_attrs", "_op_def", "_id", "_control_outputs", "_traceback",
                 "_full_type", "_attr_wire", "__weakref__")

    def __init__(self, graph, name, op_type, inputs, output_types, attrs, op_def, device="",
                 shapes_recorded=False):
        """``shapes_recorded``: an imported node with ``_output_shapes``: its outputs' shapes are
        decoded from it on first use (``Tensor.shape``) instead of starting unknown."""
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
        self._attr_wire = None  # the attrs as NodeDef wire bytes (export), until they change
        self._outputs = [Tensor(self, i, t, shapes_recorded) for i, t in enumerate(output_types)]

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
        self._fill_attrs(nd)
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

    def _fill_attrs(self, nd) -> None:
        """Writes this op's attrs into NodeDef ``nd``, without ``_output_shapes`` (graph
        exports with shapes go through gmeta/framework/_graph_def_writer.py)."""
        attrs = self._attrs
        if attrs.__class__ is dict:
            for key, av in attrs.items():
                nd.attr[key].CopyFrom(av)
        else:
            nd.attr.MergeFrom(attrs)
        if "_output_shapes" in nd.attr:
            del nd.attr["_output_shapes"]

    def _decode_recorded_shapes(self) -> list:
        """Static shapes from an imported node's ``_output_shapes`` (TF's inference when it
        wrote the file); shape inference where the record is missing or does not fit."""
        outputs = self._outputs
        av = self._attrs.get("_output_shapes")
        if av is not None:
            key = av.SerializeToString()
            shapes = _RECORDED_SHAPES.get(key)
            if shapes is None:
                shapes = _recorded_shapes(av, key)
            if len(shapes) == len(outputs):
                for t, shape in zip(outputs, shapes):
                    if t._shape is None:
                        t._shape = shape
                return [t._shape for t in outputs]
        for t in outputs:
            if t._shape is None:
                t._shape = TensorShape(None)
        from gmeta.framework import shape_inference

        try:
            shape_inference.infer(self)
        except ValueError:
            pass
        return [t._shape for t in outputs]

    def _own_attrs(self) -> dict:
        """The attrs as a dict this op owns (an imported node's attr map is copied on first
        write)."""
        attrs = self._attrs
        if attrs.__class__ is not dict:
            attrs = self._attrs = dict(attrs.items())
        self._attr_wire = None  # the caller changes them
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


_RECORDED_SHAPES: dict = {}  # serialized _output_shapes AttrValue -> its TensorShapes


def _recorded_shapes(av, key) -> tuple:
    """The TensorShapes the ``_output_shapes`` AttrValue ``av`` (serialized: ``key``) lists,
    decoded once per distinct value (TensorShapes are immutable: tensors share them; a model's
    variables repeat a few shapes, and reading the dims of a parsed proto is what costs)."""
    shapes = tuple(TensorShape._from_proto(p) for p in av.list.shape)
    if len(_RECORDED_SHAPES) >= 4096:
        _RECORDED_SHAPES.clear()
    _RECORDED_SHAPES[key] = shapes
    return shapes


def _new_operation(graph, name, op_type, inputs, output_types, attrs, op_def, device="",
                   shapes_recorded=False) -> Operation:
    """``Operation(...)`` with the same arguments, field for field, without the generic
    constructor's calls and copies (``inputs`` is kept as the list given): bulk builders make
    one per node, tens of thousands for an imported MetaGraph."""
    op = _new(Operation)
    op._graph = graph
    op._name = name
    op._type = op_type
    op._inputs = inputs
    op._control_inputs = []
    op._control_outputs = []
    op._attrs = attrs
    op._op_def = op_def
    op._device = device
    op._id = 0
    op._traceback = None
    op._full_type = None
    op._attr_wire = None
    if len(output_types) == 1:  # most ops
        t = _new(Tensor)
        t._op = op
        t._value_index = 0
        t._dtype = output_types[0]
        t._shape = None if shapes_recorded else TensorShape(None)
        op._outputs = [t]
    else:
        op._outputs = [Tensor(op, i, dtype, shapes_recorded)
                       for i, dtype in enumerate(output_types)]
    return op


_new = object.__new__


def _device_string(device) -> str:
    """A device as TF stores it: strings as given, DeviceSpecs printed."""
    if isinstance(device, str):
        return device
    if isinstance(device, bytes):
        return device.decode()
    if hasattr(device, "to_string"):
        return device.to_string()
    raise TypeError(f"Expected binary or unicode string, got {device!r}")
