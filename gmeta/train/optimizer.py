"""The optimizer base class (``tf.compat.v1.train.Optimizer``) and its slot variables.

``minimize(loss)`` = ``compute_gradients`` (``gm.gradients`` of the loss with respect to the
trainable variables) + ``apply_gradients`` (one update op per variable, grouped into the train
op). The graph is TensorFlow's node for node:

- slot variables (``w/Momentum``, ``w/Adam``, ``w/Adam_1``, ...) are made by ``get_variable`` in
  the variable scope ``<var op name>/<optimizer name>`` (made unique), colocated with their
  variable, outside any control-dependency block; non-slot variables (Adam's ``beta1_power``)
  are plain variables colocated with the first variable by name;
- the updates live under the scope ``<name>/`` (the optimizer's name by default): its
  hyper-parameter constants (``Adam/learning_rate``), then ``<name>/update_<var op name>/`` for
  each variable, colocated with it; dense gradients use the ``Apply*`` ops, ``IndexedSlices``
  ones (from ``gather``) the ``SparseApply*`` ops after summing repeated indices
  (``Unique`` + ``UnsortedSegmentSum``), and resource variables (``VarHandleOp``) the
  ``ResourceApply*`` forms;
- the train op is a ``NoOp`` named ``<name>`` grouping the updates, or, with a ``global_step``,
  ``<name>/update`` followed by the ``AssignAdd`` named ``<name>``; it joins the ``train_op``
  collection.

Subclasses implement ``_create_slots``, ``_prepare``, ``_apply_dense``, ``_apply_sparse``,
``_resource_apply_dense``, ``_resource_apply_sparse`` (and optionally ``_finish``), exactly as in
TensorFlow.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.ops import GraphKeys
from gmeta.gradients._indexed_slices import IndexedSlices

__all__ = ["Optimizer"]

_apply = op_def_library.apply_op


# -- variables ------------------------------------------------------------------------------------
def _var_key(var):
    """The key of ``var`` in slot tables: (graph, op name)."""
    return (var.op.graph, var.op.name)


def is_resource_variable(var) -> bool:
    """Whether ``var`` is a resource variable (its op is a ``VarHandleOp``)."""
    op = getattr(var, "op", None)
    return getattr(op, "type", None) == "VarHandleOp" and not isinstance(var, ops_lib.Tensor)


def resource_handle(var):
    """The ``resource`` tensor of a resource variable."""
    handle = getattr(var, "handle", None)
    if handle is not None:
        return handle
    return var._ref()  # a variable imported from a VariableDef keeps the handle as its ref


def value_dtype(var):
    """The dtype of ``var``'s value (a resource variable's ``dtype`` attr, not ``resource``)."""
    dtype = var.dtype.base_dtype
    if dtype == dtypes.resource and getattr(var, "op", None) is not None:
        return dtypes.as_dtype(var.op.get_attr("dtype"))
    return dtype


def value_shape(var):
    """The static shape of ``var``'s value (a resource variable's ``shape`` attr)."""
    from gmeta.framework.tensor_shape import as_shape

    if var.dtype.base_dtype == dtypes.resource and getattr(var, "op", None) is not None:
        return as_shape(var.op.get_attr("shape"))
    return var.get_shape()


def ref(var):
    """The mutable (ref) tensor of a ref variable, for the ``Apply*`` ops' ref inputs."""
    return var._ref() if hasattr(var, "_ref") else var


def _is_variable(v) -> bool:
    from gmeta.ops.variables import Variable

    return isinstance(v, Variable) or getattr(v, "_is_resource_variable", False)


def _flatten(items):
    if isinstance(items, dict):
        items = [items[k] for k in sorted(items)]
    if isinstance(items, (list, tuple)):
        out = []
        for x in items:
            out.extend(_flatten(x))
        return out
    return [items]


class _RefVariableProcessor:
    """Updates a ref variable (``VariableV2``): ``Apply*`` / ``SparseApply*`` ops."""

    def __init__(self, v):
        self._v = v

    def target(self):
        return self._v._ref()

    def update_op(self, optimizer, g):
        if isinstance(g, ops_lib.Tensor):
            update_op = optimizer._apply_dense(g, self._v)
            if self._v.constraint is not None:
                with ops_lib.control_dependencies([update_op]):
                    return self._v.assign(self._v.constraint(self._v))
            return update_op
        if self._v.constraint is not None:
            raise RuntimeError("Cannot use a constraint function on a sparse variable.")
        return optimizer._apply_sparse_duplicate_indices(g, self._v)


class _ResourceVariableProcessor:
    """Updates a resource variable (``VarHandleOp``): ``ResourceApply*`` ops on its handle."""

    def __init__(self, v):
        self._v = v

    def target(self):
        return self._v

    def update_op(self, optimizer, g):
        if isinstance(g, IndexedSlices):
            if self._v.constraint is not None:
                raise RuntimeError("Cannot use a constraint function on a sparse variable.")
            return optimizer._resource_apply_sparse_duplicate_indices(g.values, self._v,
                                                                      g.indices)
        update_op = optimizer._resource_apply_dense(g, self._v)
        if self._v.constraint is not None:
            with ops_lib.control_dependencies([update_op]):
                return self._v.assign(self._v.constraint(self._v))
        return update_op


class _TensorProcessor:
    """A plain tensor: gradients can be computed for it, but it cannot be updated."""

    def __init__(self, v):
        self._v = v

    def target(self):
        return self._v

    def update_op(self, optimizer, g):
        raise NotImplementedError(f"Trying to update a Tensor {self._v!r}")


def _get_processor(v):
    if is_resource_variable(v):
        return _ResourceVariableProcessor(v)
    if _is_variable(v):
        return _RefVariableProcessor(v)
    if isinstance(v, ops_lib.Tensor):
        return _TensorProcessor(v)
    raise NotImplementedError(f"Trying to optimize unsupported type {v!r}: expected a Variable "
                              "or a Tensor")


# -- slot variables (TF's slot_creator) -----------------------------------------------------------
def _create_slot_var(primary, val, scope, validate_shape, shape, dtype):
    from gmeta.ops import variable_scope
    from gmeta.ops.variables import SaveSliceInfo

    current_scope = variable_scope.get_variable_scope()
    partitioner = current_scope.partitioner
    current_scope.set_partitioner(None)
    try:
        shape = shape if callable(val) else None
        use_resource = True if is_resource_variable(primary) else (
            False if _is_variable(primary) else None)
        slot = variable_scope.get_variable(
            scope, initializer=val, trainable=False, use_resource=use_resource, shape=shape,
            dtype=dtype, validate_shape=validate_shape)
    finally:
        current_scope.set_partitioner(partitioner)
    info = primary._get_save_slice_info() if _is_variable(primary) else None
    if info is not None:
        real_slot_name = slot.name[len(primary.op.name + "/"):-2]
        ndims = slot.shape.ndims
        if ndims is None or ndims > 0:
            slot._set_save_slice_info(SaveSliceInfo(
                full_name=info.full_name + "/" + real_slot_name,
                full_shape=info.full_shape[:ndims], var_offset=info.var_offset[:ndims],
                var_shape=info.var_shape[:ndims]))
    return slot


def _slot_scope_prefix(primary) -> str:
    return primary.op.name


def _in_slot_scope(primary, name, colocate_with_primary, make):
    from gmeta.ops import variable_scope

    g = ops_lib.get_default_graph()
    with variable_scope.variable_scope(None, _slot_scope_prefix(primary) + "/" + name):
        if colocate_with_primary:
            with g.colocate_with(primary):
                return make()
        return make()


def create_slot(primary, val, name, colocate_with_primary=True):
    """A slot variable for ``primary`` initialised from the tensor ``val``.

    Named ``<primary op name>/<name>`` (made unique), not trainable, colocated with
    ``primary`` unless ``colocate_with_primary`` is False.
    """
    validate_shape = val.get_shape().is_fully_defined()
    return _in_slot_scope(primary, name, colocate_with_primary, lambda: _create_slot_var(
        primary, val, "", validate_shape, None, None))


def create_slot_with_initializer(primary, initializer, shape, dtype, name,
                                 colocate_with_primary=True):
    """A slot variable for ``primary`` made by ``initializer`` with ``shape`` and ``dtype``."""
    from gmeta.framework.tensor_shape import as_shape

    shape = as_shape(shape)
    validate_shape = shape.is_fully_defined()
    dtype = dtypes.as_dtype(dtype)
    return _in_slot_scope(primary, name, colocate_with_primary, lambda: _create_slot_var(
        primary, initializer, "", validate_shape, shape, dtype))


def create_zeros_slot(primary, name, dtype=None, colocate_with_primary=True):
    """A slot variable of zeros shaped like ``primary``."""
    from gmeta.ops import array_ops, init_ops

    if dtype is None:
        dtype = value_dtype(primary)
    slot_shape = value_shape(primary)
    if slot_shape.is_fully_defined():
        return create_slot_with_initializer(primary, init_ops.zeros_initializer(), slot_shape,
                                            dtype, name, colocate_with_primary)
    source = primary.value() if _is_variable(primary) else primary
    val = array_ops.zeros(array_ops.shape(source), dtype=dtype)
    return create_slot(primary, val, name, colocate_with_primary)


def _deduplicate_indexed_slices(values, indices):
    """(values summed per unique index, the unique indices): ``Unique`` + ``UnsortedSegmentSum``."""
    from gmeta.ops import array_ops

    unique_indices, new_index_positions = _apply("Unique", x=indices, out_idx=dtypes.int32)
    summed = _apply("UnsortedSegmentSum", data=values, segment_ids=new_index_positions,
                    num_segments=array_ops.shape(unique_indices)[0])
    return summed, unique_indices


# -- the optimizer --------------------------------------------------------------------------------
class Optimizer:
    """Base class of the TF1 optimizers (``tf.compat.v1.train.Optimizer``).

    Args:
        use_locking: pass ``use_locking=True`` to the update ops.
        name: the optimizer's name: the scope of its update ops and the suffix of its slot
            variables.
        use_own_namescope_for_non_slot_vars: create non-slot variables (Adam's
            ``beta1_power``) under a root variable scope named after the optimizer.

    Raises:
        ValueError: ``name`` is empty.
    """

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking, name, use_own_namescope_for_non_slot_vars=False):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._use_own_namescope_for_non_slot_vars = use_own_namescope_for_non_slot_vars
        if use_own_namescope_for_non_slot_vars:
            from gmeta.ops import variable_scope

            with variable_scope.variable_scope(None, default_name=name) as vs:
                self._non_slot_variable_scope = vs
        self._slots: dict = {}
        self._non_slot_dict: dict = {}

    def get_name(self) -> str:
        return self._name

    # -- the public API ---------------------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        """Adds the ops that minimize ``loss`` by updating ``var_list``.

        ``compute_gradients`` followed by ``apply_gradients``.

        Args:
            loss: a float scalar Tensor to minimize.
            global_step: optional integer Variable, incremented by one after the updates.
            var_list: the Variables to update (default: the trainable variables).
            gate_gradients: ``GATE_NONE``, ``GATE_OP`` or ``GATE_GRAPH``.
            aggregation_method: an ``AggregationMethod`` value.
            colocate_gradients_with_ops: place gradient ops with their forward ops.
            name: name of the returned op (default: the optimizer's name).
            grad_loss: optional gradient of ``loss``.

        Returns:
            The train op (an Operation).

        Raises:
            ValueError: no variable gets a gradient (the message names the variables and the
                loss), there are no variables, or the loss is not a float tensor.
        """
        grads_and_vars = self.compute_gradients(
            loss, var_list=var_list, gate_gradients=gate_gradients,
            aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss)
        if not [v for g, v in grads_and_vars if g is not None]:
            raise ValueError(
                "No gradients provided for any variable, check your graph for ops that do not "
                f"support gradients, between variables {[str(v) for _, v in grads_and_vars]} "
                f"and loss {loss}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None):
        """The gradients of ``loss`` for the variables in ``var_list``.

        Args:
            loss: a float Tensor.
            var_list: Variables (default: ``trainable_variables()`` plus the
                ``trainable_resource_variables`` collection).
            gate_gradients, aggregation_method, colocate_gradients_with_ops, grad_loss: as in
                :meth:`minimize`.

        Returns:
            A list of (gradient, variable) pairs; the gradient is a Tensor, an
            ``IndexedSlices`` or None.

        Raises:
            ValueError: bad ``gate_gradients``, no variables, or a non-float loss/variable.
            NotImplementedError: ``var_list`` holds something that is not a Variable or Tensor.
        """
        from gmeta.gradients import gradients as gradients_fn
        from gmeta.gradients._impl import _tuple

        if callable(loss) and not isinstance(loss, ops_lib.Tensor):
            raise RuntimeError("`loss` passed to Optimizer.compute_gradients should be a Tensor "
                               "in graph mode (a callable is only accepted when executing "
                               "eagerly, which gmeta does not do)")
        if gate_gradients not in (Optimizer.GATE_NONE, Optimizer.GATE_OP, Optimizer.GATE_GRAPH):
            raise ValueError("gate_gradients must be one of: Optimizer.GATE_NONE, "
                             f"Optimizer.GATE_OP, Optimizer.GATE_GRAPH.  Not {gate_gradients}")
        loss = ops_lib.convert_to_tensor(loss)
        self._assert_valid_dtypes([loss])
        if grad_loss is not None:
            grad_loss = ops_lib.convert_to_tensor(grad_loss)
            self._assert_valid_dtypes([grad_loss])
        g = loss.graph
        if var_list is None:
            var_list = (g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
                        + g.get_collection(GraphKeys.TRAINABLE_RESOURCE_VARIABLES))
        else:
            var_list = _flatten(var_list)
        var_list = var_list + g.get_collection("_STREAMING_MODEL_PORTS")
        processors = [_get_processor(v) for v in var_list]
        if not var_list:
            raise ValueError("No variables to optimize.")
        var_refs = [p.target() for p in processors]
        with g.as_default():
            grads = gradients_fn(loss, var_refs, grad_ys=grad_loss,
                                 gate_gradients=(gate_gradients == Optimizer.GATE_OP),
                                 aggregation_method=aggregation_method,
                                 colocate_gradients_with_ops=colocate_gradients_with_ops)
            if gate_gradients == Optimizer.GATE_GRAPH:
                grads = _tuple(g, grads)
        grads_and_vars = list(zip(grads, var_list))
        self._assert_valid_dtypes([v for gr, v in grads_and_vars
                                   if gr is not None and v.dtype != dtypes.resource])
        return grads_and_vars

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Adds the ops that apply ``grads_and_vars`` (from ``compute_gradients``).

        Args:
            grads_and_vars: (gradient, variable) pairs; None gradients are skipped.
            global_step: optional Variable incremented by one after the updates.
            name: name of the returned op (default: the optimizer's name).

        Returns:
            The train op: the ``AssignAdd`` of ``global_step`` if given, else a ``NoOp``.

        Raises:
            TypeError: a gradient is not convertible to a Tensor or IndexedSlices.
            ValueError: ``grads_and_vars`` is empty, or every gradient is None.
        """
        grads_and_vars = tuple(grads_and_vars)
        if not grads_and_vars:
            raise ValueError("No variables provided.")
        converted = []
        for grad, var in grads_and_vars:
            if grad is not None:
                try:
                    grad = ops_lib.convert_to_tensor_or_indexed_slices(grad)
                except (TypeError, ValueError):
                    raise TypeError(f"Gradient must be convertible to a Tensor or "
                                    f"IndexedSlices, or None: {grad!r}") from None
                if not isinstance(grad, (ops_lib.Tensor, IndexedSlices)):
                    raise TypeError(f"Gradient must be a Tensor, IndexedSlices, or None: "
                                    f"{grad!r}")
            converted.append((grad, var, _get_processor(var)))
        var_list = [v for grad, v, _ in converted if grad is not None]
        if not var_list:
            raise ValueError(f"No gradients provided for any variable: "
                             f"{[str(v) for _, v, _ in converted]}.")
        g = var_list[0].op.graph
        with g.as_default():
            with g.control_dependencies(None):  # TF's init_scope
                self._create_slots(var_list)
            update_ops = []
            with ops_lib.name_scope_v1(name, self._name) as name:
                self._prepare()
                for grad, var, processor in converted:
                    if grad is None:
                        continue
                    with g.name_scope("update_" + var.op.name), g.colocate_with(var):
                        update_ops.append(processor.update_op(self, grad))
                if global_step is None:
                    apply_updates = self._finish(update_ops, name)
                else:
                    with g.control_dependencies([self._finish(update_ops, "update")]):
                        with g.colocate_with(global_step):
                            apply_updates = _increment(global_step, name)
                if isinstance(apply_updates, ops_lib.Tensor):
                    apply_updates = apply_updates.op
                train_op = g.get_collection_ref(GraphKeys.TRAIN_OP)
                if apply_updates not in train_op:
                    train_op.append(apply_updates)
                return apply_updates

    def get_slot(self, var, name):
        """The slot variable ``name`` made for ``var``, or None."""
        named_slots = self._slots.get(name)
        if not named_slots:
            return None
        return named_slots.get(_var_key(var))

    def get_slot_names(self) -> list:
        """The names of the slots this optimizer made (sorted)."""
        return sorted(self._slots)

    def variables(self) -> list:
        """This optimizer's variables in the default graph (slots and non-slots), by name."""
        graph = ops_lib.get_default_graph()
        out = [v for v in self._non_slot_variables() if v.op.graph is graph]
        for slots in self._slots.values():
            out.extend(v for v in slots.values() if v.op.graph is graph)
        return sorted(out, key=lambda v: v.name)

    # -- for subclasses ---------------------------------------------------------------------------
    def _valid_dtypes(self):
        return {dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64}

    def _assert_valid_dtypes(self, tensors):
        valid = self._valid_dtypes()
        for t in tensors:
            dtype = t.dtype.base_dtype
            if dtype not in valid:
                names = sorted(d.name for d in valid)
                raise ValueError(f"Invalid type {dtype.name} for {t.name}, expected: {names}. "
                                 "Optimizers minimize floating-point losses of floating-point "
                                 "variables.")

    def _create_slots(self, var_list):
        """Creates the slot variables of ``var_list`` (called outside control dependencies)."""

    def _prepare(self):
        """Creates the hyper-parameter tensors, in the optimizer's name scope."""

    def _apply_dense(self, grad, var):
        raise NotImplementedError(f"{type(self).__name__} does not update ref variables")

    def _resource_apply_dense(self, grad, handle):
        raise NotImplementedError(f"{type(self).__name__} does not update resource variables")

    def _apply_sparse(self, grad, var):
        raise NotImplementedError(f"{type(self).__name__} does not apply sparse gradients")

    def _resource_apply_sparse(self, grad, handle, indices):
        raise NotImplementedError(f"{type(self).__name__} does not apply sparse gradients to "
                                  "resource variables")

    def _apply_sparse_duplicate_indices(self, grad, var):
        """Sums the values of repeated indices, then ``_apply_sparse``."""
        summed, unique = _deduplicate_indexed_slices(grad.values, grad.indices)
        return self._apply_sparse(IndexedSlices(summed, unique, grad.dense_shape), var)

    def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices):
        summed, unique = _deduplicate_indexed_slices(grad, indices)
        return self._resource_apply_sparse(summed, handle, unique)

    def _finish(self, update_ops, name_scope):
        """The op that runs all ``update_ops`` (a ``NoOp`` named ``name_scope``)."""
        from gmeta.ops import control_flow_ops

        return control_flow_ops.group(*update_ops, name=name_scope)

    @staticmethod
    def _call_if_callable(param):
        return param() if callable(param) else param

    # -- slots ------------------------------------------------------------------------------------
    def _slot_dict(self, slot_name):
        return self._slots.setdefault(slot_name, {})

    def _get_or_make_slot(self, var, val, slot_name, op_name):
        named_slots = self._slot_dict(slot_name)
        if _var_key(var) not in named_slots:
            named_slots[_var_key(var)] = create_slot(var, val, op_name)
        return named_slots[_var_key(var)]

    def _get_or_make_slot_with_initializer(self, var, initializer, shape, dtype, slot_name,
                                           op_name):
        named_slots = self._slot_dict(slot_name)
        if _var_key(var) not in named_slots:
            named_slots[_var_key(var)] = create_slot_with_initializer(
                var, initializer, shape, dtype, op_name)
        return named_slots[_var_key(var)]

    def _zeros_slot(self, var, slot_name, op_name):
        named_slots = self._slot_dict(slot_name)
        if _var_key(var) not in named_slots:
            named_slots[_var_key(var)] = create_zeros_slot(var, op_name)
        return named_slots[_var_key(var)]

    def _create_non_slot_variable(self, initial_value, name, colocate_with):
        """A variable not tied to one variable (Adam's ``beta1_power``), made once per graph
        and colocated with ``colocate_with``."""
        from gmeta.ops import variable_scope
        from gmeta.ops.variables import Variable

        graph = colocate_with.op.graph
        key = (name, graph)
        v = self._non_slot_dict.get(key)
        if v is None:
            use_resource = is_resource_variable(colocate_with)
            with graph.as_default(), graph.colocate_with(colocate_with):
                if self._use_own_namescope_for_non_slot_vars:
                    with graph.name_scope(None):
                        with variable_scope.variable_scope(self._non_slot_variable_scope):
                            v = variable_scope.get_variable(
                                name, initializer=initial_value, trainable=False,
                                use_resource=use_resource)
                elif use_resource:
                    v = _resource_variable(initial_value, name)
                else:
                    v = Variable(initial_value, name=name, trainable=False)
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name, graph=None):
        return self._non_slot_dict.get((name, graph))

    def _non_slot_variables(self):
        return list(self._non_slot_dict.values())


def _resource_variable(initial_value, name):
    try:
        from gmeta.ops.resource_variable_ops import ResourceVariable
    except ImportError:  # resource variables not built yet: Variable says so
        from gmeta.ops.variables import Variable

        return Variable(initial_value, name=name, trainable=False, use_resource=True)
    return ResourceVariable(initial_value, name=name, trainable=False)


def _increment(global_step, name):
    """``global_step += 1`` named ``name`` (``AssignAdd`` or ``AssignAddVariableOp``)."""
    if is_resource_variable(global_step):
        one = ops_lib.convert_to_tensor(1, dtype=global_step.dtype.base_dtype)
        return _apply("AssignAddVariableOp", resource=resource_handle(global_step), value=one,
                      name=name)
    return _apply("AssignAdd", ref=ref(global_step), value=1, name=name)


# -- Unique (the sparse updates' de-duplication), update shapes ----------------------------------
# The Unique kernel and shape function belong with the array family (gmeta/kernels/array.py,
# gmeta/ops/_array_shapes.py) and the update ops' shape functions with the training ops; they
# are registered here only while those families lack them.
def _register_unique():
    from gmeta import errors, kernels
    from gmeta.framework import shape_inference
    from gmeta.framework.tensor_shape import TensorShape

    if not kernels.has_kernel("Unique", "CPU"):
        @kernels.kernel("Unique")
        def _unique(ctx):
            xp, idx_dtype = ctx.xp, ctx.output_np_dtype(1)

            def run(x):
                if x.ndim != 1:
                    raise errors.InvalidArgumentError(
                        None, ctx.op, f"unique expects a 1D vector. (node {ctx.op.name}: input "
                        f"has shape [{','.join(str(d) for d in x.shape)}])")
                values, first, inverse = xp.unique(x, return_index=True, return_inverse=True)
                order = xp.argsort(first)  # TF: in order of first occurrence
                rank = xp.empty_like(order)
                rank[order] = xp.arange(order.size)
                return values[order], rank[inverse.reshape(-1)].astype(idx_dtype)

            return run

    if "Unique" not in shape_inference._SHAPE_FNS:
        @shape_inference.register("Unique")
        def _unique_shape(op):
            x = op.inputs[0].shape.with_rank(1)
            return [TensorShape([None]), x]


def _register_update_shapes():
    """The ref-returning updates (``Apply*``, ``SparseApply*``, ``Scatter*``) output their
    variable: TF's shape functions give output 0 the shape of input 0."""
    from gmeta import kernels
    from gmeta.framework import shape_inference

    def same_as_var(op):
        return [op.inputs[0].shape]

    for op_type in kernels.registered_op_types():
        if (op_type.startswith(("Apply", "SparseApply", "Scatter"))
                and op_type not in shape_inference._SHAPE_FNS and op_type != "ScatterNd"):
            shape_inference.register(op_type)(same_as_var)


_register_unique()
_register_update_shapes()
