"""Array builders (``gm.reshape``, ``gm.concat``, ``gm.gather``, slicing, ...) with TF's nodes.

Every builder creates the nodes, names and inputs TensorFlow 1.x's Python API creates for the
same call (``tf.zeros([2, 3])`` is one ``Const`` named ``zeros``; ``x[1:, 0]`` is a
``StridedSlice`` fed by the ``Const`` nodes ``strided_slice/stack``, ``stack_1`` and
``stack_2``), so graphs built with gmeta match TF's GraphDefs node for node. The ops' static
shape functions (TF's C++ ones) and the build-time partial evaluators that shape inference uses
(``Shape`` of a known shape, ``Pack`` of constants, ...) are in ``gmeta/ops/_array_shapes.py``,
registered when this module imports it; StridedSlice's semantics are in
``gmeta/ops/_strided_slice.py``.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference as _si
from gmeta.framework.tensor_shape import Dimension, TensorShape, as_shape
from gmeta.ops import _array_shapes as _array_shapes  # registers the shape functions
from gmeta.ops import constant_op, variables
from gmeta.ops._strided_slice import StridedSlicePlan as StridedSlicePlan
from gmeta.ops._strided_slice import strided_slice_plan as strided_slice_plan

__all__ = [
    "boolean_mask", "broadcast_to", "concat", "expand_dims", "fill", "gather", "gather_nd",
    "identity", "matrix_transpose", "newaxis", "one_hot", "ones", "ones_like", "pad",
    "parallel_stack", "placeholder", "placeholder_with_default", "rank", "reshape", "reverse",
    "reverse_v2", "sequence_mask", "shape", "shape_n", "size", "slice", "split", "squeeze",
    "stack", "stop_gradient", "strided_slice", "tile", "transpose", "unstack", "where",
    "where_v2", "zeros", "zeros_like",
]

newaxis = None

_apply = op_def_library.apply_op
_PySlice = builtins.slice


def _is_tensor(x) -> bool:
    return isinstance(x, ops_lib.Tensor)


def _convert(value, dtype=None, name=None, preferred_dtype=None):
    return ops_lib.convert_to_tensor(value, dtype=dtype, name=name,
                                     preferred_dtype=preferred_dtype)


# -- TensorShape / Dimension -> Tensor (TF's constant_op conversion functions) --------------------
def _tensor_shape_to_tensor(s, dtype=None, name=None, as_ref=False):
    """A fully known TensorShape as an int32 (int64 when a dim needs it) ``shape_as_tensor``."""
    del as_ref
    if not s.is_fully_defined():
        raise ValueError(f"Cannot convert a partially known TensorShape {s} to a Tensor.")
    dims = s.as_list()
    big = any(d >= 2 ** 31 for d in dims)
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
        if dtype not in (dtypes.int32, dtypes.int64):
            raise TypeError(f"Cannot convert TensorShape {s} to dtype {dtype.name}. Allowed "
                            "dtypes are tf.int32 and tf.int64.")
        if dtype == dtypes.int32 and big:
            raise ValueError(f"Cannot convert TensorShape {s} to dtype int32; a dimension is too "
                             "large. Consider using tf.int64.")
    else:
        dtype = dtypes.int64 if big else dtypes.int32
    return constant_op.constant(dims, dtype=dtype, name=name or "shape_as_tensor")


def _dimension_to_tensor(d, dtype=None, name=None, as_ref=False):
    del as_ref
    if d.value is None:
        raise ValueError(f"Cannot convert unknown Dimension {d} to a Tensor.")
    if dtype is not None and dtypes.as_dtype(dtype) not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"Cannot convert Dimension {d} to dtype {dtype}. Allowed dtypes are "
                        "tf.int32 and tf.int64.")
    return constant_op.constant(d.value, dtype=dtype or dtypes.int32,
                                name=name or "shape_as_tensor")


ops_lib.register_tensor_conversion_function(TensorShape, _tensor_shape_to_tensor)
ops_lib.register_tensor_conversion_function(Dimension, _dimension_to_tensor)


# -- placeholders and identities ------------------------------------------------------------------
def placeholder(dtype, shape=None, name=None):
    """A value that must be fed to ``Session.run`` (``tf.compat.v1.placeholder``).

    Args:
        dtype: the element type.
        shape: the static shape; None (the default) means any rank.
        name: the node name.

    Returns:
        The placeholder's Tensor.
    """
    return _apply("Placeholder", dtype=dtypes.as_dtype(dtype), shape=as_shape(shape), name=name)


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF's argument name
    """A placeholder that passes ``input`` through when it is not fed."""
    return _apply("PlaceholderWithDefault", input=input, shape=as_shape(shape), name=name)


def identity(input, name=None):  # noqa: A002
    """An ``Identity`` node returning ``input``."""
    return _apply("Identity", input=input, name=name)


def stop_gradient(input, name=None):  # noqa: A002
    """A ``StopGradient`` node: ``input`` that gradients do not flow through."""
    return _apply("StopGradient", input=input, name=name)


# -- shapes ---------------------------------------------------------------------------------------
def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The shape of ``input`` as a 1-D tensor; a ``Const`` when the shape is fully known.

    Args:
        input: a Tensor or convertible value.
        name: the node name (default ``Shape``).
        out_type: int32 (default) or int64.

    Returns:
        A 1-D ``out_type`` Tensor.
    """
    return _shape_internal(input, name, optimize=True, out_type=out_type)


def _shape_internal(input, name=None, optimize=True, out_type=None):  # noqa: A002
    with ops_lib.name_scope_v1(name, "Shape", [input]) as scope:
        input = _convert(input)
        if optimize and input.shape.is_fully_defined():
            if not out_type:
                return _tensor_shape_to_tensor(input.shape)
            return constant_op.constant(input.shape.as_list(), out_type, name=scope)
        return _apply("Shape", input=input, out_type=out_type or dtypes.int32, name=scope)


def shape_n(input, out_type=dtypes.int32, name=None):  # noqa: A002
    """The shapes of the tensors in ``input`` (one ``ShapeN`` node)."""
    return _apply("ShapeN", input=list(input), out_type=out_type, name=name)


def size(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The number of elements of ``input``; a ``Const`` when the shape decides it."""
    with ops_lib.name_scope_v1(name, "Size", [input]) as scope:
        input = _convert(input)
        s = input.shape
        if s.is_fully_defined():
            return constant_op.constant(s.num_elements(), out_type, name=scope)
        if s.ndims and any(d == 0 for d in s.dims):
            return constant_op.constant(0, out_type, name=scope)
        return _apply("Size", input=input, out_type=out_type, name=scope)


def rank(input, name=None):  # noqa: A002
    """The rank of ``input``; a ``Const`` when it is statically known."""
    with ops_lib.name_scope_v1(name, "Rank", [input]) as scope:
        input = _convert(input)
        if input.shape.ndims is not None:
            return constant_op.constant(input.shape.ndims, dtypes.int32, name=scope)
        return _apply("Rank", input=input, name=scope)


def reshape(tensor, shape, name=None):  # noqa: F811 - TF's argument name
    """Reshapes ``tensor`` to ``shape`` (one dimension may be -1)."""
    return _apply("Reshape", tensor=tensor, shape=shape, name=name)


# -- fills ----------------------------------------------------------------------------------------
def fill(dims, value, name=None):
    """A tensor of shape ``dims`` filled with the scalar ``value`` (a ``Fill`` node)."""
    return _apply("Fill", dims=dims, value=value, name=name)


def _constant_if_small(value, shape, dtype, name):
    """A ``Const`` of ``shape`` filled with ``value`` when it has under 1000 elements."""
    if isinstance(shape, numbers.Integral) or (isinstance(shape, (list, tuple))
                                               and ops_lib._contains_tensor(shape)):
        return None  # TF's constant() rejects an int shape; a list with tensors is packed
    try:
        dims = as_shape(shape)
        if dims.is_fully_defined() and np.prod(dims.as_list(), dtype=np.int64) < 1000:
            if dims.num_elements() == 0:  # TF makes any value fill an empty shape
                value = np.zeros(dims.as_list(), dtype=dtype.as_numpy_dtype)
            return constant_op.constant(value, shape=dims.as_list(), dtype=dtype, name=name)
    except (TypeError, ValueError):
        pass
    return None


def _filled(value, shape, dtype, scope):
    if not _is_tensor(shape):
        out = _constant_if_small(value, shape, dtype, scope)
        if out is not None:
            return out
        try:
            shape = _tensor_shape_to_tensor(as_shape(shape))
        except (TypeError, ValueError):
            shape = _convert(shape, dtype=dtypes.int32)
    if not shape.shape.dims:  # a scalar or unknown rank: make it a vector
        shape = reshape(shape, [-1])
    return fill(shape, constant_op.constant(value, dtype=dtype), name=scope)


def zeros(shape, dtype=dtypes.float32, name=None):
    """A tensor of zeros: a ``Const`` when small and static, else ``Fill``.

    >>> import gmeta as gm
    >>> with gm.Graph().as_default():
    ...     z = gm.zeros([2, 3])
    >>> z.op.type, z.shape.as_list()
    ('Const', [2, 3])
    """
    dtype = dtypes.as_dtype(dtype).base_dtype
    with ops_lib.name_scope_v1(name, "zeros", [shape]) as scope:
        zero = "" if dtype == dtypes.string else (False if dtype == dtypes.bool else 0)
        return _filled(zero, shape, dtype, scope)


def ones(shape, dtype=dtypes.float32, name=None):
    """A tensor of ones: a ``Const`` when small and static, else ``Fill``."""
    dtype = dtypes.as_dtype(dtype).base_dtype
    with ops_lib.name_scope_v1(name, "ones", [shape]) as scope:
        return _filled(True if dtype == dtypes.bool else 1, shape, dtype, scope)


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """Zeros with the shape of ``tensor`` (a ``Const`` when its shape is fully known)."""
    with ops_lib.name_scope_v1(name, "zeros_like", [tensor]) as scope:
        tensor = _convert(tensor, name="tensor")
        dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
        if optimize and tensor.shape.is_fully_defined() and tensor.dtype != dtypes.variant:
            return zeros(tensor.shape, dtype=dtype or tensor.dtype.base_dtype, name=scope)
        if dtype is not None and dtype != tensor.dtype.base_dtype:
            return zeros(_shape_internal(tensor, optimize=optimize), dtype=dtype, name=scope)
        return _apply("ZerosLike", x=tensor, name=scope)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    """Ones with the shape of ``tensor`` (``Fill`` of its shape, as TF builds it)."""
    with ops_lib.name_scope_v1(name, "ones_like", [tensor]) as scope:
        tensor = _convert(tensor, name="tensor")
        ones_shape = _shape_internal(tensor, optimize=optimize)
        dtype = tensor.dtype.base_dtype if dtype is None else dtypes.as_dtype(dtype).base_dtype
        out = ones(ones_shape, dtype=dtype, name=scope)
        out.set_shape(tensor.shape)
        return out


# -- tile, expand_dims, squeeze, concat, stack, unstack -------------------------------------------
def tile(input, multiples, name=None):  # noqa: A002
    """Repeats ``input`` ``multiples[i]`` times along each dimension ``i``."""
    return _apply("Tile", input=input, multiples=multiples, name=name)


def _axis_arg(axis, old, old_name):
    if old is not None:
        if axis is not None:
            raise ValueError(f"Cannot specify both 'axis' and '{old_name}'")
        return old
    return axis


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """Inserts a dimension of size 1 at ``axis`` (``dim`` is the deprecated spelling)."""
    axis = _axis_arg(axis, dim, "dim")
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    return _apply("ExpandDims", input=input, dim=axis, name=name)


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """Removes dimensions of size 1 (all of them, or those in ``axis``)."""
    axis = _axis_arg(axis, squeeze_dims, "squeeze_dims")
    if np.isscalar(axis):
        axis = [axis]
    return _apply("Squeeze", input=input, squeeze_dims=list(axis or []), name=name)


def concat(values, axis, name="concat"):
    """Concatenates ``values`` along ``axis`` (one value: an ``Identity``, as in TF)."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    if len(values) == 1:
        with ops_lib.name_scope_v1(name, None) as scope:
            del scope
            _convert(axis, name="concat_dim", dtype=dtypes.int32).shape.assert_has_rank(0)
            return identity(values[0], name=name)
    return _apply("ConcatV2", values=list(values), axis=axis, name=name)


def stack(values, axis=0, name="stack"):
    """Packs the rank-R tensors of ``values`` into one rank-(R+1) tensor along ``axis``."""
    if axis == 0:
        try:
            return ops_lib.convert_to_tensor(values, name=name)
        except (TypeError, ValueError, NotImplementedError):
            pass
    value_shape = _convert(values[0], name=name).shape
    if value_shape.ndims is not None:
        n = value_shape.ndims + 1
        if axis < -n or axis >= n:
            raise ValueError(f"Argument `axis` = {axis} not in range [{-n}, {n})")
    return _apply("Pack", values=list(values), axis=axis, name=name)


def parallel_stack(values, name="parallel_stack"):
    """Stacks ``values`` along a new first axis with one ``ParallelConcat`` node."""
    with ops_lib.name_scope_v1(name, None):
        value_shape = _convert(values[0]).shape
        out_shape = TensorShape([len(values)]).concatenate(value_shape)
        return _apply("ParallelConcat", values=[expand_dims(v, 0) for v in values],
                      shape=out_shape)


def unstack(value, num=None, axis=0, name="unstack"):
    """Splits ``value`` along ``axis`` into ``num`` tensors of rank R-1 (one ``Unpack``)."""
    if num is None:
        value = _convert(value)
        s = value.shape
        if s.ndims is not None:
            if axis < -s.ndims or axis >= s.ndims:
                raise ValueError(f"Argument `axis` = {axis} not in range [{-s.ndims}, "
                                 f"{s.ndims})")
            num = s[axis]
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {s}")
    out = _apply("Unpack", value=value, num=num, axis=axis, name=name)
    return out if isinstance(out, list) else [out]


def _tensor_dtype_in(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            d = _tensor_dtype_in(v)
            if d is not None:
                return d
        elif _is_tensor(v):
            return v.dtype.base_dtype
    return None


def _tensors_of(values, dtype):
    """Converts Variables to tensors and casts tensors to ``dtype`` where they differ."""
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.append(_tensors_of(v, dtype))
        elif _is_tensor(v) or any(isinstance(v, b) for b, _ in ops_lib._conversion_functions):
            t = _convert(v)
            if dtype is not None and t.dtype.base_dtype != dtype:
                t = _apply("Cast", x=t, DstT=dtype, name="Cast")
            out.append(t)
        else:
            out.append(v)
    return out


def _autopacking(values, dtype, name):
    """Converts a (nested) list holding tensors with ``Pack`` nodes, as TF's autopacking does."""
    values = _tensors_of(values, None)
    inferred = _tensor_dtype_in(values)
    if dtype is None:
        dtype = inferred
    else:
        dtype = dtypes.as_dtype(dtype).base_dtype
        if inferred is not None and inferred != dtype:
            values = _tensors_of(values, dtype)
    return _autopacking_helper(values, dtype, name)


def _autopacking_helper(values, dtype, name):
    must_pack = False
    converted = []
    with ops_lib.get_default_graph().name_scope(name) as scope:
        for i, elem in enumerate(values):
            if _is_tensor(elem):
                if dtype is not None and elem.dtype.base_dtype != dtype:
                    raise TypeError(f"Cannot convert a list containing a tensor of dtype "
                                    f"{elem.dtype.name} to {dtype.name} (Tensor is: {elem!r})")
                converted.append(elem)
                must_pack = True
            elif isinstance(elem, (list, tuple)):
                sub = _autopacking_helper(elem, dtype, str(i))
                must_pack = must_pack or _is_tensor(sub)
                converted.append(sub)
            else:
                converted.append(elem)
        if not must_pack:
            return converted
        tensors = [e if _is_tensor(e) else constant_op.constant(e, dtype=dtype, name=str(i))
                   for i, e in enumerate(converted)]
        return _apply("Pack", values=tensors, name=scope)


# -- gather, slice, strided slice -----------------------------------------------------------------
def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """Gathers slices of ``params`` along ``axis`` at ``indices`` (a ``GatherV2`` node)."""
    del validate_indices
    if axis is None:
        axis = batch_dims
    if getattr(params, "_is_resource_variable", False) and not batch_dims and \
            isinstance(axis, int) and axis == 0:
        return params.sparse_read(indices, name=name)  # TF: a ResourceGather on the handle
    return _apply("GatherV2", params=params, indices=indices, axis=axis, batch_dims=batch_dims,
                  name=name)


def gather_nd(params, indices, name=None, batch_dims=0):
    """Gathers slices of ``params`` at the index tuples in the last axis of ``indices``."""
    if batch_dims != 0:
        raise NotImplementedError("gmeta's gather_nd supports batch_dims=0 only")
    return _apply("GatherNd", params=params, indices=indices, name=name)


def slice(input_, begin, size, name=None):  # noqa: A001 - TF's API name
    """The ``size``-shaped block of ``input_`` at ``begin`` (size -1: to the end)."""
    return _apply("Slice", input=input_, begin=begin, size=size, name=name)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """A ``StridedSlice`` node: numpy-style slicing described by begin/end/strides and masks."""
    del var
    if strides is None:
        strides = ones_like(begin)
    return _apply("StridedSlice", input=input_, begin=begin, end=end, strides=strides,
                  begin_mask=begin_mask, end_mask=end_mask, ellipsis_mask=ellipsis_mask,
                  new_axis_mask=new_axis_mask, shrink_axis_mask=shrink_axis_mask, name=name)


_SLICE_DTYPES = (dtypes.int16, dtypes.int32, dtypes.int64)
_SLICE_TYPE_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and "
                     "scalar tf.int32/tf.int64 tensors are valid indices")


def _check_index(idx):
    if isinstance(idx, (numbers.Integral, Dimension)):
        return
    dtype = getattr(idx, "dtype", None)
    if (dtype is None or dtypes.as_dtype(dtype).base_dtype not in _SLICE_DTYPES
            or (getattr(idx, "shape", None) is not None and idx.shape.ndims == 1)):
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")


def _slice_dtype(s):
    dtype = None
    for t in (s.start, s.stop, s.step):
        if not _is_tensor(t):
            continue
        if t.dtype.base_dtype == dtypes.int64:
            dtype = dtypes.int64
        elif t.dtype.base_dtype == dtypes.int32 and dtype != dtypes.int64:
            dtype = dtypes.int32
        elif t.dtype.base_dtype == dtypes.int16 and dtype is None:
            dtype = dtypes.int16
    return dtype


def _slice_bound(value, default, dtype):
    """(entry, masked) for one of a slice's start/stop/step."""
    if value is not None and not (isinstance(value, Dimension) and value.value is None):
        _check_index(value)
        return (value.value if isinstance(value, Dimension) else value), False
    return (default if dtype is None else constant_op.constant(default, dtype=dtype)), True


def _slice_helper(tensor, slice_spec, var=None):
    """``Tensor.__getitem__``: numpy basic indexing built as TF's ``StridedSlice`` subgraph."""
    tensor = _convert(tensor)
    if (isinstance(slice_spec, bool) or (_is_tensor(slice_spec) and slice_spec.dtype == dtypes.bool)
            or (isinstance(slice_spec, np.ndarray) and slice_spec.dtype == bool)):
        return boolean_mask(tensor=tensor, mask=slice_spec)
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    masks = {"begin": 0, "end": 0, "ellipsis": 0, "new_axis": 0, "shrink": 0}
    for index, s in enumerate(slice_spec):
        bit = 1 << index
        if isinstance(s, _PySlice):
            dtype = _slice_dtype(s)
            for lst, value, default, key in ((begin, s.start, 0, "begin"),
                                             (end, s.stop, 0, "end"), (strides, s.step, 1, None)):
                entry, masked = _slice_bound(value, default, dtype)
                lst.append(entry)
                if masked and key:
                    masks[key] |= bit
        elif s is Ellipsis or s is None:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["ellipsis" if s is Ellipsis else "new_axis"] |= bit
        else:
            _check_index(s)
            s = s.value if isinstance(s, Dimension) else s
            begin.append(s)
            end.append(s + 1)
            if _is_tensor(s) and s.dtype.base_dtype in (dtypes.int16, dtypes.int64):
                strides.append(constant_op.constant(1, dtype=s.dtype.base_dtype))
            else:
                strides.append(1)
            masks["shrink"] |= bit
    with ops_lib.name_scope_v1(None, "strided_slice", [tensor] + begin + end + strides) as name:
        if begin:
            packed = [stack(begin), stack(end), stack(strides)]
            kinds = {t.dtype.base_dtype for t in packed}
            if dtypes.int64 in kinds:
                packed = [t if t.dtype.base_dtype == dtypes.int64 else
                          _apply("Cast", x=t, DstT=dtypes.int64, name="Cast") for t in packed]
        else:
            empty = constant_op.constant([], dtype=dtypes.int32)
            packed = [empty, empty, empty]
        return strided_slice(tensor, *packed, begin_mask=masks["begin"], end_mask=masks["end"],
                             shrink_axis_mask=masks["shrink"], new_axis_mask=masks["new_axis"],
                             ellipsis_mask=masks["ellipsis"], var=var, name=name)


ops_lib.Tensor._override_operator("__getitem__", _slice_helper)
variables.Variable._overload_operator("__getitem__")


# -- transpose ------------------------------------------------------------------------------------
def transpose(a, perm=None, name="transpose", conjugate=False):
    """Permutes the dimensions of ``a`` (default: reversed), as one ``Transpose`` node."""
    with ops_lib.name_scope_v1(name, "transpose", [a]) as scope:
        if not _is_tensor(a):
            a = _convert(a, name="a")
        op_type = "ConjugateTranspose" if conjugate and a.dtype.is_complex else "Transpose"
        if perm is None:
            ndims = a.shape.ndims
            if ndims is None:
                start = rank(a) - 1
                perm = _apply("Range", start=start, limit=-1, delta=-1, name="Range")
            else:
                perm = np.arange(ndims - 1, -1, -1, dtype=np.int32)
        return _apply(op_type, x=a, perm=perm, name=scope)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    """Transposes the last two dimensions of the (batch) matrix ``a``."""
    with ops_lib.name_scope_v1(name, None, [a]):
        a = _convert(a, name="a")
        ndims = a.shape.ndims
        if ndims is not None:
            if ndims < 2:
                raise ValueError(f"Argument `a` should be a (batch) matrix with rank >= 2.  "
                                 f"Received `a` = {a} with shape: {a.shape}")
            perm = list(range(ndims - 2)) + [ndims - 1, ndims - 2]
        else:
            a_rank = rank(a)
            perm = concat((_apply("Range", start=0, limit=a_rank - 2, delta=1, name="Range"),
                           [a_rank - 1, a_rank - 2]), 0)
        return transpose(a, perm=perm, conjugate=conjugate)


# -- where, one_hot, split, masks, padding --------------------------------------------------------
def _where_1arg(condition, name):
    with ops_lib.name_scope_v1(name, "Where", [condition]) as scope:
        condition = _convert(condition, preferred_dtype=dtypes.bool, name="condition")
        return _apply("Where", input=condition, name=scope)


def where(condition, x=None, y=None, name=None):
    """1 argument: the int64 coordinates of true elements; 3: ``Select(condition, x, y)``."""
    if x is None and y is None:
        return _where_1arg(condition, name)
    if x is not None and y is not None:
        return _apply("Select", condition=condition, t=x, e=y, name=name)
    raise ValueError("x and y must both be non-None or both be None.")


def where_v2(condition, x=None, y=None, name=None):
    """Like :func:`where`, with broadcasting ``SelectV2`` for the 3-argument form."""
    if x is None and y is None:
        return _where_1arg(condition, name)
    if x is not None and y is not None:
        return _apply("SelectV2", condition=condition, t=x, e=y, name=name)
    raise ValueError("x and y must both be non-None or both be None.")


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot encodes ``indices`` (``on_value`` at the index, ``off_value`` elsewhere)."""
    with ops_lib.name_scope_v1(name, "one_hot", [indices, depth, on_value, off_value]) as scope:
        dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
        on_exists, off_exists = on_value is not None, off_value is not None
        if on_exists:
            on_value = ops_lib.convert_to_tensor(on_value, dtype_hint=dtype)
        if off_exists:
            off_value = ops_lib.convert_to_tensor(off_value, dtype_hint=dtype)
        on_dtype = on_value.dtype.base_dtype if on_exists else None
        off_dtype = off_value.dtype.base_dtype if off_exists else None
        if on_exists or off_exists:
            if dtype is not None:
                for exists, got, what in ((on_exists, on_dtype, "on_value"),
                                          (off_exists, off_dtype, "off_value")):
                    if exists and got != dtype:
                        raise TypeError(f"dtype {got.name} of {what} does not match dtype "
                                        f"parameter {dtype.name}")
            else:
                dtype = on_dtype if on_exists else off_dtype
        elif dtype is None:
            dtype = dtypes.float32
        if not on_exists:
            on_value, on_dtype = _convert(1, dtype, name="on_value"), dtype
        if not off_exists:
            off_value, off_dtype = _convert(0, dtype, name="off_value"), dtype
        if on_dtype != off_dtype:
            raise TypeError(f"dtype {on_dtype.name} of on_value does not match dtype "
                            f"{off_dtype.name} of off_value")
        return _apply("OneHot", indices=indices, depth=depth, on_value=on_value,
                      off_value=off_value, axis=-1 if axis is None else axis, name=scope)


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """Splits ``value`` into equal parts (int: ``Split``) or parts of given sizes (``SplitV``)."""
    if isinstance(num_or_size_splits, (numbers.Integral, Dimension)):
        n = int(num_or_size_splits)
        out = _apply("Split", split_dim=axis, value=value, num_split=n, name=name)
        return out if isinstance(out, list) else [out]
    size_splits = _convert(num_or_size_splits)
    if size_splits.shape.ndims == 0:
        raise ValueError("Rank-0 tensors are not supported as the num_or_size_splits argument "
                         f"to split. Argument provided: {num_or_size_splits}")
    if num is None:
        if size_splits.shape.ndims:
            num = size_splits.shape[0]
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {num_or_size_splits}")
    out = _apply("SplitV", value=value, size_splits=size_splits, split_dim=axis, num_split=num,
                 name=name)
    return out if isinstance(out, list) else [out]


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """The elements (or slices along ``axis``) of ``tensor`` where ``mask`` is true."""
    with ops_lib.name_scope_v1(name, None, [tensor, mask]):
        tensor = _convert(tensor, name="tensor")
        mask = _convert(mask, name="mask")
        ndims_mask = mask.shape.ndims
        shape_tensor = tensor.shape
        if ndims_mask == 0:
            raise ValueError("mask cannot be scalar.")
        if ndims_mask is None:
            raise ValueError("Number of mask dimensions must be specified, even if some "
                             "dimensions are None.  E.g. shape=[None] is ok, but shape=None is "
                             "not.")
        axis = 0 if axis is None else axis
        axis_value = _si.constant_value(axis) if _is_tensor(axis) else axis
        if axis_value is not None:
            axis = int(axis_value)
            shape_tensor[axis:axis + ndims_mask].assert_is_compatible_with(mask.shape)
        leading = _apply("Prod", input=shape(tensor)[axis:axis + ndims_mask],
                         reduction_indices=[0], name="Prod")
        tensor = reshape(tensor, concat([shape(tensor)[:axis], [leading],
                                         shape(tensor)[axis + ndims_mask:]], 0))
        if axis_value is not None:
            first = shape_tensor[axis:axis + ndims_mask].num_elements()
            tensor.set_shape(as_shape(shape_tensor[:axis]).concatenate([first])
                             .concatenate(shape_tensor[axis + ndims_mask:]))
        mask = reshape(mask, [-1])
        indices = squeeze(where(mask), axis=[1])
        return gather(tensor, indices, axis=axis)


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """Pads ``tensor`` by ``paddings`` ([rank, 2]) with a constant, or by reflecting it."""
    mode = mode.upper()
    if mode == "CONSTANT":
        if (not _is_tensor(constant_values) and np.ndim(constant_values) == 0
                and constant_values == np.zeros_like(constant_values)):
            return _apply("Pad", input=tensor, paddings=paddings, name=name)
        return _apply("PadV2", input=tensor, paddings=paddings, constant_values=constant_values,
                      name=name)
    if mode in ("REFLECT", "SYMMETRIC"):
        return _apply("MirrorPad", input=tensor, paddings=paddings, mode=mode, name=name)
    raise ValueError("Value of argument `mode` expected to be one of \"CONSTANT\", \"REFLECT\", "
                     f"or \"SYMMETRIC\". Received `mode` = {mode}")


def reverse_v2(tensor, axis, name=None):
    """Reverses ``tensor`` along the dimensions in ``axis`` (a ``ReverseV2`` node)."""
    return _apply("ReverseV2", tensor=tensor, axis=axis, name=name)


reverse = reverse_v2


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcasts ``input`` to ``shape`` (a ``BroadcastTo`` node)."""
    return _apply("BroadcastTo", input=input, shape=shape, name=name)


def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool, name=None):
    """``mask[i, j] = j < lengths[i]`` for ``j`` in ``[0, maxlen)``."""
    with ops_lib.name_scope_v1(name, "SequenceMask", [lengths, maxlen]):
        lengths = _convert(lengths)
        if maxlen is None:
            if lengths.shape.ndims is not None:
                axes = constant_op.constant(np.arange(lengths.shape.ndims), dtype=dtypes.int32)
            else:
                axes = _apply("Range", start=0, limit=rank(lengths), delta=1, name="Range")
            maxlen = _apply("Max", input=lengths, reduction_indices=axes, name="Max")
            maxlen = _apply("Maximum", x=constant_op.constant(0, maxlen.dtype), y=maxlen,
                            name="Maximum")
        else:
            maxlen = _convert(maxlen)
        if maxlen.shape.ndims is not None and maxlen.shape.ndims != 0:
            raise ValueError("Argument `maxlen` must be scalar for sequence_mask, received "
                             f"`maxlen` = {maxlen} with shape '{maxlen.shape}' instead")
        row = _apply("Range", start=constant_op.constant(0, maxlen.dtype), limit=maxlen,
                     delta=constant_op.constant(1, maxlen.dtype), name="Range")
        matrix = _apply("Cast", x=expand_dims(lengths, -1), DstT=maxlen.dtype, name="Cast")
        result = row < matrix
        if dtype is None or result.dtype.is_compatible_with(dtypes.as_dtype(dtype)):
            return result
        return _apply("Cast", x=result, DstT=dtype, name="Cast")
