"""``gm.TensorArray``: TF 1.x's graph TensorArray (``TensorArrayV3`` and its ops).

A TensorArray is a ``(handle, flow)`` pair: ``TensorArrayV3`` makes the handle, and each write
(``write``, ``unstack``/``scatter``, ``split``) returns a new TensorArray object whose ``flow``
is the write's output, so reads after it depend on it. Passed through ``while_loop`` as a loop
variable, only its flow is a loop variable. Node names, attrs and colocation are TF's
``_GraphTensorArray``'s (writes are colocated with the first value written).
"""

from __future__ import annotations

import contextlib

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference as _si
from gmeta.framework.tensor_shape import TensorShape, as_shape

__all__ = ["TensorArray"]


def _apply(op_type, **kw):
    return op_def_library.apply_op(op_type, **kw)


class TensorArray:
    """A list of tensors of one dtype, written and read by index inside graphs (TF 1.x).

    Args:
        dtype: The element dtype.
        size: Scalar int32 tensor: the number of elements (required unless ``handle``).
        dynamic_size: Writes past ``size`` grow the array.
        clear_after_read: Reading an element frees it (default True).
        tensor_array_name: The runtime name of the array.
        handle, flow: Wrap an existing array (as the gradient code does).
        infer_shape: All elements have one shape, learned from the first write.
        element_shape: A (partial) shape of the elements.
        colocate_with_first_write_call: Colocate the writes with the first value written.
        name: Name scope of the ``TensorArrayV3`` node.
    """

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        if handle is not None and tensor_array_name:
            raise ValueError("Cannot provide both `handle` and `tensor_array_name` arguments at "
                             "the same time.")
        if handle is not None and not isinstance(handle, ops_lib.Tensor):
            raise TypeError(f"Expected `handle` to be a Tensor, but got `{handle}` of type "
                            f"`{type(handle)}` instead.")
        if handle is None and size is None:
            raise ValueError("Argument `size` must be provided if handle is not provided.")
        if handle is not None and size is not None:
            raise ValueError("Cannot provide both a `handle` and `size` arguments at the same "
                             "time.")
        if handle is not None and element_shape is not None:
            raise ValueError("Cannot provide both `handle` and `element_shape` arguments at "
                             "the same time.")
        if clear_after_read is None:
            clear_after_read = True
        self._dynamic_size = dynamic_size or False
        self._dtype = dtypes.as_dtype(dtype).base_dtype
        self._colocate_with_first_write_call = colocate_with_first_write_call
        self._colocate_with = [] if colocate_with_first_write_call else None
        self._element_shape = [as_shape(element_shape)]
        self._infer_shape = infer_shape
        self._size = size
        with ops_lib.name_scope_v1(name, "TensorArray",
                                   [x for x in (handle, size, flow)
                                    if isinstance(x, ops_lib.Tensor)]) as scope:
            if handle is not None:
                if flow is None:
                    raise ValueError("flow must not be None if handle is not None.")
                self._handle, self._flow = handle, flow
                return

            def create():
                return _apply("TensorArrayV3", size=size, dtype=self._dtype,
                              element_shape=as_shape(element_shape),
                              identical_element_shapes=infer_shape,
                              dynamic_size=self._dynamic_size,
                              clear_after_read=clear_after_read,
                              tensor_array_name=tensor_array_name or "", name=scope)

            if colocate_with_first_write_call:
                g = ops_lib.get_default_graph()
                with g.device(None), g.colocate_with(None, ignore_existing=True):
                    self._handle, self._flow = create()
            else:
                self._handle, self._flow = create()

    # -- properties -----------------------------------------------------------------------------
    @property
    def flow(self):
        return self._flow

    @property
    def dtype(self):
        return self._dtype

    @property
    def handle(self):
        return self._handle

    @property
    def element_shape(self) -> TensorShape:
        return self._element_shape[0]

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic_size

    def _check_element_shape(self, shape):
        if not shape.is_compatible_with(self.element_shape):
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected "
                             f"{self.element_shape} ")
        if self._infer_shape:
            self._element_shape[0] = self.element_shape.merge_with(shape)

    @contextlib.contextmanager
    def _maybe_colocate_with(self, value):
        if not self._colocate_with_first_write_call:
            yield
            return
        if not self._colocate_with:
            self._colocate_with.append(value)
        with ops_lib.get_default_graph().colocate_with(self._colocate_with[0].op):
            yield

    def _value(self, value):
        value = ops_lib.convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
        if value.dtype.base_dtype != self._dtype:
            raise TypeError(f"TensorArray of dtype {self._dtype.name} cannot take a value of "
                            f"dtype {value.dtype.base_dtype.name}")
        return value

    # -- operations -----------------------------------------------------------------------------
    def identity(self):
        """This array with its flow passed through an Identity."""
        from gmeta.ops import array_ops

        return build_ta_with_new_flow(self, array_ops.identity(self._flow))

    def grad(self, source, flow=None, name=None):
        """The gradient array of this one for gradient source ``source`` (TensorArrayGradV3)."""
        from gmeta.ops import array_ops

        if flow is None:
            flow = self.flow
        g = ops_lib.get_default_graph()
        with ops_lib.name_scope_v1(name, "TensorArrayGrad", [self._handle]):
            with g.colocate_with(self._handle.op):
                g_handle, _ = _apply("TensorArrayGradV3", handle=self._handle, flow_in=flow,
                                     source=source, name=name)
                with g.control_dependencies([g_handle]):
                    flow = array_ops.identity(flow, name="gradient_flow")
                out = TensorArray(dtype=self._dtype, handle=g_handle, flow=flow,
                                  infer_shape=self._infer_shape,
                                  colocate_with_first_write_call=False)
                out._element_shape = self._element_shape
                return out

    def read(self, index, name=None):
        """The element at ``index``."""
        value = _apply("TensorArrayReadV3", handle=self._handle, index=index,
                       flow_in=self._flow, dtype=self._dtype, name=name)
        if self._element_shape:
            value.set_shape(self._element_shape[0])
        return value

    def write(self, index, value, name=None):
        """This array with ``value`` written at ``index`` (a new TensorArray object)."""
        with ops_lib.name_scope_v1(name, "TensorArrayWrite", [self._handle, index, value]):
            value = self._value(value)
            self._check_element_shape(value.shape)
            with self._maybe_colocate_with(value):
                flow_out = _apply("TensorArrayWriteV3", handle=self._handle, index=index,
                                  value=value, flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def stack(self, name=None):
        """All elements stacked on a new first axis."""
        from gmeta.ops import math_ops

        g = ops_lib.get_default_graph()
        with g.colocate_with(self._handle.op):
            with ops_lib.name_scope_v1(name, "TensorArrayStack", [self._handle]):
                value = self.gather(math_ops.range(0, self.size()), name=name)
                if self.element_shape.ndims is not None and not self._dynamic_size and \
                        self._size is not None:
                    size = _si.constant_value(ops_lib.convert_to_tensor(self._size))
                    value.set_shape([None if size is None else int(size)] +
                                    self.element_shape.as_list())
                return value

    def gather(self, indices, name=None):
        """The elements at ``indices`` stacked on a new first axis."""
        value = _apply("TensorArrayGatherV3", handle=self._handle, indices=indices,
                       flow_in=self._flow, dtype=self._dtype, element_shape=self.element_shape,
                       name=name)
        if self.element_shape.ndims is not None:
            value.set_shape([None] + self.element_shape.as_list())
        return value

    def concat(self, name=None):
        """All elements concatenated along their first axis."""
        es = self.element_shape
        except0 = TensorShape(None) if es.ndims is None else TensorShape(es.as_list()[1:])
        value, _ = _apply("TensorArrayConcatV3", handle=self._handle, flow_in=self._flow,
                          dtype=self._dtype, element_shape_except0=except0, name=name)
        if es.ndims is not None:
            dim0 = None
            if self._infer_shape:
                size = _si.constant_value(self.size())
                if size is not None and es.as_list()[0] is not None:
                    dim0 = int(size) * es.as_list()[0]
            value.set_shape([dim0] + es.as_list()[1:])
        return value

    def unstack(self, value, name=None):
        """This array with the slices of ``value`` along its first axis written."""
        from gmeta.ops import array_ops, math_ops

        with ops_lib.name_scope_v1(name, "TensorArrayUnstack", [self._handle, value]):
            num_elements = array_ops.shape(value)[0]
            return self.scatter(indices=math_ops.range(0, num_elements), value=value, name=name)

    def scatter(self, indices, value, name=None):
        """This array with ``value[i]`` written at ``indices[i]``."""
        with ops_lib.name_scope_v1(name, "TensorArrayScatter", [self._handle, value, indices]):
            value = self._value(value)
            if value.shape.ndims is not None:
                self._check_element_shape(TensorShape(value.shape.as_list()[1:]))
            with self._maybe_colocate_with(value):
                flow_out = _apply("TensorArrayScatterV3", handle=self._handle, indices=indices,
                                  value=value, flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def split(self, value, lengths, name=None):
        """This array with ``value`` split along its first axis into pieces of ``lengths``."""
        from gmeta.ops import math_ops

        with ops_lib.name_scope_v1(name, "TensorArraySplit", [self._handle, value, lengths]):
            value = ops_lib.convert_to_tensor(value, dtype=self._dtype, name="value")
            with self._maybe_colocate_with(value):
                lengths_64 = math_ops.cast(lengths, dtypes.int64)
                clengths = _si.constant_value(lengths_64)
                if value.shape.ndims is not None and clengths is not None:
                    if clengths.shape and clengths.max() == clengths.min():
                        self._check_element_shape(
                            TensorShape([int(clengths[0])] + value.shape.as_list()[1:]))
                flow_out = _apply("TensorArraySplitV3", handle=self._handle, value=value,
                                  lengths=lengths_64, flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def size(self, name=None):
        """The number of elements (the ``size`` given, unless the array is dynamic)."""
        if not self._dynamic_size and self._size is not None:
            return ops_lib.convert_to_tensor(self._size, dtype=dtypes.int32)
        return _apply("TensorArraySizeV3", handle=self._handle, flow_in=self.flow, name=name)

    def close(self, name=None):
        """A ``TensorArrayCloseV3`` op freeing the array."""
        return _apply("TensorArrayCloseV3", handle=self._handle, name=name)


def build_ta_with_new_flow(old_ta, flow):
    """``old_ta`` with another ``flow`` (the same handle, size and element shape)."""
    new = TensorArray(dtype=old_ta._dtype, handle=old_ta._handle, flow=flow,
                      infer_shape=old_ta._infer_shape,
                      colocate_with_first_write_call=old_ta._colocate_with_first_write_call)
    new._dynamic_size = old_ta._dynamic_size
    new._size = old_ta._size
    new._colocate_with = old_ta._colocate_with
    new._element_shape = old_ta._element_shape
    return new


# -- static shapes (TF's shape functions) ---------------------------------------------------------
@_si.register("TensorArrayV3")
def _tensor_array_v3_shape(op):
    return [TensorShape([2]), TensorShape([])]


@_si.register("TensorArrayGradV3", "TensorArrayGradWithShape")
def _tensor_array_grad_shape(op):
    return [TensorShape([2]), TensorShape([])]


@_si.register("TensorArrayWriteV3", "TensorArrayScatterV3", "TensorArraySplitV3",
              "TensorArraySizeV3")
def _scalar_shape(op):
    return [TensorShape([])]


def _handle_element_shape(handle):
    """The element shape TF's shape inference knows from the handle's ``TensorArrayV3`` (its
    handle data: set when the attr shape is fully defined or elements have identical shapes),
    following the handle through Enter/Identity/Switch; None when there is none."""
    op = handle.op
    while op.type in ("Enter", "RefEnter", "Identity", "RefIdentity", "Switch", "RefSwitch",
                      "Merge", "NextIteration", "Exit"):
        op = op._inputs[0].op
    if op.type != "TensorArrayV3":
        return None
    es = op._attr("element_shape")
    es = TensorShape(None) if es is None else es
    if es.is_fully_defined() or op._attr("identical_element_shapes", False):
        return es
    return None


@_si.register("TensorArrayReadV3")
def _read_shape(op):
    es = _handle_element_shape(op._inputs[0])
    return [TensorShape(None) if es is None else es]


@_si.register("TensorArrayGatherV3")
def _gather_shape(op):
    es = _handle_element_shape(op._inputs[0])
    idx = op._inputs[1].shape
    if es is None or es.ndims is None or idx.ndims != 1:
        return [TensorShape(None)]
    return [TensorShape(idx.as_list() + es.as_list())]


@_si.register("TensorArrayConcatV3")
def _concat_shape(op):
    return [TensorShape(None), TensorShape([None])]


@_si.register("StackV2")
def _stack_shape(op):
    return [TensorShape([2])]


@_si.register("StackPushV2")
def _stack_push_shape(op):
    return [op._inputs[1].shape]


@_si.register("StackPopV2")
def _stack_pop_shape(op):
    return [TensorShape(None)]
