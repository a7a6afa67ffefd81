"""TensorProto <-> numpy, with TensorFlow's encoding rules (``make_tensor_proto``, ``MakeNdarray``).

The encoding matches TF's byte for byte where TF defines it: numeric tensors of more than one
element whose values fill the shape go to ``tensor_content`` (little-endian); scalars and
broadcast values go to the typed repeated field; a proto with fewer values than its shape
repeats the last one.
"""

from __future__ import annotations

import numbers

import numpy as np

from gmeta import dtypes
from gmeta.framework.tensor_shape import TensorShape, as_shape

# Types TF stores in tensor_content when the array fills the shape (bool and complex excluded).
_CONTENT_TYPES = frozenset(["float16", "float32", "float64", "int32", "uint8", "int16", "int8",
                            "int64", "uint16", "uint32", "uint64", "bfloat16"])

# dtype name -> (TensorProto field, converter from a numpy array to field values)
_FIELD = {
    "float32": "float_val", "float64": "double_val", "int32": "int_val", "int16": "int_val",
    "int8": "int_val", "uint8": "int_val", "uint16": "int_val", "bool": "bool_val",
    "int64": "int64_val", "uint32": "uint32_val", "uint64": "uint64_val", "string": "string_val",
    "float16": "half_val", "bfloat16": "half_val", "complex64": "scomplex_val",
    "complex128": "dcomplex_val", "resource": "resource_handle_val", "variant": "variant_val",
}


def _infer_dtype(values) -> dtypes.DType:
    """The dtype TensorFlow gives a Python/numpy value when none is asked for."""
    if isinstance(values, np.ndarray) or isinstance(values, np.generic):
        arr = np.asarray(values)
        return dtypes.as_dtype(arr.dtype)
    flat = _flatten(values)
    if not flat:
        return dtypes.float32
    if all(isinstance(v, (bool, np.bool_)) for v in flat):
        return dtypes.bool
    if all(isinstance(v, (str, bytes)) for v in flat):
        return dtypes.string
    if all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in flat):
        if all(-(2 ** 31) <= int(v) < 2 ** 31 for v in flat):
            return dtypes.int32
        return dtypes.int64
    if any(isinstance(v, complex) for v in flat):
        return dtypes.complex128
    if all(isinstance(v, numbers.Real) for v in flat):
        if any(isinstance(v, np.floating) for v in flat):
            return dtypes.as_dtype(np.result_type(*[v for v in flat if isinstance(v, np.generic)]))
        return dtypes.float32
    raise TypeError(f"Failed to convert elements of {values!r} to Tensor: unsupported types")


def _flatten(values):
    if isinstance(values, (list, tuple)):
        out = []
        for v in values:
            out.extend(_flatten(v))
        return out
    if isinstance(values, np.ndarray):
        return list(values.ravel())
    return [values]


def _check_compatible(values, dtype: dtypes.DType):
    """TF refuses lossy Python conversions: 1.5 to int32, "a" to float, 2**40 to int32."""
    flat = _flatten(values)
    if dtype == dtypes.string:
        for v in flat:
            if not isinstance(v, (str, bytes, np.generic)):
                raise TypeError(f"Expected string, but got {v!r} of type '{type(v).__name__}'.")
        return
    integer = dtype.is_integer
    numeric = dtype.is_numeric or dtype.is_bool
    for v in flat:
        cls = v.__class__
        if cls is float and integer:
            raise TypeError(f"Expected {dtype.name}, but got {v!r} of type 'float'.")
        if cls is int or cls is float:
            if integer and not dtype.min <= v <= dtype.max:
                raise TypeError(f"Expected {dtype.name}, but got {v!r}: out of range for "
                                f"{dtype.name}.")
            continue
        if isinstance(v, np.generic):
            continue
        if integer and isinstance(v, float) and not isinstance(v, bool):
            raise TypeError(f"Expected {dtype.name}, but got {v!r} of type 'float'.")
        if integer and isinstance(v, numbers.Integral) and not isinstance(v, bool):
            if not dtype.min <= int(v) <= dtype.max:
                raise TypeError(f"Expected {dtype.name}, but got {v!r}: out of range for "
                                f"{dtype.name}.")
        if numeric and isinstance(v, (str, bytes)):
            raise TypeError(f"Expected {dtype.name}, but got {v!r} of type "
                            f"'{type(v).__name__}'.")


def to_numpy(values, dtype=None) -> np.ndarray:
    """Converts a Python/numpy value to an array of ``dtype`` (inferred as TF does when None)."""
    dtype = _infer_dtype(values) if dtype is None else dtypes.as_dtype(dtype).base_dtype
    if not isinstance(values, np.ndarray):
        _check_compatible(values, dtype)
    if dtype == dtypes.string:
        arr = np.asarray(values, dtype=object)
        if arr.size:
            flat = [s.encode() if isinstance(s, str) else bytes(s) for s in arr.ravel()]
            arr = np.empty(arr.shape, dtype=object)
            arr.ravel()[:] = flat
        return arr
    return np.asarray(values, dtype=dtype.as_numpy_dtype)


def make_tensor_proto(values, dtype=None, shape=None, verify_shape=False, allow_broadcast=False):
    """Builds a ``TensorProto`` for ``values``, encoded as TensorFlow encodes it."""
    from gmeta.proto import TensorProto

    if isinstance(values, TensorProto):
        return values
    dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
    arr = to_numpy(values, dtype)
    dtype = dtypes.as_dtype(arr.dtype) if dtype is None else dtype
    if shape is None:
        shape = arr.shape
    else:
        shape = tuple(as_shape(shape).as_list())
    size = int(np.prod(shape, dtype=np.int64))
    if verify_shape and arr.shape != shape:
        raise TypeError(f"Expected Tensor's shape: {shape}, but got {arr.shape}.")
    if arr.size != size:
        if allow_broadcast and arr.size == 1:
            pass
        elif arr.size > size:
            raise ValueError(f"Too many elements provided. Takes at most {size:d} values, "
                             f"received {arr.size:d}.")
        elif arr.size == 0:
            raise ValueError(f"Cannot create a tensor of shape {list(shape)} from an empty value")
    proto = TensorProto(dtype=dtype.as_datatype_enum,
                        tensor_shape=TensorShape(shape).as_proto())
    name = dtype.name
    if arr.size == size and size > 1 and name in _CONTENT_TYPES:
        little_endian = arr.dtype.newbyteorder("<")
        proto.tensor_content = np.ascontiguousarray(arr).astype(little_endian).tobytes()
        return proto
    flat = arr.ravel()
    field = _FIELD.get(name)
    if field is None:
        raise TypeError(f"Cannot make a TensorProto of dtype {name}")
    if name in ("float16", "bfloat16"):
        getattr(proto, field).extend(int(x) for x in flat.view(np.uint16))
    elif name in ("complex64", "complex128"):
        getattr(proto, field).extend(v for c in flat for v in (c.real, c.imag))
    elif name == "string":
        proto.string_val.extend(flat.tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def make_ndarray(proto) -> np.ndarray:
    """Decodes a ``TensorProto`` to a numpy array (``MakeNdarray``)."""
    dtype = dtypes.as_dtype(proto.dtype)
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    size = int(np.prod(shape, dtype=np.int64))
    name = dtype.name
    if proto.tensor_content:
        npd = np.dtype(dtype.as_numpy_dtype).newbyteorder("<")
        arr = np.frombuffer(proto.tensor_content, dtype=npd).astype(dtype.as_numpy_dtype)
        if arr.size != size:
            raise ValueError(f"TensorProto has {arr.size} values in tensor_content, its shape "
                             f"{list(shape)} needs {size}")
        return arr.reshape(shape)
    field = _FIELD.get(name)
    if field is None:
        raise TypeError(f"Cannot decode a TensorProto of dtype {name}")
    raw = list(getattr(proto, field))
    if name in ("float16", "bfloat16"):
        vals = np.array(raw, dtype=np.uint16).view(dtype.as_numpy_dtype)
    elif name in ("complex64", "complex128"):
        vals = np.array([complex(raw[i], raw[i + 1]) for i in range(0, len(raw), 2)],
                        dtype=dtype.as_numpy_dtype)
    elif name == "string":
        vals = np.empty(len(raw), dtype=object)
        vals[:] = raw
    elif name in ("resource", "variant"):
        vals = np.empty(len(raw), dtype=object)
        vals[:] = raw
    else:
        vals = np.array(raw, dtype=dtype.as_numpy_dtype)
    if vals.size == size:
        return vals.reshape(shape)
    if vals.size == 0:
        if name == "string":
            out = np.empty(size, dtype=object)
            out[:] = b""
            return out.reshape(shape)
        return np.zeros(shape, dtype=dtype.as_numpy_dtype)
    if vals.size > size:
        raise ValueError(f"TensorProto has {vals.size} values, its shape {list(shape)} holds "
                         f"{size}")
    out = np.empty(size, dtype=vals.dtype)
    out[: vals.size] = vals
    out[vals.size:] = vals[-1]
    return out.reshape(shape)


MakeNdarray = make_ndarray
