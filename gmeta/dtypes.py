"""TensorFlow data types: the ``DataType`` enum numbers, names and numpy equivalents.

``gm.float32`` and friends are :class:`DType` values. They compare equal to each other, to their
enum number's DType and hash by enum, as TensorFlow's do. Reference types (``float32_ref``) are
the enum + 100, the output type of ``VariableV2``.
"""

from __future__ import annotations

import builtins

import numpy as np

try:  # bfloat16 has no numpy type; ml_dtypes provides one when installed.
    import ml_dtypes as _ml_dtypes

    _BFLOAT16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _BFLOAT16 = None

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
    (11, "qint8", None),
    (12, "quint8", None),
    (13, "qint32", None),
    (14, "bfloat16", _BFLOAT16),
    (15, "qint16", None),
    (16, "quint16", None),
    (17, "uint16", np.uint16),
    (18, "complex128", np.complex128),
    (19, "float16", np.float16),
    (20, "resource", np.object_),
    (21, "variant", np.object_),
    (22, "uint32", np.uint32),
    (23, "uint64", np.uint64),
]

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
        return self._enum > _REF_OFFSET

    @property
    def base_dtype(self) -> "DType":
        return _BY_ENUM[self._enum - _REF_OFFSET] if self.is_ref_dtype else self

    @property
    def real_dtype(self) -> "DType":
        base = self.base_dtype
        return {complex64: float32, complex128: float64}.get(base, base)

    @property
    def _as_ref(self) -> "DType":
        return self if self.is_ref_dtype else _BY_ENUM[self._enum + _REF_OFFSET]

    @property
    def as_numpy_dtype(self):
        base = self.base_dtype
        if base._np is None:
            raise TypeError(f"dtype {base.name} has no numpy equivalent")
        return base._np.type if isinstance(base._np, np.dtype) else base._np

    @property
    def np(self) -> np.dtype:
        """The numpy ``dtype`` object (object dtype for strings)."""
        return np.dtype(self.as_numpy_dtype)

    # -- classification -------------------------------------------------------------------------
    @property
    def is_floating(self) -> bool:
        return self.base_dtype._name in ("float16", "float32", "float64", "bfloat16")

    @property
    def is_complex(self) -> bool:
        return self.base_dtype._name in ("complex64", "complex128")

    @property
    def is_integer(self) -> bool:
        return self.base_dtype._name in (
            "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

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
        if self.base_dtype in (string, resource, variant):
            return 1
        return np.dtype(self.as_numpy_dtype).itemsize

    @property
    def min(self):
        if self.is_floating:
            return float(np.finfo(self.as_numpy_dtype).min)
        if self.is_integer:
            return int(np.iinfo(self.as_numpy_dtype).min)
        if self.is_bool:
            return False
        raise TypeError(f"Cannot find minimum value of {self}.")

    @property
    def max(self):
        if self.is_floating:
            return float(np.finfo(self.as_numpy_dtype).max)
        if self.is_integer:
            return int(np.iinfo(self.as_numpy_dtype).max)
        if self.is_bool:
            return True
        raise TypeError(f"Cannot find maximum value of {self}.")

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

_ALIASES = {
    "float": float32, "double": float64, "half": float16, "int": int32, "long": int64,
    "uint8": uint8, "str": string, "bytes": string, "float_": float32,
}

_NP_TO_DTYPE = {}
for _d in list(_BY_NAME.values()):
    if not _d.is_ref_dtype and _d._np is not None and _d._np is not np.object_:
        _NP_TO_DTYPE[np.dtype(_d._np)] = _d

_PY_TO_DTYPE = {float: float32, int: int32, builtins.bool: bool, str: string, bytes: string,
                complex: complex128}


def as_dtype(type_value) -> DType:
    """Converts ``type_value`` (DType, enum number, name, numpy or Python type) to a DType.

    Raises:
        TypeError: when the value names no TensorFlow type.
    """
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, int) and not isinstance(type_value, builtins.bool):
        try:
            return _BY_ENUM[type_value]
        except KeyError:
            raise TypeError(f"Cannot convert {type_value!r} to a dtype: no DataType enum "
                            f"{type_value}") from None
    if isinstance(type_value, str):
        found = _BY_NAME.get(type_value) or _ALIASES.get(type_value)
        if found is None:
            raise TypeError(f"Cannot convert {type_value!r} to a dtype: unknown type name")
        return found
    if type_value in _PY_TO_DTYPE:
        return _PY_TO_DTYPE[type_value]
    try:
        npd = np.dtype(type_value)
    except TypeError:
        raise TypeError(f"Cannot convert {type_value!r} to a dtype") from None
    if npd.kind in ("U", "S", "O"):
        return string
    found = _NP_TO_DTYPE.get(npd)
    if found is None:
        raise TypeError(f"Cannot convert {type_value!r} to a dtype: numpy type {npd} has no "
                        "TensorFlow equivalent")
    return found

