"""Ref variables (``tf.compat.v1.Variable``): VariableV2 + Assign initializer + ``read`` snapshot.

The nodes and names are TensorFlow's: ``w`` (VariableV2), ``w/Assign`` and ``w/read``, both
colocated with ``w`` (``_class: loc:@w``); ``w/initial_value`` when the initial value is a Python
or numpy value; ``w/Initializer/...`` when it is a callable.
"""

from __future__ import annotations

import contextlib

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.ops import GraphKeys
from gmeta.framework.tensor_shape import as_shape


class Variable:
    """A mutable tensor that lives across ``Session.run`` calls (a TF1 ref variable)."""

    def __new__(cls, *args, **kwargs):
        # TF's default variable creator: use_resource (default: the variable scope's) or a
        # resource VariableDef makes a ResourceVariable (built here; its __init__ then no-ops).
        if cls is Variable:
            from gmeta.ops import resource_variable_ops

            made = resource_variable_ops._maybe_resource_variable(Variable.__init__, args, kwargs)
            if made is not None:
                return made
        return super().__new__(cls)

    def __init__(self, initial_value=None, trainable=None, collections=None,
                 validate_shape=True, caching_device=None, name=None, variable_def=None,
                 dtype=None, expected_shape=None, import_scope=None, constraint=None,
                 use_resource=None, synchronization=None, aggregation=None, shape=None):
        if variable_def is not None:
            self._init_from_proto(variable_def, import_scope)
            return
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if use_resource:
            raise NotImplementedError("resource variables (use_resource=True) are not "
                                      "available yet; gmeta builds ref variables (VariableV2)")
        self._synchronization = int(synchronization or 0)
        self._aggregation = int(aggregation or 0)
        trainable = True if trainable is None else trainable
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if not isinstance(collections, (list, tuple, set)):
            raise ValueError(f"collections argument to Variable constructor must be a list, "
                             f"tuple, or set. Got {collections!r}")
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        self._trainable = trainable
        self._constraint = constraint
        self._save_slice_info = None
        init_from_fn = callable(initial_value)
        g = ops_lib.get_default_graph()
        # Variables are created outside any control-dependency block (TF's init_scope).
        with g.control_dependencies(None), g._init_scope_devices():
            with ops_lib.name_scope_v1(name, "Variable",
                                       [] if init_from_fn else [initial_value]) as scope:
                attr_scope = contextlib.nullcontext()
                if init_from_fn:
                    # The variable does not exist yet: TF colocates the initializer with it (and
                    # marks the VariableV2 itself) through an attr scope.
                    from gmeta.proto import AttrValue

                    loc = AttrValue()
                    loc.list.s.append(b"loc:@" + ops_lib._name_from_scope_name(scope).encode())
                    attr_scope = g._attr_scope({"_class": loc})
                with attr_scope:
                    if init_from_fn:
                        with g.name_scope("Initializer"), g.device(None):
                            self._initial_value = ops_lib.convert_to_tensor(
                                initial_value(), name="initial_value", dtype=dtype)
                    else:
                        self._initial_value = ops_lib.convert_to_tensor(
                            initial_value, name="initial_value", dtype=dtype)
                    init_shape = self._initial_value.shape
                    if shape is not None:
                        var_shape = as_shape(shape)
                    elif validate_shape:
                        if not init_shape.is_fully_defined():
                            raise ValueError(f"initial_value must have a shape specified: "
                                             f"{self._initial_value!r}")
                        var_shape = init_shape
                    else:
                        var_shape = as_shape(None)
                    self._variable = op_def_library.apply_op(
                        "VariableV2", name=scope, shape=var_shape,
                        dtype=self._initial_value.dtype.base_dtype)
                with g.colocate_with(self._variable.op):
                    self._initializer_op = op_def_library.apply_op(
                        "Assign", ref=self._variable, value=self._initial_value,
                        validate_shape=validate_shape, name="Assign").op
                if caching_device is not None:
                    with g.device(caching_device):
                        self._snapshot = op_def_library.apply_op(
                            "Identity", input=self._variable, name="read")
                else:
                    with g.colocate_with(self._variable.op):
                        self._snapshot = op_def_library.apply_op(
                            "Identity", input=self._variable, name="read")
        self._caching_device = caching_device
        self._graph = g
        g.add_to_collections(collections, self)

    def _init_from_proto(self, variable_def, import_scope=None):
        g = ops_lib.get_default_graph()
        if import_scope:
            from gmeta.framework.meta_graph import prepend_name_scope

            def element(name):
                return g.as_graph_element(prepend_name_scope(name, import_scope))
        else:
            element = g.as_graph_element

        self._variable_def = variable_def
        self._graph = g
        self._variable = element(variable_def.variable_name)
        self._initializer_op = element(variable_def.initializer_name)
        self._snapshot = element(variable_def.snapshot_name)
        initial_value_name = variable_def.initial_value_name
        self._initial_value = element(initial_value_name) if initial_value_name else None
        self._trainable = variable_def.trainable
        self._synchronization = variable_def.synchronization
        self._aggregation = variable_def.aggregation
        self._save_slice_info = (SaveSliceInfo(variable_def.save_slice_info_def, import_scope)
                                 if variable_def.HasField("save_slice_info_def") else None)
        self._constraint = None
        self._caching_device = None

    def to_proto(self, export_scope=None):
        """This variable's ``VariableDef`` (None when it lies outside ``export_scope``)."""
        from gmeta.framework.meta_graph import _in_scope, strip_name_scope
        from gmeta.proto import VariableDef

        if export_scope and not _in_scope(self._variable.name, export_scope):
            return None
        vd = VariableDef()
        original = getattr(self, "_variable_def", None)
        if original is not None:
            vd.CopyFrom(original)  # keeps fields gmeta does not model (aggregation, ...)
        vd.variable_name = strip_name_scope(self._variable.name, export_scope)
        if self._initial_value is not None:
            vd.initial_value_name = strip_name_scope(self._initial_value.name, export_scope)
        vd.initializer_name = strip_name_scope(self._initializer_op.name, export_scope)
        vd.snapshot_name = strip_name_scope(self._snapshot.name, export_scope)
        vd.trainable = self._trainable
        vd.synchronization = self._synchronization
        vd.aggregation = self._aggregation
        vd.is_resource = self._variable.dtype.base_dtype.name == "resource"
        if self._save_slice_info is not None:
            vd.save_slice_info_def.CopyFrom(self._save_slice_info.to_proto(export_scope))
        return vd

    @staticmethod
    def from_proto(variable_def, import_scope=None):
        if variable_def.is_resource:  # a ResourceVariable (Variable.__new__ dispatches)
            return Variable(variable_def=variable_def, import_scope=import_scope)
        v = object.__new__(Variable)  # what Variable(variable_def=...) makes of a ref variable
        v._init_from_proto(variable_def, import_scope)
        return v

    def _get_save_slice_info(self):
        return self._save_slice_info

    def _set_save_slice_info(self, info):
        self._save_slice_info = info

    # -- properties -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._variable.name

    @property
    def op(self):
        return self._variable.op

    @property
    def graph(self):
        return self._graph

    @property
    def device(self) -> str:
        return self._variable.device

    @property
    def dtype(self):
        return self._variable.dtype

    @property
    def shape(self):
        return self._variable.shape

    def get_shape(self):
        return self._variable.shape

    @property
    def initializer(self):
        return self._initializer_op

    @property
    def initial_value(self):
        return self._initial_value

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def constraint(self):
        return self._constraint

    def value(self):
        """The ``w/read`` snapshot tensor."""
        return self._snapshot

    def read_value(self):
        return op_def_library.apply_op("Identity", input=self._variable, name="read")

    def _ref(self):
        return self._variable

    def _as_graph_element(self):
        return self._variable

    def _as_graph_element_for_control(self):
        return self._variable.op

    def initialized_value(self):
        """The variable's value once initialised, else its initial value (TF builds a ``cond``
        on ``IsVariableInitialized``), outside any control-dependency block."""
        from gmeta.ops.cond_v1 import cond

        with self._graph.as_default(), self._graph.control_dependencies(None):
            return cond(is_variable_initialized(self), self.read_value,
                        lambda: self._initial_value)

    # -- state changes --------------------------------------------------------------------------
    def assign(self, value, use_locking=False, name=None, read_value=True):
        out = op_def_library.apply_op("Assign", ref=self._variable, value=value,
                                      use_locking=use_locking, name=name or "Assign")
        return out if read_value else out.op

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        out = op_def_library.apply_op("AssignAdd", ref=self._variable, value=delta,
                                      use_locking=use_locking, name=name or "AssignAdd")
        return out if read_value else out.op

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        out = op_def_library.apply_op("AssignSub", ref=self._variable, value=delta,
                                      use_locking=use_locking, name=name or "AssignSub")
        return out if read_value else out.op

    def eval(self, session=None):
        return self._variable.eval(session=session)

    def load(self, value, session=None):
        from gmeta.session import _session_for

        sess = _session_for(self._graph, session)
        sess.run(self._initializer_op, {self._initializer_op.inputs[1]: value})

    def set_shape(self, shape):
        self._variable.set_shape(shape)
        self._snapshot.set_shape(shape)

    def __repr__(self):
        return (f"<tf.Variable '{self.name}' shape={self.shape} "
                f"dtype={self.dtype.name}>")

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __bool__(self):
        raise TypeError(f"Using a tf.Variable ({self.name!r}) as a Python `bool` is not allowed "
                        "in graph mode.")

    def __iter__(self):
        return iter(self._snapshot)

    @classmethod
    def _overload_operator(cls, operator):
        def method(self, *args):
            return getattr(ops_lib.Tensor, operator)(self._snapshot, *args)

        method.__name__ = operator
        setattr(cls, operator, method)


class SaveSliceInfo:
    """Where a partition lives in its full variable (``SaveSliceInfoDef``)."""

    def __init__(self, save_slice_info_def=None, import_scope=None, full_name=None,
                 full_shape=None, var_offset=None, var_shape=None):
        from gmeta.framework.meta_graph import prepend_name_scope

        if save_slice_info_def is not None:
            full_name = prepend_name_scope(save_slice_info_def.full_name, import_scope)
            full_shape = list(save_slice_info_def.full_shape)
            var_offset = list(save_slice_info_def.var_offset)
            var_shape = list(save_slice_info_def.var_shape)
        self.full_name = full_name
        self.full_shape = full_shape
        self.var_offset = var_offset
        self.var_shape = var_shape

    @property
    def spec(self) -> str:
        """TF's slice spec string: ``"10 20 0,5:-"``."""
        full = " ".join(str(d) for d in self.full_shape)
        parts = ":".join(f"{o},{s}" for o, s in zip(self.var_offset, self.var_shape))
        return f"{full} {parts}"

    def to_proto(self, export_scope=None):
        from gmeta.framework.meta_graph import strip_name_scope
        from gmeta.proto import SaveSliceInfoDef

        return SaveSliceInfoDef(full_name=strip_name_scope(self.full_name, export_scope),
                                full_shape=self.full_shape, var_offset=self.var_offset,
                                var_shape=self.var_shape)


class VariableSynchronization:
    """When a distributed variable is aggregated (``tf.VariableSynchronization``)."""

    AUTO, NONE, ON_WRITE, ON_READ = 0, 1, 2, 3


class VariableAggregation:
    """How a distributed variable's updates combine (``tf.VariableAggregation``)."""

    NONE, SUM, MEAN, ONLY_FIRST_REPLICA = 0, 1, 2, 3


RefVariable = Variable
VariableV1 = Variable


def _conversion(v, dtype=None, name=None, as_ref=False):
    if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(v.dtype):
        raise ValueError(f"Incompatible type conversion requested to type '{dtype.name}' for "
                         f"variable of type '{v.dtype.name}' ({v.name})")
    return v._ref() if as_ref else v.value()


ops_lib.register_tensor_conversion_function(Variable, _conversion)


# -- collections and initializers --------------------------------------------------------------
def global_variables(scope=None):
    return ops_lib.get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None):
    return ops_lib.get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    return ops_lib.get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    return ops_lib.get_collection(GraphKeys.MODEL_VARIABLES, scope)


def moving_average_variables(scope=None):
    return ops_lib.get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    """One op that runs the initializers of ``var_list`` (a ``NoOp`` with control inputs)."""
    from gmeta.ops import control_flow_ops

    if var_list:
        return control_flow_ops.group(*[v.initializer for v in var_list], name=name)
    return control_flow_ops.no_op(name=name)


initialize_variables = variables_initializer


def global_variables_initializer():
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init")


def is_variable_initialized(variable):
    if getattr(variable, "_is_resource_variable", False):
        return variable.is_initialized()
    return op_def_library.apply_op("IsVariableInitialized", ref=variable._ref(),
                                   name="IsVariableInitialized")


def _register_collections():
    from gmeta.framework.meta_graph import register_proto_function
    from gmeta.proto import VariableDef

    def to_proto(v, export_scope=None):  # one function: export serialises a variable once
        return v.to_proto(export_scope)

    for key in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES,
                GraphKeys.MOVING_AVERAGE_VARIABLES, GraphKeys.LOCAL_VARIABLES,
                GraphKeys.MODEL_VARIABLES, GraphKeys.GLOBAL_STEP, GraphKeys.METRIC_VARIABLES):
        register_proto_function(key, proto_type=VariableDef, to_proto=to_proto,
                                from_proto=Variable.from_proto)


_register_collections()
