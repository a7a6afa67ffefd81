"""TensorFlow data types: the ``DataType`` enum numbers, names and numpy equivalents.

``gm.float32`` and friends are :class:`DType` values. They compare equal to each other, to their
enum number's DType and hash by enum, as TensorFlow's do. Reference types (``float32_ref``) are
the enum + 100, the output type of ``VariableV2``.
"""

from __future__ import annotations

import builtins

import numpy as np

try:  # bfloat16, float8 and int4 have no numpy type; ml_dtypes provides them when installed.
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None


def _ml(name):
    return None if _ml_dtypes is None else np.dtype(getattr(_ml_dtypes, name))


_BFLOAT16 = _ml("bfloat16")
# TF's quantized types are numpy structured dtypes wrapping the storage type.
_QUANTIZED = {name: np.dtype([(name, storage)]) for name, storage in (
    ("qint8", np.int8), ("quint8", np.uint8), ("qint16", np.int16), ("quint16", np.uint16),
    ("qint32", np.int32))}

# (enum, name, numpy dtype or None) — enum numbers are TensorFlow's types.proto values.
_TABLE = [
    (1, "float32", np.float32),
    (2, "float64", np.float64),
    (3, "int32", np.int32),
    (4, "uint8", np.uint8),
    (5, "int16", np.int16),
    (6, "int8", np.int8),
    (7, "string", np.object_),
    (8, "complex64", np.complex64),
    (9, "int64", np.int64),
    (10, "bool", np.bool_),
    (11, "qint8", _QUANTIZED["qint8"]),
    (12, "quint8", _QUANTIZED["quint8"]),
    (13, "qint32", _QUANTIZED["qint32"]),
    (14, "bfloat16", _BFLOAT16),
    (15, "qint16", _QUANTIZED["qint16"]),
    (16, "quint16", _QUANTIZED["quint16"]),
    (17, "uint16", np.uint16),
    (18, "complex128", np.complex128),
    (19, "float16", np.float16),
    (20, "resource", np.object_),
    (21, "variant", np.object_),
    (22, "uint32", np.uint32),
    (23, "uint64", np.uint64),
    (24, "float8_e5m2", _ml("float8_e5m2")),
    (25, "float8_e4m3fn", _ml("float8_e4m3fn")),
    (26, "float8_e4m3fnuz", _ml("float8_e4m3fnuz")),
    (27, "float8_e4m3b11fnuz", _ml("float8_e4m3b11fnuz")),
    (28, "float8_e5m2fnuz", _ml("float8_e5m2fnuz")),
    (29, "int4", _ml("int4")),
    (30, "uint4", _ml("uint4")),
    (31, "int2", _ml("int2") if hasattr(_ml_dtypes, "int2") else None),
    (32, "uint2", _ml("uint2") if hasattr(_ml_dtypes, "uint2") else None),
    (33, "float4_e2m1fn", _ml("float4_e2m1fn") if hasattr(_ml_dtypes, "float4_e2m1fn") else None),
]
_FLOATING = {"float16", "float32", "float64", "bfloat16", "float8_e5m2", "float8_e4m3fn",
             "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "float4_e2m1fn"}
_INTEGER = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "int4",
            "uint4", "int2", "uint2"}
_NUMPY_INCOMPATIBLE = {"resource", "variant"}

_REF_OFFSET = 100


class DType:
    """A TensorFlow element type (``DataType`` enum value)."""

    __slots__ = ("_enum", "_name", "_np")

    def __init__(self, enum: int, name: str, np_type):
        self._enum = enum
        self._name = name
        self._np = np_type

    # -- identity -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def as_datatype_enum(self) -> int:
        return self._enum

    @property
    def is_ref_dtype(self) -> bool:
        """True for reference types (``float32_ref``); TF spells it ``_is_ref_dtype``."""
        return self._enum > _REF_OFFSET

    _is_ref_dtype = is_ref_dtype

    @property
    def base_dtype(self) -> "DType":
        return _BY_ENUM[self._enum - _REF_OFFSET] if self.is_ref_dtype else self

    @property
    def real_dtype(self) -> "DType":
        """float32/float64 for complex64/complex128, otherwise the type itself (refs stay refs)."""
        return {"complex64": float32, "complex128": float64}.get(self.base_dtype._name, self)

    @property
    def _as_ref(self) -> "DType":
        return self if self.is_ref_dtype else _BY_ENUM[self._enum + _REF_OFFSET]

    @property
    def as_numpy_dtype(self):
        """The numpy type (a structured dtype for quantized types, as in TF).

        gmeta difference: resource and variant give ``np.object_`` (gmeta holds their handles in
        object arrays) where TF raises KeyError.
        """
        base = self.base_dtype
        if base._np is None:
            raise TypeError(f"dtype {base.name} has no numpy equivalent here (install ml_dtypes "
                            "for bfloat16, float8 and int4 types)")
        if base._name in _QUANTIZED:
            return base._np
        return base._np.type if isinstance(base._np, np.dtype) else base._np

    @property
    def is_numpy_compatible(self) -> bool:
        return self.base_dtype._name not in _NUMPY_INCOMPATIBLE

    @property
    def np(self) -> np.dtype:
        """The numpy ``dtype`` object (object dtype for strings)."""
        return np.dtype(self.as_numpy_dtype)

    # -- classification -------------------------------------------------------------------------
    @property
    def is_floating(self) -> bool:
        return self.base_dtype._name in _FLOATING

    @property
    def is_complex(self) -> bool:
        return self.base_dtype._name in ("complex64", "complex128")

    @property
    def is_integer(self) -> bool:
        return self.base_dtype._name in _INTEGER

    @property
    def is_unsigned(self) -> bool:
        return self.base_dtype._name.startswith("uint")

    @property
    def is_bool(self) -> bool:
        return self.base_dtype._name == "bool"

    @property
    def is_numeric(self) -> bool:
        return self.is_floating or self.is_integer or self.is_complex

    @property
    def is_quantized(self) -> bool:
        return self.base_dtype._name.startswith(("qint", "quint"))

    @property
    def size(self) -> int:
        """Bytes per element; 0 for string, resource and variant (as TF 2.21 reports)."""
        if self.base_dtype._name in ("string", "resource", "variant"):
            return 0
        return np.dtype(self.as_numpy_dtype).itemsize

    def _limit(self, which: str):
        if not (self.is_floating or self.is_integer):
            raise TypeError(f"Cannot find {'minimum' if which == 'min' else 'maximum'} value of "
                            f"{self}.")
        info = _ml_dtypes if _ml_dtypes is not None else np
        kind = info.finfo if self.is_floating else info.iinfo
        return getattr(kind(self.as_numpy_dtype), which)

    @property
    def min(self):
        """Smallest value: a numpy scalar of the type for floats, a Python int for integers.

        Raises:
            TypeError: for bool, string, complex, quantized and handle types, as in TF.
        """
        return self._limit("min")

    @property
    def max(self):
        """Largest value (see :attr:`min`)."""
        return self._limit("max")

    def is_compatible_with(self, other) -> bool:
        other = as_dtype(other)
        return self._enum in (other.base_dtype._enum, other._enum)

    # -- python protocol ------------------------------------------------------------------------
    def __eq__(self, other):
        if other is None:
            return False
        if isinstance(other, DType):
            return self._enum == other._enum
        try:
            return self._enum == as_dtype(other)._enum
        except TypeError:
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return self._enum

    def __repr__(self):
        return f"tf.{self._name}"

    def __str__(self):
        return f"<dtype: '{self._name}'>"

    def __reduce__(self):
        return as_dtype, (self._name,)


_BY_ENUM: dict[int, DType] = {}
_BY_NAME: dict[str, DType] = {}
for _enum, _name, _np_type in _TABLE:
    _BY_ENUM[_enum] = _BY_NAME[_name] = DType(_enum, _name, _np_type)
    _ref = DType(_enum + _REF_OFFSET, _name + "_ref", _np_type)
    _BY_ENUM[_enum + _REF_OFFSET] = _BY_NAME[_name + "_ref"] = _ref

float32 = _BY_NAME["float32"]
float64 = double = _BY_NAME["float64"]
float16 = half = _BY_NAME["float16"]
bfloat16 = _BY_NAME["bfloat16"]
int8 = _BY_NAME["int8"]
int16 = _BY_NAME["int16"]
int32 = _BY_NAME["int32"]
int64 = _BY_NAME["int64"]
uint8 = _BY_NAME["uint8"]
uint16 = _BY_NAME["uint16"]
uint32 = _BY_NAME["uint32"]
uint64 = _BY_NAME["uint64"]
bool = _BY_NAME["bool"]  # noqa: A001 - TF's public name
string = _BY_NAME["string"]
complex64 = _BY_NAME["complex64"]
complex128 = _BY_NAME["complex128"]
resource = _BY_NAME["resource"]
variant = _BY_NAME["variant"]
qint8 = _BY_NAME["qint8"]
quint8 = _BY_NAME["quint8"]
qint16 = _BY_NAME["qint16"]
quint16 = _BY_NAME["quint16"]
qint32 = _BY_NAME["qint32"]
float32_ref = _BY_NAME["float32_ref"]
float64_ref = _BY_NAME["float64_ref"]
int32_ref = _BY_NAME["int32_ref"]
int64_ref = _BY_NAME["int64_ref"]

_ALIASES = {"float": float32, "double": float64, "half": float16}
for _alias, _d in list(_ALIASES.items()):
    _ALIASES[_alias + "_ref"] = _d._as_ref

_NP_TO_DTYPE = {}
for _d in list(_BY_NAME.values()):
    if not _d.is_ref_dtype and _d._np is not None and _d._np is not np.object_:
        _NP_TO_DTYPE[np.dtype(_d._np)] = _d
# numpy scalar types: np.float32 etc., and the three that mean tf.string.
_NP_TYPE_TO_DTYPE = {npd.type: d for npd, d in _NP_TO_DTYPE.items()
                     if d._name not in _QUANTIZED}
_NP_TYPE_TO_DTYPE.update({np.object_: string, np.bytes_: string, np.str_: string})

_PY_TO_DTYPE = {float: float32, builtins.bool: bool, object: string}


def as_dtype(type_value) -> DType:
    """Converts ``type_value`` to a DType, accepting what TF's ``as_dtype`` accepts: a DType, a
    DataType enum number, a type name (``"float32"``, ``"float"``, ``"double"``, ``"half"``,
    ``"..._ref"``), a numpy type or dtype, ``float``/``bool``/``object``, or anything with a
    numpy ``dtype`` attribute (an ndarray).

    Raises:
        TypeError: the value names no TensorFlow type (e.g. ``int``, ``str``, ``"int"``).
    """
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, np.dtype):
        found = _NP_TO_DTYPE.get(type_value)
        if found is None:
            found = _NP_TYPE_TO_DTYPE.get(type_value.type)
        if found is not None:
            return found
    try:
        if isinstance(type_value, int) and not isinstance(type_value, builtins.bool):
            return _BY_ENUM[type_value]
        if isinstance(type_value, str):
            return _BY_NAME.get(type_value) or _ALIASES[type_value]
        if type_value in _PY_TO_DTYPE and not isinstance(type_value, builtins.bool):
            return _PY_TO_DTYPE[type_value]
        if isinstance(type_value, type) and type_value in _NP_TYPE_TO_DTYPE:
            return _NP_TYPE_TO_DTYPE[type_value]
    except (KeyError, TypeError):
        pass
    np_dtype = getattr(type_value, "dtype", None)
    if np_dtype is not None and not isinstance(type_value, type):
        try:
            return as_dtype(np.dtype(np_dtype))
        except TypeError:
            pass
    raise TypeError(f"Cannot convert the argument `type_value`: {type_value!r} to a TensorFlow "
                    "DType.")
