"""Resource variables (``tf.Variable(..., use_resource=True)``) as TF 2.x graph mode builds them.

A resource variable is a ``VarHandleOp`` (a handle to storage the Session keeps) plus TF's
companion nodes, with TF's names::

    v/Initializer/initial_value   Const (or the initializer's subgraph), colocated with v
    v                             VarHandleOp (shape, dtype, shared_name "v", debug_name "v/")
    v/IsInitialized/VarIsInitializedOp
    v/Assign                      AssignVariableOp(v, initial value): the initializer
    v/Read/ReadVariableOp         the read that ``sess.run(v)`` and the VariableDef use

Unlike a ref variable, every use as a Tensor (``v + 1``, ``tf.matmul(x, v)``) reads the variable
anew: a ``ReadVariableOp`` in the caller's name scope. ``assign*`` and ``scatter_*`` return an
``_UnreadVariable`` (TF's name) whose reads run after the update.

>>> import gmeta as gm
>>> with gm.Graph().as_default():
...     v = ResourceVariable([1.0, 2.0], name="v")
...     total = v + 1.0
>>> v.op.type, v.value().op.type
('VarHandleOp', 'ReadVariableOp')
"""

from __future__ import annotations

import functools
import inspect

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference
from gmeta.framework.ops import GraphKeys
from gmeta.framework.tensor_shape import TensorShape, as_shape
from gmeta.ops import variables

__all__ = ["ResourceVariable", "is_resource_variable", "variable_shape"]

_apply = op_def_library.apply_op


def is_resource_variable(var) -> bool:
    """Whether ``var`` is a resource variable (has a resource handle)."""
    return getattr(var, "_is_resource_variable", False)


def variable_shape(handle, out_type=None):
    """The shape of the variable behind ``handle``, as TF's ``variable_shape``.

    A ``Const`` when the handle's VarHandleOp has a fully defined shape (TF reads the handle
    data), else a ``VariableShape`` op.
    """
    from gmeta.ops import constant_op

    found = _variable_shape_and_dtype(handle)
    if found is None or not found[0].is_fully_defined():
        kwargs = {} if out_type is None else {"out_type": out_type}
        return _apply("VariableShape", input=handle, **kwargs)
    return constant_op.constant(found[0].as_list(),
                                dtype=dtypes.int32 if out_type is None else out_type)


def _loc_attr(name: str):
    from gmeta.proto import AttrValue

    av = AttrValue()
    av.list.s.append(b"loc:@" + name.encode())
    return av


def _check_sync_agg_trainable(synchronization, aggregation, trainable, name):
    """TF's defaults and checks for synchronization / aggregation / trainable."""
    sync = variables.VariableSynchronization
    synchronization = int(synchronization or sync.AUTO)
    aggregation = int(aggregation or variables.VariableAggregation.NONE)
    if trainable is None:
        trainable = synchronization != sync.ON_READ
    elif trainable and synchronization == sync.ON_READ:
        raise ValueError(f"Synchronization value can be set to VariableSynchronization.ON_READ "
                         f"only for non-trainable variables. You have specified trainable=True "
                         f"and synchronization=VariableSynchronization.ON_READ for variable "
                         f"{name!r}.")
    return synchronization, aggregation, bool(trainable)


@functools.lru_cache(maxsize=None)
def _signature(fn):
    return inspect.signature(fn)


def _maybe_resource_variable(v1_init, args, kwargs):
    """The ResourceVariable ``gm.Variable(*args, **kwargs)`` stands for, else None.

    As TF's default variable creator: ``use_resource`` (default: the current variable scope's)
    selects a resource variable; a ``variable_def`` with ``is_resource`` always does. ``v1_init``
    is ``gm.Variable.__init__``, whose signature maps positional arguments.
    """
    if args:
        bound = _signature(v1_init).bind(None, *args, **kwargs).arguments
        bound = {k: v for k, v in bound.items() if k != "self"}
    else:  # keyword-only calls (from_proto, most user code) need no binding
        bound = dict(kwargs)
    variable_def = bound.get("variable_def")
    use_resource = bound.pop("use_resource", None)
    if variable_def is not None:
        use_resource = bool(variable_def.is_resource)
    elif use_resource is None:
        from gmeta.ops.variable_scope import get_variable_scope

        use_resource = get_variable_scope().use_resource
    if not use_resource:
        return None
    bound.pop("expected_shape", None)
    var = ResourceVariable(**bound)
    var._made_by_dispatch = True
    return var


class BaseResourceVariable(variables.Variable):
    """What resource variables share: reads, updates, conversion and operators.

    Subclasses set ``_handle`` (the VarHandleOp output), ``_dtype``, ``_shape``,
    ``_graph_element`` (the read ``sess.run(v)`` fetches) and the other fields ``_setup`` sets.
    """

    _is_resource_variable = True
    __array_priority__ = 100  # numpy defers to the overloaded operators (np_array + v)

    def _setup(self, handle, dtype, shape, graph_element=None, initial_value=None,
               initializer_op=None, is_initialized_op=None, cached_value=None,
               caching_device=None, trainable=True, synchronization=0, aggregation=0,
               constraint=None, validate_shape=True, save_slice_info=None):
        self._handle = handle
        self._dtype = dtypes.as_dtype(dtype).base_dtype
        self._shape = as_shape(shape)
        self._graph_element = graph_element
        self._initial_value = initial_value
        self._initializer_op = initializer_op
        self._is_initialized_op = is_initialized_op
        self._cached_value = cached_value
        self._caching_device = caching_device
        self._trainable = trainable
        self._synchronization = synchronization
        self._aggregation = aggregation
        self._constraint = constraint
        self._validate_shape = validate_shape
        self._save_slice_info = save_slice_info
        self._graph = handle.graph

    # -- properties -----------------------------------------------------------------------------
    @property
    def handle(self):
        """The resource tensor (VarHandleOp output) ops use to reach the variable."""
        return self._handle

    @property
    def name(self) -> str:
        return self._handle.name

    @property
    def op(self):
        return self._handle.op

    @property
    def graph(self):
        return self._handle.graph

    @property
    def device(self) -> str:
        return self._handle.device

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def set_shape(self, shape):
        self._shape = self._shape.merge_with(shape)

    @property
    def create(self):
        return self._initializer_op

    @property
    def synchronization(self):
        return self._synchronization

    @property
    def aggregation(self):
        return self._aggregation

    @property
    def _snapshot(self):
        # The operators gm.Variable overloads apply to ``_snapshot``: for a resource variable
        # each use is a fresh read, as in TF.
        return self.value()

    # -- reads ----------------------------------------------------------------------------------
    def _read_variable_op(self):
        g = self._handle.graph
        if self._caching_device is not None:
            with g.colocate_with(None, ignore_existing=True), g.device(self._caching_device):
                return _apply("ReadVariableOp", resource=self._handle, dtype=self._dtype)
        return _apply("ReadVariableOp", resource=self._handle, dtype=self._dtype)

    def value(self):
        """The variable's value: the cached read (caching_device) or a new ``ReadVariableOp``."""
        if self._cached_value is not None:
            return self._cached_value
        with self._handle.graph.colocate_with(None, ignore_existing=True):
            return self._read_variable_op()

    def read_value(self):
        """A new read, ``Read/ReadVariableOp`` passed through an ``Identity``."""
        g = self._handle.graph
        with g.as_default(), g.name_scope("Read"):
            value = self._read_variable_op()
        with g.as_default():
            return _apply("Identity", input=value)

    def sparse_read(self, indices, name=None):
        """Rows ``indices`` of the variable (``ResourceGather``)."""
        with ops_lib.name_scope_v1("Gather" if name is None else name) as scope:
            return _apply("ResourceGather", resource=self._handle, indices=indices,
                          dtype=self._dtype, name=scope)

    def gather_nd(self, indices, name=None):
        """``ResourceGatherNd`` of the variable, passed through an ``Identity``."""
        with ops_lib.name_scope_v1("GatherNd" if name is None else name) as scope:
            value = _apply("ResourceGatherNd", resource=self._handle, indices=indices,
                           dtype=self._dtype, name=scope)
        return _apply("Identity", input=value)

    def is_initialized(self, name=None):
        """A new ``VarIsInitializedOp`` of the handle."""
        return _apply("VarIsInitializedOp", resource=self._handle, name=name)

    def _ref(self):
        # TF converts a resource variable "as ref" to the read under a new read_value().
        return self.read_value().op.inputs[0]

    def _as_graph_element(self):
        return self._graph_element

    def _as_graph_element_for_control(self):
        return self.op

    def eval(self, session=None):
        """The variable's value, read through its graph element in ``session``."""
        return self._graph_element.eval(session=session)

    def load(self, value, session=None):
        """Assigns ``value`` by running the initializer with its initial value fed."""
        from gmeta.session import _session_for

        sess = _session_for(self._handle.graph, session)
        sess.run(self._initializer_op, {self._initializer_op.inputs[1]: value})

    # -- updates --------------------------------------------------------------------------------
    def _lazy_read(self, op):
        return _UnreadVariable(self._handle, self._dtype, self._shape, op)

    def _assign_dependencies(self):
        g = self._handle.graph
        if self._cached_value is not None:
            return g.control_dependencies([self._cached_value])
        return g.control_dependencies([])

    def _convert_value(self, value):
        with self._handle.graph.as_default():
            return ops_lib.convert_to_tensor(value, dtype=self._dtype)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """``AssignVariableOp``; returns an ``_UnreadVariable`` (the op when not read_value).

        Raises:
            ValueError: ``value``'s static shape does not fit the variable's.
        """
        value_tensor = self._convert_value(value)
        if not self._shape.is_compatible_with(value_tensor.shape):
            raise ValueError(f"Cannot assign value to variable ' {self.name}': Shape mismatch."
                             f"The variable shape {self._shape}, and the assigned value shape "
                             f"{value_tensor.shape} are incompatible.")
        validate = bool(self._validate_shape and self._shape.is_fully_defined())
        with self._handle.graph.as_default():
            op = _apply("AssignVariableOp", resource=self._handle, value=value_tensor,
                        validate_shape=validate, name=name)
        return self._lazy_read(op) if read_value else op

    def _update(self, op_type, delta, name, read_value):
        with self._handle.graph.as_default(), self._assign_dependencies():
            op = _apply(op_type, resource=self._handle, value=self._convert_value(delta),
                        name=name)
        return self._lazy_read(op) if read_value else op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """``AssignAddVariableOp``; returns an ``_UnreadVariable`` (the op when not read_value)."""
        return self._update("AssignAddVariableOp", delta, name, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """``AssignSubVariableOp``; returns an ``_UnreadVariable`` (the op when not read_value)."""
        return self._update("AssignSubVariableOp", delta, name, read_value)

    def _scatter(self, op_type, sparse_delta, name):
        if not (hasattr(sparse_delta, "indices") and hasattr(sparse_delta, "values")
                and hasattr(sparse_delta, "dense_shape")):
            raise TypeError(f"Argument `sparse_delta` must be a `tf.IndexedSlices`. Received "
                            f"arg: {sparse_delta}")
        with self._handle.graph.as_default():
            op = _apply(op_type, resource=self._handle, indices=sparse_delta.indices,
                        updates=self._convert_value(sparse_delta.values), name=name)
        return self._lazy_read(op)

    def scatter_update(self, sparse_delta, use_locking=False, name=None):
        """Sets rows from ``tf.IndexedSlices`` (``ResourceScatterUpdate``)."""
        return self._scatter("ResourceScatterUpdate", sparse_delta, name)

    def scatter_add(self, sparse_delta, use_locking=False, name=None):
        """Adds ``tf.IndexedSlices`` to rows (``ResourceScatterAdd``)."""
        return self._scatter("ResourceScatterAdd", sparse_delta, name)

    def scatter_sub(self, sparse_delta, use_locking=False, name=None):
        """Subtracts ``tf.IndexedSlices`` from rows (``ResourceScatterSub``)."""
        return self._scatter("ResourceScatterSub", sparse_delta, name)

    def scatter_mul(self, sparse_delta, use_locking=False, name=None):
        """Multiplies rows by ``tf.IndexedSlices`` (``ResourceScatterMul``)."""
        return self._scatter("ResourceScatterMul", sparse_delta, name)

    def scatter_div(self, sparse_delta, use_locking=False, name=None):
        """Divides rows by ``tf.IndexedSlices`` (``ResourceScatterDiv``)."""
        return self._scatter("ResourceScatterDiv", sparse_delta, name)

    def scatter_max(self, sparse_delta, use_locking=False, name=None):
        """Rows become the max of themselves and ``tf.IndexedSlices`` (``ResourceScatterMax``)."""
        return self._scatter("ResourceScatterMax", sparse_delta, name)

    def scatter_min(self, sparse_delta, use_locking=False, name=None):
        """Rows become the min of themselves and ``tf.IndexedSlices`` (``ResourceScatterMin``)."""
        return self._scatter("ResourceScatterMin", sparse_delta, name)

    def _scatter_nd(self, op_type, indices, updates, name):
        with self._handle.graph.as_default():
            op = _apply(op_type, ref=self._handle, indices=indices,
                        updates=self._convert_value(updates), name=name)
        return self._lazy_read(op)

    def scatter_nd_update(self, indices, updates, name=None):
        """``ResourceScatterNdUpdate`` of the variable."""
        return self._scatter_nd("ResourceScatterNdUpdate", indices, updates, name)

    def scatter_nd_add(self, indices, updates, name=None):
        """``ResourceScatterNdAdd`` of the variable."""
        return self._scatter_nd("ResourceScatterNdAdd", indices, updates, name)

    def scatter_nd_sub(self, indices, updates, name=None):
        """``ResourceScatterNdSub`` of the variable."""
        return self._scatter_nd("ResourceScatterNdSub", indices, updates, name)

    # -- serialization --------------------------------------------------------------------------
    def to_proto(self, export_scope=None):
        """This variable's ``VariableDef`` (``is_resource``; None outside ``export_scope``)."""
        from gmeta.framework.meta_graph import strip_name_scope
        from gmeta.proto import VariableDef

        if export_scope and not self._handle.name.startswith(export_scope):
            return None
        vd = VariableDef()
        vd.variable_name = strip_name_scope(self._handle.name, export_scope)
        if self._initial_value is not None:
            vd.initial_value_name = strip_name_scope(self._initial_value.name, export_scope)
        vd.initializer_name = strip_name_scope(self._initializer_op.name, export_scope)
        snapshot = self._cached_value if self._cached_value is not None else self._graph_element
        vd.snapshot_name = strip_name_scope(snapshot.name, export_scope)
        vd.is_resource = True
        vd.trainable = self._trainable
        vd.synchronization = self._synchronization
        vd.aggregation = self._aggregation
        if self._save_slice_info is not None:
            vd.save_slice_info_def.MergeFrom(self._save_slice_info.to_proto(export_scope))
        return vd

    @staticmethod
    def from_proto(variable_def, import_scope=None):
        return ResourceVariable(variable_def=variable_def, import_scope=import_scope)

    # -- Python protocol ------------------------------------------------------------------------
    def __repr__(self):
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def __bool__(self):
        return bool(self.read_value())

    def __iter__(self):
        return iter(self.value())

    def _inplace(self, verb):
        raise RuntimeError(f"`variable {verb}= value` with `tf.Variable`s is not supported. Use "
                           f"`variable.assign(...)`, `assign_add` or `assign_sub` to modify the "
                           f"variable ({self.name}), or `out = variable {verb} value` for a new "
                           f"Tensor.")

    def __iadd__(self, other):
        self._inplace("+")

    def __isub__(self, other):
        self._inplace("-")

    def __imul__(self, other):
        self._inplace("*")

    def __itruediv__(self, other):
        self._inplace("/")

    def __ipow__(self, other):
        self._inplace("**")


class ResourceVariable(BaseResourceVariable):
    """A variable held in a resource (``VarHandleOp``), as TF 2.x builds it in graph mode.

    Args:
        initial_value: A Tensor, a value convertible to one, or a callable returning one.
        trainable: Add to TRAINABLE_VARIABLES (default True unless synchronization is ON_READ).
        collections: Collections to add the variable to (default ``[GLOBAL_VARIABLES]``).
        validate_shape: False lets ``assign`` change the shape at run time (no runtime check).
        caching_device: Device of a cached read (``<name>/Read/Identity``) used as its value.
        name: The variable's name (default "Variable"; made unique).
        dtype: The dtype the initial value is converted to.
        variable_def: A ``VariableDef`` to rebuild the Python object from (graph nodes exist).
        import_scope: Name scope prefixed to ``variable_def``'s names.
        constraint: A projection applied by optimizers after updates.
        synchronization, aggregation: Recorded in the VariableDef.
        shape: The variable's shape (default: the initial value's); ``TensorShape(None)``
            allows any shape.

    Raises:
        ValueError: no initial value, a shape that does not fit the initial value, or both
            ``variable_def`` and ``initial_value``.
    """

    def __init__(self, initial_value=None, trainable=None, collections=None,
                 validate_shape=True, caching_device=None, name=None, dtype=None,
                 variable_def=None, import_scope=None, constraint=None, distribute_strategy=None,
                 synchronization=None, aggregation=None, shape=None, handle=None,
                 expected_shape=None, use_resource=None, **unused_kwargs):
        if self.__dict__.pop("_made_by_dispatch", False):
            return  # built by _maybe_resource_variable; Python calls __init__ once more
        if variable_def is not None:
            if initial_value is not None:
                raise ValueError(f"The variable_def and initial_value args to `tf.Variable` are "
                                 f"mutually exclusive, but got both: variable_def="
                                 f"{variable_def},\ninitial_value={initial_value}")
            self._init_from_proto(variable_def, import_scope, validate_shape)
        else:
            self._init_from_args(initial_value, trainable, collections, caching_device, name,
                                 dtype, constraint, synchronization, aggregation, shape,
                                 validate_shape)

    def _init_from_args(self, initial_value, trainable, collections, caching_device, name,
                        dtype, constraint, synchronization, aggregation, shape, validate_shape):
        synchronization, aggregation, trainable = _check_sync_agg_trainable(
            synchronization, aggregation, trainable, name)
        if initial_value is None:
            raise ValueError("The `initial_value` arg to `tf.Variable` must be specified except "
                             "when you are not providing a `variable_def`. You provided neither.")
        init_from_fn = callable(initial_value)
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if not isinstance(collections, (list, tuple, set)):
            raise ValueError(f"collections argument to Variable constructor must be a list, "
                             f"tuple, or set. Got {collections} of type {type(collections)}")
        if constraint is not None and not callable(constraint):
            raise ValueError(f"Argument `constraint` must be None or a callable. Got a "
                             f"{type(constraint)}:  {constraint}")
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        g = ops_lib.get_default_graph()
        # TF's init_scope: variables are created outside any control-dependency block.
        with g.control_dependencies(None), g._init_scope_devices(), ops_lib.name_scope_v1(
                name, "Variable", [] if init_from_fn else [initial_value]) as scope:
            g = ops_lib.get_default_graph()
            handle_name = ops_lib._name_from_scope_name(scope)
            # The variable does not exist yet: its initializer and the handle itself are marked
            # as colocated with it through an attr scope.
            with g._attr_scope({"_class": _loc_attr(handle_name)}):
                with g.name_scope("Initializer"), g.device(None):
                    if init_from_fn:
                        initial_value = initial_value()
                    initial_value = ops_lib.convert_to_tensor(
                        initial_value, name="initial_value", dtype=dtype)
                if shape is not None:
                    shape = as_shape(shape)
                    if not initial_value.shape.is_compatible_with(shape):
                        raise ValueError(f"In this `tf.Variable` creation, the initial value's "
                                         f"shape ({initial_value.shape}) is not compatible with "
                                         f"the explicitly supplied `shape` argument ({shape}).")
                else:
                    shape = initial_value.shape
                dtype = initial_value.dtype.base_dtype
                handle = _apply("VarHandleOp", shape=shape, dtype=dtype, shared_name=handle_name,
                                debug_name=scope, container=g._container or "", name=scope)
            with g.name_scope("IsInitialized"):
                is_initialized_op = _apply("VarIsInitializedOp", resource=handle)
            with g.name_scope("Assign") as assign_scope, \
                    g.colocate_with(None, ignore_existing=True), g.device(handle.device):
                initializer_op = _apply("AssignVariableOp", resource=handle, value=initial_value,
                                        name=assign_scope)
            with g.name_scope("Read"):
                with g.device(handle.device):
                    value = _apply("ReadVariableOp", resource=handle, dtype=dtype)
                cached_value = None
                if caching_device is not None:
                    with g.colocate_with(None, ignore_existing=True), g.device(caching_device):
                        cached_value = _apply("Identity", input=value)
            self._setup(handle, dtype, shape, graph_element=value, initial_value=initial_value,
                        initializer_op=initializer_op, is_initialized_op=is_initialized_op,
                        cached_value=cached_value, caching_device=caching_device,
                        trainable=trainable, synchronization=synchronization,
                        aggregation=aggregation, constraint=constraint,
                        validate_shape=validate_shape)
            g.add_to_collections(collections, self)

    def _init_from_proto(self, variable_def, import_scope=None, validate_shape=True):
        from gmeta.framework.meta_graph import prepend_name_scope

        if not variable_def.is_resource:
            raise ValueError(f"Trying to restore a TF 1.x Reference Variable as a TF 2.x "
                             f"ResourceVariable. This is unsupported. Got variable_def="
                             f"{variable_def}")
        g = ops_lib.get_default_graph()

        def element(name):
            return g.as_graph_element(prepend_name_scope(name, import_scope))

        handle = g.as_graph_element(prepend_name_scope(variable_def.variable_name,
                                                       import_scope), allow_operation=False)
        initial_value = (element(variable_def.initial_value_name)
                         if variable_def.initial_value_name else None)
        if variable_def.snapshot_name:
            snapshot = element(variable_def.snapshot_name)
            cached_value = snapshot if snapshot.op.type != "ReadVariableOp" else None
            while snapshot.op.type != "ReadVariableOp":
                snapshot = snapshot.op.inputs[0]
        else:  # old protos: the read has TF's standard name
            cached_value = None
            snapshot = g.get_tensor_by_name(handle.op.name + "/Read/ReadVariableOp:0")
        synchronization, aggregation, trainable = _check_sync_agg_trainable(
            variable_def.synchronization, variable_def.aggregation, variable_def.trainable,
            variable_def.variable_name)
        save_slice_info = None
        if variable_def.HasField("save_slice_info_def"):
            save_slice_info = variables.SaveSliceInfo(variable_def.save_slice_info_def,
                                                      import_scope)
        self._setup(handle, handle.op._attr("dtype"), TensorShape(handle.op._attr("shape")),
                    graph_element=snapshot, initial_value=initial_value,
                    initializer_op=element(variable_def.initializer_name),
                    cached_value=cached_value, trainable=trainable,
                    synchronization=synchronization, aggregation=aggregation,
                    validate_shape=validate_shape, save_slice_info=save_slice_info)


class _UnreadVariable(BaseResourceVariable):
    """The variable after an update: reads of it run after ``op`` (TF's ``_UnreadVariable``).

    ``name`` and ``op`` are the update's; ``sess.run`` of it fetches a read made at creation
    with a control dependency on the update.
    """

    def __init__(self, handle, dtype, shape, parent_op):
        g = handle.graph
        with g.as_default(), g.control_dependencies([parent_op]):
            graph_element = _apply("ReadVariableOp", resource=handle, dtype=dtype)
        self._setup(handle, dtype, shape, graph_element=graph_element)
        self._parent_op = parent_op

    @property
    def name(self) -> str:
        return self._parent_op.name

    @property
    def op(self):
        return self._parent_op

    def value(self):
        return self._read_variable_op()

    def read_value(self):
        return self._read_variable_op()

    def _read_variable_op(self):
        g = self._handle.graph
        with g.as_default(), g.control_dependencies([self._parent_op]):
            return _apply("ReadVariableOp", resource=self._handle, dtype=self._dtype)

    def _after_parent(self, method, *args):
        with self._handle.graph.control_dependencies([self._parent_op]):
            return getattr(super(), method)(*args)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return self._after_parent("assign", value, use_locking, name, read_value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._after_parent("assign_add", delta, use_locking, name, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._after_parent("assign_sub", delta, use_locking, name, read_value)

    def _scatter(self, op_type, sparse_delta, name):
        return self._after_parent("_scatter", op_type, sparse_delta, name)

    def _scatter_nd(self, op_type, indices, updates, name):
        return self._after_parent("_scatter_nd", op_type, indices, updates, name)


# -- static shapes of the resource-variable ops ----------------------------------------------------
_HANDLE_FORWARDING = ("Identity", "Enter", "Switch", "RefSwitch", "Merge", "Exit")


def _variable_shape_and_dtype(handle):
    """(shape, dtype) of the variable behind ``handle`` where the graph tells, else None."""
    seen = 0
    while handle.op.type in _HANDLE_FORWARDING and handle.op.inputs and seen < 64:
        handle = handle.op.inputs[0]
        seen += 1
    op = handle.op
    if op.type != "VarHandleOp":
        return None
    return TensorShape(op.node_def_attrs["shape"].shape), op._attr("dtype")


def _checked_shape(op):
    found = _variable_shape_and_dtype(op.inputs[0])
    if found is None:
        return TensorShape(None)
    shape, dtype = found
    want = op._attr("dtype")
    if want is not None and dtype is not None and dtypes.as_dtype(want) != dtypes.as_dtype(dtype):
        raise ValueError(f"Trying to read variable with wrong dtype. Expected "
                         f"{dtypes.as_dtype(dtype).name} got {dtypes.as_dtype(want).name}")
    return shape


@shape_inference.register("VarHandleOp", "VarIsInitializedOp")
def _scalar_shape(op):
    return [TensorShape([])]


@shape_inference.register("ReadVariableOp")
def _read_variable_shape(op):
    return [_checked_shape(op)]


@shape_inference.register("ResourceGather")
def _resource_gather_shape(op):
    params = _checked_shape(op)
    indices = op.inputs[1].shape
    batch_dims = op._attr("batch_dims", 0) or 0
    if batch_dims < 0:
        raise ValueError(f"batch_dims is negative ({batch_dims})")
    if params.ndims is not None and params.ndims < batch_dims + 1:
        raise ValueError(f"Shape must be at least rank {batch_dims + 1} but is rank "
                         f"{params.ndims}")
    if params.ndims is None or indices.ndims is None:
        return [TensorShape(None)]
    dims = list(params)[:batch_dims] + list(indices)[batch_dims:] + list(params)[batch_dims + 1:]
    return [TensorShape(dims)]


@shape_inference.register("VariableShape")
def _variable_shape_shape(op):
    found = _variable_shape_and_dtype(op.inputs[0])
    return [TensorShape([None if found is None else found[0].ndims])]


@shape_inference.register("ResourceGatherNd")
def _resource_gather_nd_shape(op):
    params = _checked_shape(op)
    indices = op.inputs[1].shape
    if indices.ndims is None or indices.ndims == 0 or indices[-1] is None or \
            params.ndims is None:
        return [TensorShape(None)]
    depth = indices[-1]
    if depth > params.ndims:
        raise ValueError(f"indices.shape[-1] must be <= params.rank, but saw indices shape: "
                         f"{indices} and params shape: {params}")
    return [TensorShape(list(indices)[:-1] + list(params)[depth:])]
