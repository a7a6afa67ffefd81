"""Array builders (``gm.reshape``, ``gm.concat``, ``gm.gather``, slicing, ...) with TF's nodes.

Every builder creates the nodes, names and inputs TensorFlow 1.x's Python API creates for the
same call (``tf.zeros([2, 3])`` is one ``Const`` named ``zeros``; ``x[1:, 0]`` is a
``StridedSlice`` fed by the ``Const`` nodes ``strided_slice/stack``, ``stack_1`` and
``stack_2``), so graphs built with gmeta match TF's GraphDefs node for node. The ops' static
shape functions (TF's C++ ones) and the build-time partial evaluators that shape inference uses
(``Shape`` of a known shape, ``Pack`` of constants, ...) are at the bottom of this module.
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
from gmeta.ops import constant_op, variables

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

# == static shapes: TF's C++ shape functions ======================================================
_MAX_FOLD = 100000  # largest value (in elements) the build-time partial evaluators compute


def _value(t):
    return _si.constant_value(t)


def _mul_dim(a, b):
    """TF's InferenceContext::Multiply: 0 and 1 win over unknown."""
    if a == 0 or b == 0:
        return 0
    if a == 1:
        return b
    if b == 1:
        return a
    return None if a is None or b is None else a * b


def _add_dim(a, b):
    return None if a is None or b is None else a + b


def _merge_dims(a, b):
    if a is None or b is None:
        return a if b is None else b
    if a != b:
        raise ValueError(f"Dimensions must be equal, but are {a} and {b}")
    return a


def _merge_lists(a, b):
    """Merges two dim lists (None = unknown rank)."""
    if a is None or b is None:
        return a if b is None else b
    if len(a) != len(b):
        raise ValueError(f"Shapes must be equal rank, but are {len(a)} and {len(b)}")
    return [_merge_dims(x, y) for x, y in zip(a, b)]


def _check_rank(t, rank, what):
    nd = t.shape.ndims
    if nd is not None and nd != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {nd} for {what}")


def _int_list(value):
    return [int(v) for v in np.asarray(value).ravel()]


@_si.register("Reshape")
def _reshape_shape(op):
    x, shape_t = op.inputs
    _check_rank(shape_t, 1, "the shape input of Reshape")
    value = _value(shape_t)
    if value is not None:
        bad = [v for v in _int_list(value) if v < -1]
        if bad:
            raise ValueError(f"Invalid value in tensor used for shape: {bad[0]}")
    out = _si.constant_value_as_shape(shape_t)
    if out.ndims is None or x.shape.ndims is None:
        return [out]
    o, i = out.as_list(), x.shape.as_list()

    def known(dims):
        unknown, prod = -1, 1
        for k, d in enumerate(dims):
            if d is None:
                if unknown >= 0:
                    return unknown, prod, True
                unknown = k
            else:
                prod *= d
        return unknown, prod, False

    ou, ok, many_o = known(o)
    iu, ik, many_i = known(i)
    if many_o or many_i:
        return [o]
    if iu < 0 and ou < 0 and ik != ok:
        raise ValueError(f"Cannot reshape a tensor with {ik} elements to shape {o} ({ok} "
                         "elements)")
    if iu < 0 <= ou and ok > 0:
        if ik % ok:
            raise ValueError(f"Cannot reshape a tensor with {ik} elements to shape {out}: the "
                             f"number of elements must be divisible by {ok}")
        o[ou] = ik // ok
    elif ou < 0 <= iu and ik != 0 and ok % ik:
        raise ValueError(f"Cannot reshape a tensor with a multiple of {ik} elements to shape "
                         f"{o} ({ok} elements)")
    return [o]


@_si.register("Shape")
def _shape_shape(op):
    return [[op.inputs[0].shape.ndims]]


@_si.register("ShapeN")
def _shape_n_shape(op):
    return [[t.shape.ndims] for t in op.inputs]


@_si.register("Size", "Rank")
def _scalar_shape(op):
    return [[]]


@_si.register("Fill")
def _fill_shape(op):
    dims_t, value_t = op.inputs
    _check_rank(dims_t, 1, "the dims input of Fill")
    _check_rank(value_t, 0, "the value input of Fill")
    value = _value(dims_t)
    if value is not None and any(v < 0 for v in _int_list(value)):
        raise ValueError("Fill dimensions must be >= 0")
    return [_si.constant_value_as_shape(dims_t)]


@_si.register("ZerosLike", "OnesLike", "ReverseV2")
def _like_shape(op):
    return [op.inputs[0].shape]


@_si.register("Tile")
def _tile_shape(op):
    x, m = op.inputs
    _check_rank(m, 1, "the multiples input of Tile")
    mult = _si.constant_value_as_shape(m)
    rank_ = x.shape.ndims
    if rank_ is not None:
        if mult.ndims is not None and mult.ndims != rank_:
            raise ValueError(f"Shape must be rank {rank_} but is rank {mult.ndims}: multiples "
                             f"has {mult.ndims} entries for an input of rank {rank_}")
        mult = mult.with_rank(rank_)
    if mult.ndims is None:
        return [None]
    dims = x.shape.dims or [None] * mult.ndims
    return [[_mul_dim(d, k) for d, k in zip(dims, mult.as_list())]]


@_si.register("ExpandDims")
def _expand_dims_shape(op):
    x, dim_t = op.inputs
    value = _value(dim_t)
    if value is None:
        return [None]
    if value.size != 1:
        raise ValueError("'dim' input must be a tensor with a single value")
    d, r = int(value.ravel()[0]), x.shape.ndims
    if r is None:
        return [None]
    if d < -r - 1 or d > r:
        raise ValueError(f"dim {d} not in the interval [{-r - 1}, {r}].")
    d = d + r + 1 if d < 0 else d
    dims = x.shape.as_list()
    return [dims[:d] + [1] + dims[d:]]


@_si.register("Squeeze")
def _squeeze_shape(op):
    s = op.inputs[0].shape
    if s.ndims is None:
        return [None]
    r = s.ndims
    axes = set()
    for a in op._attr("squeeze_dims", []) or []:
        if a < -r or a >= r:
            raise ValueError(f"Tried to squeeze dim index {a} for tensor with {r} dimensions.")
        axes.add(a + r if a < 0 else a)
    out = []
    for i, d in enumerate(s.as_list()):
        if d is None:
            if i in axes:
                continue
            if not axes:
                return [None]
        elif d == 1:
            if i in axes or not axes:
                continue
        elif i in axes:
            raise ValueError(f"Can not squeeze dim[{i}], expected a dimension of 1, got {d}")
        out.append(d)
    return [out]


def _concat_shape(values, axis_t):
    value = _value(axis_t)
    if value is None:
        r = None
        for t in values:
            nd = t.shape.ndims
            if r is None:
                r = nd
            elif nd is not None and nd != r:
                raise ValueError(f"Shape must be rank {r} but is rank {nd}")
        if r == 0:
            raise ValueError("Can't concatenate scalars (use tf.stack instead)")
        return [None if r is None else [None] * r]
    axis = int(value)
    min_rank = -axis if axis < 0 else axis + 1
    before, middle, after = None, 0, None
    for t in values:
        dims = t.shape.dims
        if dims is None:
            middle = None
            continue
        if len(dims) < min_rank:
            raise ValueError(f"Shape must be at least rank {min_rank} but is rank {len(dims)}")
        try:
            before = _merge_lists(before, dims[:axis])
            after = _merge_lists(after, dims[axis + 1:] if axis != -1 else [])
        except ValueError as e:
            raise ValueError(f"{e}: the inputs of ConcatV2 must have equal dimensions except "
                             f"along axis {axis}") from None
        middle = _add_dim(middle, dims[axis])
    if before is None or after is None:
        return [None]
    return [before + [middle] + after]


@_si.register("ConcatV2")
def _concat_v2_shape(op):
    return _concat_shape(op.inputs[:-1], op.inputs[-1])


@_si.register("Concat")
def _concat_v1_shape(op):
    return _concat_shape(op.inputs[1:], op.inputs[0])


@_si.register("ParallelConcat")
def _parallel_concat_shape(op):
    return [op._attr("shape")]


@_si.register("Pack")
def _pack_shape(op):
    cur = None
    for i, t in enumerate(op.inputs):
        try:
            cur = _merge_lists(cur, t.shape.dims)
        except ValueError:
            raise ValueError(f"Shapes of all inputs must match: values[0].shape = "
                             f"{op.inputs[0].shape} != values[{i}].shape = {t.shape}") from None
    if cur is None:
        return [None]
    axis, r = op._attr("axis", 0), len(cur) + 1
    if axis < -r or axis >= r:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-r},{r})")
    axis = axis + r if axis < 0 else axis
    return [cur[:axis] + [len(op.inputs)] + cur[axis:]]


@_si.register("Unpack")
def _unpack_shape(op):
    s, n = op.inputs[0].shape, len(op.outputs)
    if s.ndims is None:
        return [None] * n
    axis, r = op._attr("axis", 0), s.ndims
    if axis < -r or axis >= r:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-r},{r})")
    axis = axis + r if axis < 0 else axis
    dims = s.as_list()
    if dims[axis] is not None and dims[axis] != n:
        raise ValueError(f"Dimension must be {n} but is {dims[axis]} (axis {axis} of input "
                         f"shape {s} to Unpack with num={n})")
    return [dims[:axis] + dims[axis + 1:]] * n


def _gather_shape(params, indices, axis, batch_dims):
    p, i = params.shape, indices.shape
    if p.ndims == 0:
        raise ValueError("Shape must be at least rank 1 but is rank 0 for the params of Gather")
    if axis is None:
        if p.ndims is not None and i.ndims is not None:
            return [[None] * (p.ndims + i.ndims - 1 - batch_dims)]
        return [None]
    if p.ndims is not None and p.ndims < (-axis if axis < 0 else axis + 1):
        raise ValueError(f"Shape must be at least rank {axis + 1} but is rank {p.ndims}")
    if batch_dims < 0 and i.ndims is not None:
        batch_dims += i.ndims
    if p.ndims is None or i.ndims is None:
        return [None]
    pd, idims = p.as_list(), i.as_list()
    out = pd[:axis] + idims[batch_dims:]
    if axis != -1:
        out += pd[axis + 1:]
    return [out]


@_si.register("GatherV2")
def _gather_v2_shape(op):
    params, indices, axis_t = op.inputs
    _check_rank(axis_t, 0, "the axis of GatherV2")
    value = _value(axis_t)
    return _gather_shape(params, indices, None if value is None else int(value),
                         op._attr("batch_dims", 0))


@_si.register("Gather")
def _gather_v1_shape(op):
    return _gather_shape(op.inputs[0], op.inputs[1], 0, 0)


@_si.register("GatherNd")
def _gather_nd_shape(op):
    p, i = op.inputs[0].shape, op.inputs[1].shape
    if p.ndims is None or i.ndims is None or i[-1] is None:
        return [None]
    if i[-1] > p.ndims:
        raise ValueError(f"indices.shape[-1] must be <= params.rank, but saw indices shape: "
                         f"{i} and params shape: {p}")
    return [i.as_list()[:-1] + p.as_list()[i[-1]:]]


@_si.register("Slice")
def _slice_shape(op):
    x, begin_t, size_t = op.inputs
    _check_rank(begin_t, 1, "the begin input of Slice")
    _check_rank(size_t, 1, "the size input of Slice")
    n = begin_t.shape[0] if begin_t.shape.ndims else None
    n = n if n is not None else (size_t.shape[0] if size_t.shape.ndims else None)
    in_dims = x.shape.dims
    if n is not None and in_dims is not None and len(in_dims) != n:
        raise ValueError(f"Shape must be rank {n} but is rank {len(in_dims)} for the input of "
                         "Slice")
    begin = _si.constant_value_as_shape(begin_t)
    sizes = _value(size_t)
    if sizes is not None:
        sizes = _int_list(sizes)
        begin = begin.with_rank(len(sizes)).as_list()
        in_dims = in_dims or [None] * len(sizes)
        out = []
        for i, s in enumerate(sizes):
            if s < -1:
                raise ValueError(f"Out of bounds slicing on dimension {i} of length "
                                 f"{in_dims[i]}: sizes vector cannot be < -1, but was {s}")
            if s != -1:
                out.append(s)
            elif in_dims[i] is None or begin[i] is None:
                out.append(None)
            elif in_dims[i] < begin[i]:
                raise ValueError(f"Negative dimension size caused by subtracting {begin[i]} "
                                 f"from {in_dims[i]}")
            else:
                out.append(in_dims[i] - begin[i])
        return [out]
    partial = _si.constant_value_as_shape(size_t)
    if partial.ndims is not None:
        return [partial]
    return [None if in_dims is None else [None] * len(in_dims)]


@_si.register("StridedSlice")
def _strided_slice_shape(op):
    x, begin_t, end_t, strides_t = op.inputs
    for t, what in ((begin_t, "begin"), (end_t, "end"), (strides_t, "strides")):
        _check_rank(t, 1, f"the {what} input of StridedSlice")
    strides = _value(strides_t)
    if x.shape.ndims is None or begin_t.shape.ndims is None or begin_t.shape[0] is None or \
            strides is None:
        return [None]
    begin, end = _value(begin_t), _value(end_t)
    plan = strided_slice_plan(
        x.shape.as_list(), None if begin is None else _int_list(begin),
        None if end is None else _int_list(end), _int_list(strides), _ss_masks(op))
    return [plan.final_shape]


def _ss_masks(op):
    return tuple(op._attr(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                           "new_axis_mask", "shrink_axis_mask"))


@_si.register("Transpose", "ConjugateTranspose")
def _transpose_shape(op):
    x, perm_t = op.inputs
    s = x.shape
    perm = _value(perm_t)
    n_perm = perm_t.shape[0] if perm_t.shape.ndims == 1 else None
    if s.ndims is None and n_perm is None and perm is None:
        return [None]
    r = s.ndims if s.ndims is not None else (n_perm if n_perm is not None else perm.size)
    if s.ndims is None and r < 2:
        return [s]
    if s.ndims is not None and n_perm is not None and n_perm != r:
        raise ValueError(f"Dimension must be {r} but is {n_perm} for the perm of Transpose "
                         f"with input shape {s}")
    if perm is None:
        return [[None] * r]
    dims = s.dims or [None] * r
    out = []
    for p in _int_list(perm):
        if p >= r or p < -r:
            raise ValueError(f"perm dim {p} is out of range of input rank {r}")
        out.append(dims[p])
    return [out]


@_si.register("Where")
def _where_shape(op):
    return [[None, op.inputs[0].shape.ndims]]


@_si.register("OneHot")
def _one_hot_shape(op):
    indices, depth_t = op.inputs[0], op.inputs[1]
    axis = op._attr("axis", -1)
    if axis < -1:
        raise ValueError("axis must be >= -1")
    _check_rank(depth_t, 0, "the depth of OneHot")
    value = _value(depth_t)
    depth = None if value is None else int(value)
    if depth is not None and depth < 0:
        raise ValueError(f"Dimension size, given by scalar input 1, must be non-negative but "
                         f"is {depth}")
    if indices.shape.ndims is None:
        return [None]
    dims = indices.shape.as_list()
    at = (axis + len(dims) + 1) % (len(dims) + 1)
    return [dims[:at] + [depth] + dims[at:]]


def _split_axis(axis_t, r):
    value = _value(axis_t)
    if value is None:
        return None
    d = int(value)
    if d < 0:
        if r is None:
            return None
        if d + r < 0:
            raise ValueError(f"Dimension size, given by scalar input {d} must be in range "
                             f"[-{r}, {r})")
        d += r
    elif r is not None and d >= r:
        raise ValueError(f"Dimension size, given by scalar input {d} must be in range "
                         f"[-{r}, {r})")
    return d


@_si.register("Split")
def _split_shape(op):
    axis_t, x = op.inputs
    n, s = len(op.outputs), x.shape
    d = _split_axis(axis_t, s.ndims)
    if d is None or s.ndims is None:
        return [None if s.ndims is None else [None] * s.ndims] * n
    dims = s.as_list()
    if dims[d] is not None:
        if dims[d] % n:
            raise ValueError(f"Number of ways to split should evenly divide the split dimension, "
                             f"but got split_dim {d} (size = {dims[d]}) and num_split {n}")
        dims[d] //= n
    return [dims] * n


@_si.register("SplitV")
def _split_v_shape(op):
    x, sizes_t, axis_t = op.inputs
    n, s = len(op.outputs), x.shape
    if s.ndims is None:
        return [None] * n
    if s.ndims == 0:
        raise ValueError("Can't split scalars")
    d = _split_axis(axis_t, s.ndims)
    sizes = _value(sizes_t)
    if d is None:
        return [[None] * s.ndims] * n
    dims = s.as_list()
    if sizes is None:
        return [dims[:d] + [None] + dims[d + 1:]] * n
    sizes = _int_list(sizes)
    if len(sizes) != n:
        raise ValueError("Length of size_splits should be equal to num_outputs")
    if sizes.count(-1) > 1:
        raise ValueError("size_splits can only have one -1")
    total, full = sum(v for v in sizes if v != -1), dims[d]
    out = []
    for i, v in enumerate(sizes):
        if v == -1 and full is not None:
            v = full - total
        if v < -1 or (v == -1 and full is not None):
            raise ValueError(f"Split size at index {i} must be >= 0. Got: {v}")
        out.append(dims[:d] + [None if v == -1 else v] + dims[d + 1:])
    if full is not None and (total > full if -1 in sizes else total != full):
        raise ValueError(f"can't split axis of size {full} into pieces of size "
                         f"[{','.join(str(v) for v in sizes)}]")
    return out


@_si.register("Pad", "PadV2", "MirrorPad")
def _pad_shape(op):
    x, pads_t = op.inputs[0], op.inputs[1]
    _check_rank(pads_t, 2, "the paddings of Pad")
    n = pads_t.shape[0] if pads_t.shape.ndims == 2 else None
    if n is not None and x.shape.ndims is not None and n != x.shape.ndims:
        raise ValueError(f"Shape must be rank {n} but is rank {x.shape.ndims} for the input of "
                         "Pad")
    n = n if n is not None else x.shape.ndims
    pads = _value(pads_t)
    if pads is None:
        return [None if n is None else [None] * n]
    pads = np.asarray(pads).reshape(-1, 2)
    if (pads < 0).any():
        raise ValueError("Paddings must be non-negative")
    dims = x.shape.dims or [None] * len(pads)
    return [[_add_dim(d, int(a) + int(b)) for d, (a, b) in zip(dims, pads)]]


@_si.register("BroadcastTo")
def _broadcast_to_shape(op):
    x, shape_t = op.inputs
    _check_rank(shape_t, 1, "the shape input of BroadcastTo")
    out = _si.constant_value_as_shape(shape_t)
    if out.ndims is None or x.shape.ndims is None:
        return [out]
    o, i = out.as_list(), x.shape.as_list()
    if len(i) > len(o):
        raise ValueError(f"Shape must be at most rank {len(o)} but is rank {len(i)}")
    for k in range(1, len(i) + 1):
        if i[-k] is not None and i[-k] > 1:
            try:
                o[-k] = _merge_dims(i[-k], o[-k])
            except ValueError:
                raise ValueError(f"Incompatible shapes for BroadcastTo: {x.shape} vs. "
                                 f"{out}") from None
    return [o]


@_si.register("BroadcastArgs")
def _broadcast_args_shape(op):
    a, b = (t.shape[0] if t.shape.ndims == 1 else None for t in op.inputs)
    return [[None if a is None or b is None else max(a, b)]]


# == build-time partial evaluation (what TF's shape inference can constant-fold) ==================
def _values(tensors):
    vals = [_value(t) for t in tensors]
    return None if any(v is None for v in vals) else vals


def _np_dtype(t):
    return t.dtype.base_dtype.as_numpy_dtype


@_si.register_constant("Shape", "ShapeN")
def _shape_value(t):
    s = t.op.inputs[t.value_index].shape
    return np.array(s.as_list(), _np_dtype(t)) if s.is_fully_defined() else None


@_si.register_constant("Size")
def _size_value(t):
    s = t.op.inputs[0].shape
    return np.array(s.num_elements(), _np_dtype(t)) if s.is_fully_defined() else None


@_si.register_constant("Rank")
def _rank_value(t):
    nd = t.op.inputs[0].shape.ndims
    return None if nd is None else np.array(nd, np.int32)


@_si.register_constant("Pack")
def _pack_value(t):
    vals = _values(t.op.inputs)
    return None if vals is None else np.stack(vals, axis=t.op._attr("axis", 0))


@_si.register_constant("Unpack")
def _unpack_value(t):
    v = _value(t.op.inputs[0])
    return None if v is None else np.take(v, t.value_index, axis=t.op._attr("axis", 0))


@_si.register_constant("ConcatV2")
def _concat_value(t):
    vals = _values(t.op.inputs)
    return None if vals is None else np.concatenate(vals[:-1], axis=int(vals[-1]))


@_si.register_constant("Fill")
def _fill_value(t):
    vals = _values(t.op.inputs)
    if vals is None or np.prod(vals[0], dtype=np.int64) > _MAX_FOLD:
        return None
    return np.full(_int_list(vals[0]), vals[1], dtype=_np_dtype(t))


@_si.register_constant("ZerosLike", "OnesLike")
def _like_value(t):
    s = t.op.inputs[0].shape
    if not s.is_fully_defined() or s.num_elements() > _MAX_FOLD:
        return None
    fn = np.zeros if t.op.type == "ZerosLike" else np.ones
    return fn(s.as_list(), dtype=_np_dtype(t))


@_si.register_constant("Reshape")
def _reshape_value(t):
    vals = _values(t.op.inputs)
    return None if vals is None else np.reshape(vals[0], _int_list(vals[1]))


@_si.register_constant("ExpandDims")
def _expand_dims_value(t):
    vals = _values(t.op.inputs)
    return None if vals is None else np.expand_dims(vals[0], int(np.asarray(vals[1]).ravel()[0]))


@_si.register_constant("Squeeze")
def _squeeze_value(t):
    v = _value(t.op.inputs[0])
    axes = tuple(t.op._attr("squeeze_dims", []) or []) or None
    return None if v is None else np.squeeze(v, axis=axes)


@_si.register_constant("GatherV2")
def _gather_value(t):
    vals = _values(t.op.inputs)
    if vals is None or t.op._attr("batch_dims", 0) != 0:
        return None
    return np.take(vals[0], vals[1], axis=int(vals[2]))


@_si.register_constant("Transpose")
def _transpose_value(t):
    vals = _values(t.op.inputs)
    return None if vals is None else np.transpose(vals[0], _int_list(vals[1]))


@_si.register_constant("Slice")
def _slice_value(t):
    vals = _values(t.op.inputs)
    if vals is None:
        return None
    index = tuple(_PySlice(b, None if s == -1 else b + s)
                  for b, s in zip(_int_list(vals[1]), _int_list(vals[2])))
    return vals[0][index]


@_si.register_constant("StridedSlice")
def _strided_slice_value(t):
    x, begin_t, end_t, strides_t = t.op.inputs
    rest = _values([begin_t, end_t, strides_t])
    if rest is None:
        return None
    value = _value(x)
    if value is None and x.op.type == "Shape" and x.op.inputs[0].shape.ndims is not None:
        # A slice of a partially known shape is known where it only picks known dims.
        value = np.array([-1 if d is None else d for d in x.op.inputs[0].shape.as_list()],
                         _np_dtype(x))
    if value is None:
        return None
    plan = strided_slice_plan(list(value.shape), *(_int_list(v) for v in rest),
                              _ss_masks(t.op))
    out = plan.apply(value)
    if value.size and x.op.type == "Shape" and (np.asarray(out) < 0).any():
        return None
    return out


@_si.register_constant("Range")
def _range_value(t):
    vals = _values(t.op.inputs)
    if vals is None:
        return None
    start, limit, delta = (v.item() for v in vals)
    if delta == 0:
        return None
    n = max(0, int(np.ceil((limit - start) / delta)))
    if n > _MAX_FOLD:
        return None
    return (start + np.arange(n) * delta).astype(_np_dtype(t))


@_si.register_constant("BroadcastArgs")
def _broadcast_args_value(t):
    vals = _values(t.op.inputs)
    if vals is None:
        return None
    return np.array(np.broadcast_shapes(tuple(_int_list(vals[0])), tuple(_int_list(vals[1]))),
                    _np_dtype(t))


# == StridedSlice semantics: shared by the shape function, the partial evaluator and the kernel
class StridedSlicePlan:
    """What a StridedSlice does to an input of a given shape (TF's ``ValidateStridedSliceOp``).

    ``index`` is a numpy basic index over the input's dims (None where a dim is unknown),
    ``final_shape`` the output shape (None entries unknown), ``identity`` whether the slice
    returns its input unchanged.
    """

    __slots__ = ("index", "final_shape", "identity")

    def __init__(self, index, final_shape, identity):
        self.index = index
        self.final_shape = final_shape
        self.identity = identity

    def apply(self, x):
        """Slices the array ``x`` (numpy or cupy) by this plan."""
        if self.identity:
            return x if x.ndim == len(self.final_shape) else x.reshape(self.final_shape)
        return x[self.index].reshape(self.final_shape)


def _dense_spec(rank_, n, masks):
    """Expands the sparse spec's ellipsis: [(sparse index, begin/end masked, shrink), ...] per
    input dim and the final-shape recipe (dense index, 'new' or 'shrink')."""
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    if ellipsis_mask & (ellipsis_mask - 1):
        raise ValueError("Multiple ellipses in slice spec not allowed")
    sparse_n, ellipsis = n, ellipsis_mask
    if not ellipsis:
        ellipsis |= 1 << n
        sparse_n += 1
    after = sum(1 for i in range(sparse_n)
                if (new_axis_mask >> i) & 1 and ellipsis & ((1 << i) - 1))
    dense, final = [], []
    for i in range(sparse_n):
        bit = 1 << i
        if ellipsis & bit:
            stop = min(rank_ - (sparse_n - i) + 1 + after, rank_)
            while len(dense) < stop:
                final.append(len(dense))
                dense.append((None, True, True, False))
        elif new_axis_mask & bit:
            final.append("new")
        else:
            if len(dense) == rank_:
                raise ValueError(f"Index out of range using input dim {len(dense)}; input has "
                                 f"only {rank_} dims")
            shrink = bool(shrink_mask & bit)
            final.append("shrink" if shrink else len(dense))
            dense.append((i, bool(begin_mask & bit), bool(end_mask & bit), shrink))
    return dense, final


def _slice_size(begin, end, stride):
    length = end - begin
    if length == 0 or (length < 0) != (stride < 0):
        return 0
    q, r = divmod(abs(length), abs(stride))
    return q + (r != 0)


def strided_slice_plan(in_dims, begin, end, strides, masks) -> StridedSlicePlan:
    """The plan of a StridedSlice over ``in_dims`` (ints or None), TF's validation included.

    Args:
        in_dims: the input's dims (a list; None entries are unknown).
        begin, end: the begin/end vectors as int lists, or None when unknown.
        strides: the strides as an int list.
        masks: (begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask).

    Raises:
        ValueError: an invalid spec, with TF's message (the kernel re-raises it as
            InvalidArgumentError).
    """
    n = len(strides)
    if (begin is not None and len(begin) != n) or (end is not None and len(end) != n):
        raise ValueError(f"Expected begin, end, and strides to be 1D equal size tensors, but got "
                         f"shapes [{len(begin or [])}], [{len(end or [])}], and [{n}] instead.")
    dense, final = _dense_spec(len(in_dims), n, masks)
    index, proc, identity = [], [], True
    for k, (i, bm, em, shrink) in enumerate(dense):
        dim = in_dims[k]
        s = 1 if i is None else strides[i]
        if s == 0:
            raise ValueError(f"strides[{k}] must be non-zero")
        if dim is None:
            proc.append(1 if shrink else None)
            index.append(None)
            identity = False
            continue
        if i is None:
            b, e = (0, dim) if s > 0 else (dim - 1, -1)
        elif shrink:
            if begin is None:
                proc.append(1)
                index.append(None)
                identity = False
                continue
            b = begin[i] + dim if begin[i] < 0 else begin[i]
            if b < 0 or b >= dim:
                raise ValueError(f"slice index {b} of dimension {k} out of bounds.")
            proc.append(1)
            index.append(b)
            identity = False
            continue
        elif begin is None or end is None:
            if bm and em:
                size = _slice_size(0, dim, s) if s > 0 else _slice_size(dim - 1, -1, s)
            else:
                size = None
            proc.append(size)
            index.append(None)
            identity = False
            continue
        else:
            lo, hi = (0, dim) if s > 0 else (-1, dim - 1)
            b = (lo if s > 0 else hi) if bm else min(max(begin[i] + dim if begin[i] < 0
                                                         else begin[i], lo), hi)
            e = (hi if s > 0 else lo) if em else min(max(end[i] + dim if end[i] < 0
                                                         else end[i], lo), hi)
        size = _slice_size(b, e, s)
        proc.append(size)
        identity = identity and s == 1 and size == dim
        stop = b + size * s
        index.append(_PySlice(b, stop if stop >= 0 else None, s) if size else _PySlice(0, 0))
    final_shape = [1 if f == "new" else proc[f] for f in final if f != "shrink"]
    identity = identity and len(final_shape) == len(in_dims)
    return StridedSlicePlan(tuple(index), final_shape, identity)
