"""Graph: a dataflow graph of Operations with TF1's naming rules, scopes and collections.

Defined here and re-exported by ``gmeta.framework.ops``, its public home (it reports
``__module__`` as ``gmeta.framework.ops``), which also holds the default-graph functions.
"""

from __future__ import annotations

import contextlib
import re
import threading

from gmeta import dtypes
from gmeta.devices import spec as device_spec
from gmeta.framework import attr_value as attr_lib
from gmeta.framework._graph_elements import Operation, Tensor, _device_string

_VALID_OP_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
_VALID_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


# -- the default-graph stack ---------------------------------------------------------------------
class _DefaultStack(threading.local):
    def __init__(self):
        super().__init__()
        self.stack: list = []


_graph_stack = _DefaultStack()


_TRUE: list = []


def _TRUE_ATTR():
    """``AttrValue(b=True)``, one instance shared by the ops that carry it (attrs are replaced,
    never changed in place)."""
    if not _TRUE:
        from gmeta.proto import AttrValue

        _TRUE.append(AttrValue(b=True))
    return _TRUE[0]


class _ControlDependencies:
    """One ``control_dependencies`` block: its control inputs and the ops built inside it."""

    __slots__ = ("control_inputs", "seen")

    def __init__(self, control_inputs):
        self.control_inputs = control_inputs
        self.seen: set = set()


def _name_from_scope_name(name: str) -> str:
    return name[:-1] if name and name[-1] == "/" else name


class Graph:
    """A dataflow graph of :class:`Operation` nodes, with TF1's scopes and collections."""

    __module__ = "gmeta.framework.ops"  # the public home of this class

    def __init__(self):
        self._nodes_by_name: dict[str, Operation] = {}
        self._nodes: list[Operation] = []
        self._consumer_lists: dict[Tensor, list[Operation]] = {}  # see _consumers
        self._unlinked: list[Operation] = []  # added ops _consumer_lists does not list yet
        self._version = 0
        self._next_id = 0
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._device_stack: list = []  # entries: str spec, callable, or None (reset)
        self._root_device_stack = self._device_stack  # the stack outside colocate_with blocks
        self._colocation_stack: list[Operation] = []
        self._control_stack: list[_ControlDependencies] = []
        self._collections: dict[str, list] = {}
        self._finalized = False
        self._seed = None
        self._container = ""
        self._gradient_override_map: dict[str, str] = {}
        self._attr_scope_map: dict = {}
        self._control_flow_context = None  # the cond context ops are being built in (v1)
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

    @property
    def _consumers(self) -> dict:
        """Tensor -> the operations that read it, in the order they were added. Filled in on
        first use: a bulk import adds tens of thousands of inputs nobody may ask about."""
        if self._unlinked:
            with self._lock:
                ops, self._unlinked = self._unlinked, []
                consumers = self._consumer_lists
                for op in ops:
                    for t in op._inputs:
                        users = consumers.get(t)
                        if users is None:
                            consumers[t] = [op]
                        else:
                            users.append(op)
        return self._consumer_lists

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

    @contextlib.contextmanager
    def _init_scope_devices(self):
        """The device scopes variables are created under (TF's ``init_scope``): the current
        ones, or, inside ``colocate_with`` (which suspends them), the graph's own. Colocation
        still decides the device where the colocated op has one; the device functions are called
        all the same (a replica_device_setter's round robin advances, as in TF)."""
        saved = self._device_stack
        if not saved:
            self._device_stack = self._root_device_stack
        try:
            yield
        finally:
            self._device_stack = saved

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
        true = _TRUE_ATTR()
        for c in control_inputs:
            if c.__class__ is Operation and c._graph is self:
                op = c  # what the conversions below make of it
            else:
                if hasattr(c, "_as_graph_element_for_control"):
                    c = c._as_graph_element_for_control()
                c = self.as_graph_element(c)
                op = c.op if isinstance(c, Tensor) else c
            if op not in current:
                ops.append(op)
                current.add(op)
                # TF marks every op used through this API (an attr it exports).
                op._set_attr("_has_manual_control_dependencies", true)
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
        mapped = self._gradient_override_map.get(op_type)
        if mapped is not None:  # gradient_override_map: the gradient function to use
            op._set_attr("_gradient_op_type", attr_lib.make_attr_value("string", mapped))
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
            self._unlinked.append(op)  # its inputs' consumer lists (see _consumers)
            for c in control:
                op._control_inputs.append(c)
                c._control_outputs.append(op)
            self._version += 1
        ctx = self._control_flow_context
        if ctx is not None:  # a cond branch captures the outside tensors its new ops read
            ctx.add_op(op)

    def _add_imported_ops(self, ops, controls: dict, by_name=None) -> None:
        """``_add_op`` for a whole import at once (``controls``: op -> its control inputs;
        ``by_name``: ``{op.name: op}`` in the order of ``ops``, when the caller has it; the
        graph keeps it, so the caller must not change it afterwards)."""
        ctx = self._control_flow_context
        with self._lock:
            next_id = self._next_id
            for op in ops:
                next_id += 1
                op._id = next_id
            if by_name is None:
                by_name = {op._name: op for op in ops}
            if self._nodes_by_name:
                self._nodes_by_name.update(by_name)
            else:  # the first ops of the graph: the caller's map is the graph's (no copy)
                self._nodes_by_name = by_name
            if controls:
                for op in ops:
                    for c in controls.get(op, ()):
                        op._control_inputs.append(c)
                        c._control_outputs.append(op)
            self._nodes.extend(ops)
            self._unlinked.extend(ops)
            self._next_id = next_id
            self._version += len(ops)
        if ctx is not None:
            for op in ops:
                ctx.add_op(op)

    def _get_control_flow_context(self):
        return self._control_flow_context

    def _set_control_flow_context(self, ctx) -> None:
        self._control_flow_context = ctx

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
        if obj.__class__ is str:  # the common case, answered without the lock
            op_name, sep, index = obj.partition(":")
            op = self._nodes_by_name.get(op_name)
            if op is not None:
                if not sep:
                    if allow_operation:
                        return op
                elif allow_tensor:
                    outputs = op._outputs
                    if index == "0":
                        if outputs:
                            return outputs[0]
                    elif index.isdigit() and int(index) < len(outputs):
                        return outputs[int(index)]
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
        from gmeta.framework import _graph_def_writer

        _graph_def_writer.write_nodes(gd, self._nodes, add_shapes)

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
