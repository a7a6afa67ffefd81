"""``tf.compat.v1.variable_scope`` and ``get_variable``: named, shareable variables.

A graph holds one variable store (collection ``("__variable_store",)``) mapping full variable
names to variables, and one scope store (collection ``("__varscope",)``) holding the current
:class:`VariableScope` and how many times each scope name was opened. ``get_variable`` looks
names up in the store: with ``reuse`` false it creates (and refuses duplicates), with
``reuse=True`` it returns existing variables (and refuses missing ones), with ``AUTO_REUSE`` it
does whichever applies. The nodes it creates, and their names, are TensorFlow's
(``vs/w/Initializer/random_uniform/...``, ``vs/w``, ``vs/w/Assign``, ``vs/w/read``).

>>> import gmeta as gm
>>> from gmeta.ops.variable_scope import get_variable, variable_scope
>>> with gm.Graph().as_default():
...     with variable_scope("layer"):
...         w = get_variable("w", [2, 3])
...     with variable_scope("layer", reuse=True):
...         assert get_variable("w") is w
>>> w.name
'layer/w:0'
"""

from __future__ import annotations

import contextlib
import copy
import enum
import functools
import inspect
import threading

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.ops import GraphKeys
from gmeta.framework.tensor_shape import as_shape
from gmeta.ops import init_ops, resource_variable_ops
from gmeta.ops import variables as variables_lib

__all__ = [
    "AUTO_REUSE", "VariableScope", "get_local_variable", "get_variable", "get_variable_scope",
    "no_regularizer", "variable_op_scope", "variable_scope",
]

_VARSTORE_KEY = ("__variable_store",)
_VARSCOPESTORE_KEY = ("__varscope",)


class _ReuseMode(enum.Enum):
    """The reuse modes besides True/False; only ``AUTO_REUSE`` exists."""

    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE


def no_regularizer(_):
    """A regularizer that adds nothing (use it to switch off a scope's regularizer)."""
    return None


def _needs_no_arguments(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


def _accepts(fn, arg) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


class _LazyEvalTensor:
    """A regularization loss that rebuilds its ops each time it is converted to a Tensor.

    TF adds these to REGULARIZATION_LOSSES: the first build happens at creation (its
    ``name``/``op``/``shape`` are those of that first build), every conversion builds anew.
    """

    def __init__(self, thunk):
        self._thunk = thunk
        self._master_tensor = thunk()

    def _as_tensor(self, dtype=None, name=None, as_ref=False):
        if as_ref or dtype not in (None, self.dtype):
            raise ValueError(f"Cannot convert the regularization loss {self.name!r} to "
                             f"dtype={dtype}, as_ref={as_ref}")
        return self._thunk()

    def get_shape(self):
        return self._master_tensor.get_shape()

    def __repr__(self):
        return f"<lazy {self._master_tensor!r}>"


def _master_property(attr):
    return property(lambda self: getattr(self._master_tensor, attr))


def _op_method(name):
    def method(self, *args):
        return getattr(self._as_tensor(), name)(*args)

    method.__name__ = name
    return method


for _attr in ("device", "dtype", "graph", "name", "op", "shape", "value_index"):
    setattr(_LazyEvalTensor, _attr, _master_property(_attr))
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__neg__", "__abs__", "__pow__", "__getitem__"):
    setattr(_LazyEvalTensor, _name, _op_method(_name))

ops_lib.register_tensor_conversion_function(
    _LazyEvalTensor, lambda v, dtype=None, name=None, as_ref=False: v._as_tensor(dtype, name,
                                                                                 as_ref))


class _VariableStore:
    """The graph's variables created by ``get_variable``, by full name."""

    def __init__(self):
        self._vars: dict = {}
        self._partitioned_vars: dict = {}
        self._store_eager_variables = False

    def get_variable(self, name, shape=None, dtype=dtypes.float32, initializer=None,
                     regularizer=None, reuse=None, trainable=None, collections=None,
                     caching_device=None, partitioner=None, validate_shape=True,
                     use_resource=None, custom_getter=None, constraint=None,
                     synchronization=None, aggregation=None):
        """Gets the variable ``name`` or creates it, following ``reuse`` (see module doc)."""
        if custom_getter is not None and not callable(custom_getter):
            raise ValueError(f"Passed a custom_getter which is not callable: {custom_getter}")
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype).base_dtype
        if trainable is None:
            trainable = True

        def true_getter(name, shape=None, dtype=dtypes.float32, initializer=None,
                        regularizer=None, reuse=None, trainable=None, collections=None,
                        caching_device=None, partitioner=None, validate_shape=True,
                        use_resource=None, constraint=None, synchronization=None,
                        aggregation=None):
            is_scalar = isinstance(shape, (list, tuple)) and not shape
            if partitioner is not None and not is_scalar:
                raise NotImplementedError(f"partitioned variables are not supported by gmeta "
                                          f"yet (variable {name!r} has a partitioner)")
            if f"{name}/part_0" in self._vars:
                raise ValueError(f"No partitioner was provided, but a partitioned version of the "
                                 f"variable was found: {name}/part_0. Perhaps a variable of the "
                                 f"same name was already created with partitioning?")
            return self._get_single_variable(
                name=name, shape=shape, dtype=dtype, initializer=initializer,
                regularizer=regularizer, reuse=reuse, trainable=trainable,
                collections=collections, caching_device=caching_device,
                validate_shape=validate_shape, use_resource=use_resource, constraint=constraint,
                synchronization=synchronization, aggregation=aggregation)

        kwargs = dict(name=name, shape=shape, dtype=dtype, initializer=initializer,
                      regularizer=regularizer, reuse=reuse, trainable=trainable,
                      collections=collections, caching_device=caching_device,
                      partitioner=partitioner, validate_shape=validate_shape,
                      use_resource=use_resource, synchronization=synchronization,
                      aggregation=aggregation)
        if custom_getter is not None:
            if _accepts(custom_getter, "constraint"):
                kwargs["constraint"] = constraint
            return custom_getter(getter=true_getter, **kwargs)
        return true_getter(constraint=constraint, **kwargs)

    def _get_single_variable(self, name, shape=None, dtype=dtypes.float32, initializer=None,
                             regularizer=None, partition_info=None, reuse=None, trainable=None,
                             collections=None, caching_device=None, validate_shape=True,
                             use_resource=None, constraint=None, synchronization=None,
                             aggregation=None):
        from_value = initializer is not None and not callable(initializer)
        if shape is not None and from_value:
            raise ValueError("If initializer is a constant, do not specify shape.")
        dtype = dtypes.as_dtype(dtype)
        if shape is not None:
            shape = as_shape(shape)

        if name in self._vars:
            found = self._vars[name]
            if reuse is False:
                where = found.op._traceback or "  (gmeta does not record creation tracebacks)"
                raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to set "
                                 f"reuse=True or reuse=tf.AUTO_REUSE in VarScope? Originally "
                                 f"defined at:\n\n{where}")
            if shape is not None and not shape.is_compatible_with(found.get_shape()):
                raise ValueError(f"Trying to share variable {name}, but specified shape {shape} "
                                 f"and found shape {found.get_shape()}.")
            if not dtype.is_compatible_with(found.dtype):
                raise ValueError(f"Trying to share variable {name}, but specified dtype "
                                 f"{dtype.name} and found dtype {found.dtype.name}.")
            return found

        if reuse is True:
            raise ValueError(f"Variable {name} does not exist, or was not created with "
                             f"tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                             f"VarScope?")
        if initializer is None:
            if shape is None:
                raise ValueError(f"Variable {name} did not get an initializer, so its `shape` "
                                 f"argument must be specified.")
            initializer, from_value = self._get_default_initializer(name, shape, dtype)

        if from_value:
            init_val, variable_dtype = initializer, None
        else:
            if inspect.isclass(initializer):
                initializer = initializer()
            if shape is not None and shape.is_fully_defined():
                if _accepts(initializer, "partition_info"):
                    init_val = functools.partial(initializer, shape.as_list(), dtype=dtype,
                                                 partition_info=partition_info)
                else:
                    init_val = functools.partial(initializer, shape.as_list(), dtype=dtype)
                variable_dtype = dtype.base_dtype
            elif _needs_no_arguments(initializer):
                init_val, variable_dtype = initializer, None
            else:
                raise ValueError("The initializer passed is not valid. It should be a callable "
                                 "with no arguments and the shape should not be provided or an "
                                 "instance of `tf.keras.initializers.*' and `shape` should be "
                                 "fully defined.")

        kwargs = dict(initial_value=init_val, name=name, trainable=trainable,
                      collections=collections, caching_device=caching_device,
                      dtype=variable_dtype, validate_shape=validate_shape, constraint=constraint,
                      shape=shape, synchronization=synchronization, aggregation=aggregation)
        if use_resource:
            v = resource_variable_ops.ResourceVariable(**kwargs)
        else:
            v = variables_lib.Variable(use_resource=False, **kwargs)
        self._vars[name] = v

        if regularizer:
            def make_regularizer_op():
                g = ops_lib.get_default_graph()
                with g.colocate_with(v.op), g.name_scope(name + "/Regularizer/"):
                    return regularizer(v)

            # Like TF: a first call (in the caller's scope) decides whether there is a loss.
            if regularizer(v) is not None:
                ops_lib.add_to_collection(GraphKeys.REGULARIZATION_LOSSES,
                                          _LazyEvalTensor(make_regularizer_op))
        return v

    @staticmethod
    def _get_default_initializer(name, shape=None, dtype=dtypes.float32):
        del shape
        if dtype.is_floating:
            return init_ops.glorot_uniform_initializer(), False
        if dtype.is_integer or dtype.is_unsigned or dtype.is_bool or dtype == dtypes.string:
            return init_ops.zeros_initializer(), False
        raise ValueError(f"An initializer for variable {name} of {dtype.base_dtype} is required")


class VariableScope:
    """Defaults for ``get_variable`` inside a ``variable_scope`` (name prefix, reuse, ...).

    Args:
        reuse: True, False or ``AUTO_REUSE``.
        name: The scope's full name (prefix of the variables created in it).
        initializer, regularizer, caching_device, partitioner, custom_getter, dtype,
        use_resource, constraint: Defaults passed to ``get_variable``.
        name_scope: The name scope (with trailing '/') opened with this scope.
    """

    def __init__(self, reuse, name="", initializer=None, regularizer=None, caching_device=None,
                 partitioner=None, custom_getter=None, name_scope="", dtype=dtypes.float32,
                 use_resource=None, constraint=None):
        self._name = name
        self._initializer = initializer
        self._regularizer = regularizer
        self._reuse = reuse
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._name_scope = name_scope
        self._dtype = dtype
        self._use_resource = use_resource
        self._constraint = constraint

    name = property(lambda self: self._name)
    original_name_scope = property(lambda self: self._name_scope)
    reuse = property(lambda self: self._reuse)
    initializer = property(lambda self: self._initializer)
    dtype = property(lambda self: self._dtype)
    use_resource = property(lambda self: self._use_resource)
    regularizer = property(lambda self: self._regularizer)
    caching_device = property(lambda self: self._caching_device)
    partitioner = property(lambda self: self._partitioner)
    custom_getter = property(lambda self: self._custom_getter)
    constraint = property(lambda self: self._constraint)

    def reuse_variables(self):
        """Switches this scope (and scopes opened inside it later) to reuse mode."""
        self._reuse = True

    def set_initializer(self, initializer):
        self._initializer = initializer

    def set_dtype(self, dtype):
        self._dtype = dtype

    def set_use_resource(self, use_resource):
        self._use_resource = use_resource

    def set_regularizer(self, regularizer):
        self._regularizer = regularizer

    def set_caching_device(self, caching_device):
        self._caching_device = caching_device

    def set_partitioner(self, partitioner):
        self._partitioner = partitioner

    def set_custom_getter(self, custom_getter):
        self._custom_getter = custom_getter

    def get_collection(self, name):
        """The items of collection ``name`` whose names start with this scope's name."""
        return ops_lib.get_collection(name, self._name + "/" if self._name else "")

    def trainable_variables(self):
        return self.get_collection(GraphKeys.TRAINABLE_VARIABLES)

    def global_variables(self):
        return self.get_collection(GraphKeys.GLOBAL_VARIABLES)

    def local_variables(self):
        return self.get_collection(GraphKeys.LOCAL_VARIABLES)

    def get_variable(self, var_store, name, shape=None, dtype=None, initializer=None,
                     regularizer=None, reuse=None, trainable=None, collections=None,
                     caching_device=None, partitioner=None, validate_shape=True,
                     use_resource=None, custom_getter=None, constraint=None,
                     synchronization=None, aggregation=None):
        """``var_store.get_variable`` of ``<scope name>/name`` with this scope's defaults."""
        regularizer = self._regularizer if regularizer is None else regularizer
        caching_device = self._caching_device if caching_device is None else caching_device
        partitioner = self._partitioner if partitioner is None else partitioner
        custom_getter = self._custom_getter if custom_getter is None else custom_getter
        reuse = self._reuse if reuse is None else reuse
        use_resource = self._use_resource if use_resource is None else use_resource
        full_name = self.name + "/" + name if self.name else name
        # Variable names depend on the variable scope only: leave the name scope meanwhile.
        with ops_lib.get_default_graph().name_scope(None):
            if dtype is not None and initializer is not None and not callable(initializer):
                init_dtype = ops_lib.convert_to_tensor(initializer).dtype.base_dtype
                if init_dtype != dtype:
                    raise ValueError(f"Initializer type '{init_dtype}' and explicit dtype "
                                     f"'{dtypes.as_dtype(dtype)}' don't match.")
            initializer = self._initializer if initializer is None else initializer
            constraint = self._constraint if constraint is None else constraint
            dtype = self._dtype if dtype is None else dtype
            return var_store.get_variable(
                full_name, shape=shape, dtype=dtype, initializer=initializer,
                regularizer=regularizer, reuse=reuse, trainable=trainable,
                collections=collections, caching_device=caching_device,
                partitioner=partitioner, validate_shape=validate_shape,
                use_resource=use_resource, custom_getter=custom_getter, constraint=constraint,
                synchronization=synchronization, aggregation=aggregation)


class _VariableScopeStore(threading.local):
    """The current variable scope and how often each scope name was opened (per thread)."""

    def __init__(self):
        super().__init__()
        self.current_scope = VariableScope(False)
        self.variable_scopes_count: dict = {}

    def open_variable_scope(self, scope_name):
        self.variable_scopes_count[scope_name] = self.variable_scopes_count.get(scope_name, 0) + 1

    def close_variable_subscopes(self, scope_name):
        prefix = None if scope_name is None else scope_name + "/"
        for k in self.variable_scopes_count:
            if prefix is None or k.startswith(prefix):
                self.variable_scopes_count[k] = 0

    def variable_scope_count(self, scope_name):
        return self.variable_scopes_count.get(scope_name, 0)


def get_variable_scope_store() -> _VariableScopeStore:
    """The default graph's scope store (created on first use)."""
    found = ops_lib.get_collection(_VARSCOPESTORE_KEY)
    if found:
        return found[0]
    store = _VariableScopeStore()
    ops_lib.add_to_collection(_VARSCOPESTORE_KEY, store)
    return store


def get_variable_scope() -> VariableScope:
    """The current :class:`VariableScope` of the default graph (the root scope has name "")."""
    return get_variable_scope_store().current_scope


def _get_default_variable_store() -> _VariableStore:
    found = ops_lib.get_collection(_VARSTORE_KEY)
    if found:
        return found[0]
    store = _VariableStore()
    ops_lib.add_to_collection(_VARSTORE_KEY, store)
    return store


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True,
                 use_resource=None, custom_getter=None, constraint=None, synchronization=None,
                 aggregation=None):
    """Gets an existing variable with these parameters or creates a new one.

    The full name is ``<current variable scope>/name``. Whether an existing variable is reused
    follows the scope's ``reuse`` (False: create, error if it exists; True: reuse, error if it
    does not; ``AUTO_REUSE``: either).

    Args:
        name: The variable's name within the current variable scope.
        shape: Its shape (required unless ``initializer`` is a value).
        dtype: Its dtype (default: the scope's dtype, float32).
        initializer: An initializer (class or instance), a callable, or a value (Tensor, numpy or
            Python) that is the initial value; default glorot_uniform for floats, zeros for
            integers/bools/strings.
        regularizer: ``f(variable) -> Tensor or None``; the loss goes to REGULARIZATION_LOSSES.
        trainable: Add to TRAINABLE_VARIABLES (default True).
        collections: Collections to add the variable to (default ``[GLOBAL_VARIABLES]``).
        caching_device, validate_shape, constraint: Passed to ``gm.Variable``.
        partitioner: Not supported (raises NotImplementedError).
        use_resource: True: a ResourceVariable (VarHandleOp); default: the scope's setting,
            else a ref variable (VariableV2), as TF with v2 behavior disabled.
        custom_getter: ``f(getter, name, *args, **kwargs)`` wrapping the creation.
        synchronization, aggregation: Recorded in the VariableDef, as TF does.

    Returns:
        The created or existing ``gm.Variable`` (a ``ResourceVariable`` with use_resource).

    Raises:
        ValueError: creating an existing variable without reuse, reusing a missing one, a
            shape/dtype mismatch on reuse, a value initializer with a shape, or no shape.
    """
    return get_variable_scope().get_variable(
        _get_default_variable_store(), name, shape=shape, dtype=dtype, initializer=initializer,
        regularizer=regularizer, trainable=trainable, collections=collections,
        caching_device=caching_device, partitioner=partitioner, validate_shape=validate_shape,
        use_resource=use_resource, custom_getter=custom_getter, constraint=constraint,
        synchronization=synchronization, aggregation=aggregation)


def get_local_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                       trainable=False, collections=None, caching_device=None, partitioner=None,
                       validate_shape=True, use_resource=None, custom_getter=None,
                       constraint=None, synchronization=None, aggregation=None):
    """``get_variable`` that adds the variable to LOCAL_VARIABLES (and is not trainable)."""
    collections = list(collections or []) + [GraphKeys.LOCAL_VARIABLES]
    return get_variable(name, shape=shape, dtype=dtype, initializer=initializer,
                        regularizer=regularizer, trainable=trainable, collections=collections,
                        caching_device=caching_device, partitioner=partitioner,
                        validate_shape=validate_shape, use_resource=use_resource,
                        custom_getter=custom_getter, constraint=constraint,
                        synchronization=synchronization, aggregation=aggregation)


def _maybe_wrap_custom_getter(custom_getter, old_getter):
    if old_getter is None:
        return custom_getter

    def wrapped_custom_getter(getter, *args, **kwargs):
        return custom_getter(functools.partial(old_getter, getter), *args, **kwargs)

    return wrapped_custom_getter


class _pure_variable_scope:  # noqa: N801 - TF's name
    """Sets the current VariableScope (no name scope of its own)."""

    def __init__(self, name_or_scope, reuse=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, old_name_scope=None,
                 dtype=dtypes.float32, use_resource=None, constraint=None):
        self._name_or_scope = name_or_scope
        self._reuse = reuse
        self._overrides = dict(initializer=initializer, regularizer=regularizer,
                               caching_device=caching_device, partitioner=partitioner,
                               dtype=dtype, use_resource=use_resource)
        self._custom_getter = custom_getter
        self._old_name_scope = old_name_scope
        self._constraint = constraint
        self._var_scope_store = get_variable_scope_store()
        _get_default_variable_store()
        self._last_variable_scope_object = None
        if isinstance(name_or_scope, VariableScope):
            scope = name_or_scope
            self._new_name = scope.name
            self._cached_variable_scope_object = self._new_scope(
                scope.reuse if not reuse else reuse, scope, scope._name_scope)

    def _new_scope(self, reuse, parent, name_scope):
        """A VariableScope inheriting ``parent``'s defaults, then this scope's overrides."""
        obj = VariableScope(reuse, name=self._new_name, initializer=parent.initializer,
                            regularizer=parent.regularizer, caching_device=parent.caching_device,
                            partitioner=parent.partitioner, dtype=parent.dtype,
                            custom_getter=parent.custom_getter, name_scope=name_scope,
                            use_resource=parent.use_resource, constraint=self._constraint)
        for key, value in self._overrides.items():
            if value is not None:
                getattr(obj, f"set_{key}")(value)
        if self._custom_getter is not None:
            obj.set_custom_getter(_maybe_wrap_custom_getter(self._custom_getter,
                                                            parent.custom_getter))
        return obj

    def __enter__(self):
        store = self._var_scope_store
        self._old = store.current_scope
        if isinstance(self._name_or_scope, VariableScope):
            store.open_variable_scope(self._new_name)
            self._old_subscopes = copy.copy(store.variable_scopes_count)
            obj = self._cached_variable_scope_object
        else:
            old = self._old
            self._new_name = (old.name + "/" + self._name_or_scope if old.name
                              else self._name_or_scope)
            self._reuse = self._reuse or old.reuse
            name_scope = (self._name_or_scope if self._old_name_scope is None
                          else self._old_name_scope)
            obj = self._new_scope(self._reuse, old, name_scope)
            store.open_variable_scope(self._new_name)
        store.current_scope = obj
        self._last_variable_scope_object = obj
        return obj

    def __exit__(self, *exc):
        store = self._var_scope_store
        if store.current_scope is not self._last_variable_scope_object:
            raise RuntimeError("Improper nesting of variable_scope.")
        if isinstance(self._name_or_scope, VariableScope):
            store.variable_scopes_count = self._old_subscopes
        else:
            store.close_variable_subscopes(self._new_name)
        store.current_scope = self._old


def _get_unique_variable_scope(prefix):
    store = get_variable_scope_store()
    current = get_variable_scope()
    name = current.name + "/" + prefix if current.name else prefix
    if store.variable_scope_count(name) == 0:
        return prefix
    idx = 1
    while store.variable_scope_count(f"{name}_{idx}") > 0:
        idx += 1
    return f"{prefix}_{idx}"


class variable_scope:  # noqa: N801 - TF's name
    """A context manager that opens a variable scope (and, by default, a name scope).

    Args:
        name_or_scope: A scope name or a captured :class:`VariableScope` to re-enter.
        default_name: Used, made unique, when ``name_or_scope`` is None.
        values: Tensors passed to the ops (selects their graph).
        initializer, regularizer, caching_device, partitioner, custom_getter, dtype,
        use_resource, constraint: Defaults for ``get_variable`` in the scope.
        reuse: True, None (inherit) or ``AUTO_REUSE``; False is the same as None.
        auxiliary_name_scope: False: do not open a name scope (ops stay in the current one).

    Raises:
        TypeError: neither ``name_or_scope`` nor ``default_name`` given, or a bad type.
        ValueError: ``reuse`` is not True/False/None/AUTO_REUSE, or ``reuse=True`` with only a
            ``default_name``.
    """

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None,
                 regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                 reuse=None, dtype=None, use_resource=None, constraint=None,
                 auxiliary_name_scope=True):
        self._name_or_scope = name_or_scope
        self._default_name = default_name
        self._kwargs = dict(initializer=initializer, regularizer=regularizer,
                            caching_device=caching_device, partitioner=partitioner,
                            custom_getter=custom_getter, dtype=dtype, use_resource=use_resource,
                            constraint=constraint)
        self._reuse = reuse
        if default_name is None and name_or_scope is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if self._reuse is False:
            self._reuse = None
        if not (self._reuse is True or self._reuse is None or self._reuse is AUTO_REUSE):
            raise ValueError("The reuse parameter must be True or False or None.")
        self._graph = ops_lib._graph_of(values or [])
        self._cached_pure_variable_scope = None
        self._current_name_scope = None
        if not isinstance(auxiliary_name_scope, bool):
            raise TypeError(f"The auxiliary_name_scope must be `True` or `False`, while get "
                            f"{auxiliary_name_scope}")
        self._auxiliary_name_scope = auxiliary_name_scope

    def __enter__(self):
        self._graph_context = self._graph.as_default()
        self._graph_context.__enter__()
        if self._cached_pure_variable_scope is not None:
            if self._current_name_scope is not None:
                self._enter_name_scope(self._name_scope_arg)
            return self._cached_pure_variable_scope.__enter__()
        try:
            return self._enter_scope_uncached()
        except BaseException:
            self._graph_context.__exit__(None, None, None)
            raise

    def _enter_name_scope(self, name):
        self._name_scope_arg = name
        cm = self._graph.name_scope(name)
        self._current_name_scope = cm
        return cm.__enter__()

    def _enter_pure(self, name, old_name_scope, reuse):
        pure = _pure_variable_scope(name, reuse=reuse, old_name_scope=old_name_scope,
                                    **self._kwargs)
        entered = pure.__enter__()
        self._cached_pure_variable_scope = pure
        return entered

    def _enter_scope_uncached(self):
        aux_scope = None
        if not self._auxiliary_name_scope:
            current = self._graph.get_name_scope()
            aux_scope = current + "/" if current else current
        scope = self._name_or_scope
        if scope is not None:
            if not isinstance(scope, (VariableScope, str)):
                raise TypeError("VariableScope: name_or_scope must be a string or VariableScope.")
            name_scope = scope if isinstance(scope, str) else scope.name.split("/")[-1]
            if name_scope or aux_scope is not None:
                entered = self._enter_name_scope(name_scope if aux_scope is None else aux_scope)
                old_name_scope = entered if isinstance(scope, str) else scope.original_name_scope
                return self._enter_pure(scope, old_name_scope, self._reuse)
            self._current_name_scope = None
            return self._enter_pure(scope, None, self._reuse)
        if self._reuse:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        entered = self._enter_name_scope(self._default_name if aux_scope is None else aux_scope)
        unique = _get_unique_variable_scope(self._default_name)
        return self._enter_pure(unique, entered, None)

    def __exit__(self, exc_type, exc_value, tb):
        try:
            self._cached_pure_variable_scope.__exit__(exc_type, exc_value, tb)
        finally:
            try:
                if self._current_name_scope is not None:
                    self._current_name_scope.__exit__(exc_type, exc_value, tb)
            finally:
                self._graph_context.__exit__(exc_type, exc_value, tb)


@contextlib.contextmanager
def variable_op_scope(values, name_or_scope, default_name=None, initializer=None,
                      regularizer=None, caching_device=None, partitioner=None,
                      custom_getter=None, reuse=None, dtype=None, use_resource=None,
                      constraint=None):
    """Deprecated: ``variable_scope(name_or_scope, default_name, values, ...)``."""
    with variable_scope(name_or_scope, default_name=default_name, values=values,
                        initializer=initializer, regularizer=regularizer,
                        caching_device=caching_device, partitioner=partitioner,
                        custom_getter=custom_getter, reuse=reuse, dtype=dtype,
                        use_resource=use_resource, constraint=constraint) as scope:
        yield scope
