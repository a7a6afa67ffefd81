"""TensorArrayV3 kernels: a handle is the :class:`TensorArray` storage itself.

Each run of a ``TensorArrayV3`` node makes a new storage object, so arrays live for one Session
step (and one loop iteration, when the node is inside a loop); the ``flow`` outputs only order
the operations. ``TensorArrayGradV3`` returns, for each ``source``, one gradient array per
forward array: writes to it add up, and reading an element nobody wrote gives zeros of the
forward element's shape (TF's ``multiple_writes_aggregate`` / ``is_grad`` arrays). Errors carry
TF's messages (out-of-range index, double write, read of an unwritten or cleared element,
closed array, inconsistent shapes).
"""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel


def _shape_tuple(shape):
    """A TensorShape (or None) as None (unknown rank) or a tuple of ints / None."""
    if shape is None or getattr(shape, "ndims", None) is None:
        return None
    return tuple(None if d is None else int(d) for d in shape.as_list())


def _compatible(elem, shape) -> bool:
    if elem is None:
        return True
    return len(elem) == len(shape) and all(a is None or a == b for a, b in zip(elem, shape))


def _fully_defined(elem) -> bool:
    return elem is not None and all(d is not None for d in elem)


def _merge(a, b):
    """The more specific of two compatible element shapes."""
    if a is None:
        return b
    if b is None or len(a) != len(b):
        return a
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _str(shape) -> str:
    if shape is None:
        return "<unknown>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


class TensorArray:
    """The storage of one execution of a ``TensorArrayV3`` (or of a gradient array)."""

    __slots__ = ("name", "dtype", "values", "shapes", "written", "cleared", "elem_shape",
                 "dynamic", "clear_after_read", "identical", "aggregate", "is_grad", "closed",
                 "grads")

    def __init__(self, name, dtype, size, elem_shape, dynamic, clear_after_read, identical,
                 aggregate=False, is_grad=False):
        self.name = name
        self.dtype = dtype
        self.values: list = [None] * size
        self.shapes: list = [None] * size
        self.written = [False] * size
        self.cleared = [False] * size
        self.elem_shape = elem_shape
        self.dynamic = dynamic
        self.clear_after_read = clear_after_read
        self.identical = identical
        self.aggregate = aggregate
        self.is_grad = is_grad
        self.closed = False
        self.grads: dict = {}

    def __repr__(self):
        return f"<TensorArray {self.name} size={len(self.values)}>"

    def _grow(self, n):
        extra = n - len(self.values)
        if extra > 0:
            self.values.extend([None] * extra)
            self.shapes.extend([None] * extra)
            self.written.extend([False] * extra)
            self.cleared.extend([False] * extra)


class _Ops:
    """The operations of the kernels, raising TF's errors for node ``op``."""

    def __init__(self, ctx):
        self.op = ctx.op
        self.xp = ctx.xp

    def err(self, ta, message):
        prefix = f"TensorArray {ta.name}: " if ta is not None else ""
        return errors.InvalidArgumentError(None, self.op, prefix + message)

    def check_open(self, ta):
        if not isinstance(ta, TensorArray):
            raise errors.InvalidArgumentError(
                None, self.op, f"expected a TensorArray handle, got {type(ta).__name__}")
        if ta.closed:
            raise self.err(ta, "TensorArray has already been closed.")

    def write(self, ta, index, value):
        if index < 0:
            raise self.err(ta, f"Tried to write to index {index} but array size is: "
                               f"{len(ta.values)}")
        if index >= len(ta.values):
            if not ta.dynamic:
                raise self.err(ta, f"Tried to write to index {index} but array is not "
                                   f"resizeable and size is: {len(ta.values)}")
            ta._grow(index + 1)
        shape = tuple(value.shape)
        if not _compatible(ta.elem_shape, shape):
            raise self.err(ta, f"Could not write to TensorArray index {index} because the value "
                               f"shape is {_str(shape)} which is incompatible with the "
                               f"TensorArray's inferred element shape: {_str(ta.elem_shape)} "
                               "(consider setting infer_shape=False).")
        if ta.identical and not _fully_defined(ta.elem_shape):
            ta.elem_shape = shape
        if ta.written[index] and ta.values[index] is not None:
            if not ta.aggregate:
                raise self.err(ta, f"Could not write to TensorArray index {index} because it "
                                   "has already been written to.")
            old = ta.values[index]
            if tuple(old.shape) != shape:
                raise self.err(ta, f"Could not aggregate to TensorArray index {index} because "
                                   f"the existing shape is {_str(old.shape)} but the new input "
                                   f"shape is {_str(shape)}.")
            ta.values[index] = old + value
            return
        if ta.cleared[index]:
            raise self.err(ta, f"Could not write to TensorArray index {index} because it has "
                               "already been read.")
        ta.values[index] = value
        ta.shapes[index] = shape
        ta.written[index] = True

    def read(self, ta, index):
        size = len(ta.values)
        if index < 0 or (not ta.is_grad and index >= size):
            raise self.err(ta, f"Tried to read from index {index} but array size is: {size}")
        if index >= size or not ta.written[index]:
            if ta.is_grad and index < size and ta.shapes[index] is not None:
                shape = ta.shapes[index]
            elif not _fully_defined(ta.elem_shape):
                raise self.err(ta, f"Could not read from TensorArray index {index}.  "
                                   "Furthermore, the element shape is not fully defined: "
                                   f"{_str(ta.elem_shape)}.  It is possible you are working "
                                   "with a resizeable TensorArray and stop_gradients is not "
                                   "allowing the gradients to be written.  If you set the full "
                                   "element_shape property on the forward TensorArray, the "
                                   "proper all-zeros tensor will be returned instead of "
                                   "incurring this error.")
            else:
                shape = ta.elem_shape
            ta._grow(index + 1)
            ta.shapes[index] = shape
            ta.written[index] = True
        if ta.cleared[index]:
            raise self.err(ta, f"Could not read index {index} twice because it was cleared "
                               "after a previous read (perhaps try setting clear_after_read = "
                               "false?).")
        value = ta.values[index]
        if value is None:
            value = self.xp.zeros(ta.shapes[index], ta.dtype.as_numpy_dtype)
        if ta.clear_after_read:
            ta.values[index] = None
            ta.cleared[index] = True
        return value

    def stacked(self, ta, indices, elem_attr):
        """The elements at ``indices`` stacked on a new first axis (Gather / Stack)."""
        xp = self.xp
        elem = _merge(ta.elem_shape, elem_attr)
        if not indices:
            if not _fully_defined(elem):
                raise errors.UnimplementedError(
                    None, self.op, f"TensorArray has size zero, but element shape {_str(elem)} "
                                   "is not fully defined. Currently only static shapes are "
                                   "supported when packing zero-size TensorArrays.")
            return xp.zeros((0,) + elem, ta.dtype.as_numpy_dtype)
        values = [self.read(ta, i) for i in indices]
        first = tuple(values[0].shape)
        for i, v in zip(indices, values):
            if tuple(v.shape) != first:
                raise self.err(ta, f"TensorArray has inconsistent shapes.  Index 0 has "
                                   f"(possibly stored) shape: {_str(first)} but index {i} has "
                                   f"shape: {_str(v.shape)}")
        return xp.stack(values)


def _ints(a) -> list:
    v = a.tolist() if hasattr(a, "tolist") else a
    return [int(x) for x in (v if isinstance(v, list) else [v])]


@kernel("TensorArrayV3")
def _tensor_array_v3(ctx):
    dtype = ctx.attr("dtype")
    elem = _shape_tuple(ctx.attr("element_shape"))
    dynamic = bool(ctx.attr("dynamic_size", False))
    clear = bool(ctx.attr("clear_after_read", True))
    identical = bool(ctx.attr("identical_element_shapes", False))
    name = ctx.attr("tensor_array_name", b"").decode() or ctx.name
    flow = ctx.const(0.0, np.float32)

    def run(size):
        n = int(size)
        if n < 0:
            raise errors.InvalidArgumentError(None, ctx.op, f"Size should be >= 0, got {n}")
        return TensorArray(name, dtype, n, elem, dynamic, clear, identical), flow

    return run


@kernel("TensorArrayWriteV3")
def _tensor_array_write_v3(ctx):
    ops = _Ops(ctx)

    def run(ta, index, value, flow):
        ops.check_open(ta)
        ops.write(ta, int(index), value)
        return flow

    return run


@kernel("TensorArrayReadV3")
def _tensor_array_read_v3(ctx):
    ops = _Ops(ctx)

    def run(ta, index, flow):
        ops.check_open(ta)
        return ops.read(ta, int(index))

    return run


@kernel("TensorArrayGatherV3")
def _tensor_array_gather_v3(ctx):
    ops = _Ops(ctx)
    elem = _shape_tuple(ctx.attr("element_shape"))

    def run(ta, indices, flow):
        ops.check_open(ta)
        return ops.stacked(ta, _ints(indices), elem)

    return run


@kernel("TensorArrayScatterV3")
def _tensor_array_scatter_v3(ctx):
    ops = _Ops(ctx)

    def run(ta, indices, value, flow):
        ops.check_open(ta)
        idx = _ints(indices)
        if value.ndim == 0 or value.shape[0] != len(idx):
            raise ops.err(ta, f"Expected len(indices) == values.shape[0], but saw: {len(idx)} "
                              f"vs. {value.shape[0] if value.ndim else 0}")
        if not ta.dynamic:
            bad = [i for i in idx if i >= len(ta.values)]
            if bad:
                raise ops.err(ta, f"Tried to write to index {bad[0]} but array is not "
                                  f"resizeable and size is: {len(ta.values)}")
        for k, i in enumerate(idx):
            ops.write(ta, i, value[k])
        return flow

    return run


@kernel("TensorArrayConcatV3")
def _tensor_array_concat_v3(ctx):
    ops = _Ops(ctx)
    xp = ctx.xp
    rest = _shape_tuple(ctx.attr("element_shape_except0"))

    def run(ta, flow):
        ops.check_open(ta)
        values = [ops.read(ta, i) for i in range(len(ta.values))]
        lengths = xp.asarray(np.array([v.shape[0] for v in values], np.int64))
        if not values:
            if not _fully_defined(rest):
                raise errors.UnimplementedError(
                    None, ctx.op, f"TensorArray has size zero, but element_shape_except0 "
                                  f"{_str(rest)} is not fully defined. Currently only static "
                                  "shapes are supported when concatenating zero-size "
                                  "TensorArrays.")
            return xp.zeros((0,) + rest, ta.dtype.as_numpy_dtype), lengths
        tail = tuple(values[0].shape[1:])
        for i, v in enumerate(values):
            if v.ndim == 0 or tuple(v.shape[1:]) != tail:
                raise ops.err(ta, f"Concat saw a scalar shape or inconsistent shapes at index "
                                  f"{i}: {_str(v.shape)} vs. {_str((None,) + tail)}")
        return xp.concatenate(values, axis=0), lengths

    return run


@kernel("TensorArraySplitV3")
def _tensor_array_split_v3(ctx):
    ops = _Ops(ctx)

    def run(ta, value, lengths, flow):
        ops.check_open(ta)
        lens = _ints(lengths)
        if value.ndim == 0:
            raise ops.err(ta, "Expected value to be at least a vector, but received shape: []")
        if sum(lens) != value.shape[0]:
            raise ops.err(ta, f"Expected sum of lengths to be equal to values.shape[0], but sum "
                              f"of lengths is {sum(lens)} and value's shape is: "
                              f"{_str(value.shape)}")
        if not ta.dynamic and len(lens) != len(ta.values):
            raise ops.err(ta, f"TensorArray's size is not equal to the size of lengths "
                              f"({len(ta.values)} vs. {len(lens)}), and the TensorArray is not "
                              "marked as dynamically resizeable")
        start = 0
        for i, n in enumerate(lens):
            ops.write(ta, i, value[start:start + n])
            start += n
        return flow

    return run


@kernel("TensorArraySizeV3")
def _tensor_array_size_v3(ctx):
    ops = _Ops(ctx)
    xp = ctx.xp

    def run(ta, flow):
        ops.check_open(ta)
        return xp.asarray(np.int32(len(ta.values)))

    return run


@kernel("TensorArrayCloseV3")
def _tensor_array_close_v3(ctx):
    def run(ta):
        ta.closed = True
        ta.values = [None] * len(ta.values)

    return run


def _grad_array(ops, ta, source, prepend=None):
    ops.check_open(ta)
    grad = ta.grads.get(source)
    if grad is None:
        elem = ta.elem_shape
        shapes = list(ta.shapes)
        if prepend is not None:
            elem = None if elem is None else tuple(prepend) + elem
            shapes = [None if s is None else tuple(prepend) + s for s in shapes]
        grad = TensorArray(f"{ta.name}@{source}", ta.dtype, len(ta.values), elem,
                           dynamic=False, clear_after_read=True, identical=ta.identical,
                           aggregate=True, is_grad=True)
        grad.shapes = shapes
        ta.grads[source] = grad
    return grad


@kernel("TensorArrayGradV3")
def _tensor_array_grad_v3(ctx):
    ops = _Ops(ctx)
    source = ctx.attr("source", b"").decode()

    def run(ta, flow):
        return _grad_array(ops, ta, source), flow

    return run


@kernel("TensorArrayGradWithShape")
def _tensor_array_grad_with_shape(ctx):
    ops = _Ops(ctx)
    source = ctx.attr("source", b"").decode()

    def run(ta, flow, shape_to_prepend):
        return _grad_array(ops, ta, source, _ints(shape_to_prepend)), flow

    return run
