"""AttrValue <-> Python, following the attr types of an OpDef (``int``, ``list(type)``, ...)."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import tensor_util
from gmeta.framework.tensor_shape import TensorShape, as_shape


def _bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _shape_proto(value):
    if hasattr(value, "unknown_rank") and hasattr(value, "dim"):
        return value
    return as_shape(value).as_proto()


def _tensor_proto(value):
    from gmeta.proto import TensorProto

    return value if isinstance(value, TensorProto) else tensor_util.make_tensor_proto(value)


def _func(value):
    from gmeta.proto import NameAttrList

    if isinstance(value, NameAttrList):
        return value
    return NameAttrList(name=value if isinstance(value, str) else value.name)


_SCALAR = {
    "string": ("s", _bytes),
    "int": ("i", int),
    "float": ("f", float),
    "bool": ("b", bool),
    "type": ("type", lambda v: dtypes.as_dtype(v).as_datatype_enum),
    "shape": ("shape", _shape_proto),
    "tensor": ("tensor", _tensor_proto),
    "func": ("func", _func),
}


def make_attr_value(attr_type: str, value):
    """Builds an ``AttrValue`` of OpDef attr type ``attr_type`` (e.g. ``"list(int)"``)."""
    from gmeta.proto import AttrValue

    if isinstance(value, AttrValue):
        return value
    if attr_type.startswith("list(") and attr_type.endswith(")"):
        field, conv = _SCALAR[attr_type[5:-1]]
        av = AttrValue()
        av.list.SetInParent()
        items = [conv(v) for v in value]
        if field in ("shape", "tensor", "func"):
            getattr(av.list, field).extend(items)
        else:
            getattr(av.list, field).extend(items)
        return av
    field, conv = _SCALAR[attr_type]
    av = AttrValue()
    if field in ("shape", "tensor", "func"):
        getattr(av, field).CopyFrom(conv(value))
    else:
        setattr(av, field, conv(value))
    return av


def decode_attr_value(av, tf_style: bool = True):
    """Python value of an ``AttrValue``.

    With ``tf_style`` (``Operation.get_attr``) shapes and tensors come back as protos, as TF returns
    them; otherwise (kernels, shape functions) as ``TensorShape`` and ``np.ndarray``.
    """
    kind = av.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lst = av.list
        if lst.s:
            return list(lst.s)
        if lst.i:
            return list(lst.i)
        if lst.f:
            return list(lst.f)
        if lst.b:
            return list(lst.b)
        if lst.type:
            return [dtypes.as_dtype(t) for t in lst.type]
        if lst.shape:
            return list(lst.shape) if tf_style else [TensorShape(s) for s in lst.shape]
        if lst.tensor:
            if tf_style:
                return list(lst.tensor)
            return [tensor_util.make_ndarray(t) for t in lst.tensor]
        if lst.func:
            return list(lst.func)
        return []
    if kind == "type":
        return dtypes.as_dtype(av.type)
    if kind == "shape":
        return av.shape if tf_style else TensorShape(av.shape)
    if kind == "tensor":
        return av.tensor if tf_style else tensor_util.make_ndarray(av.tensor)
    if kind == "placeholder":
        return av.placeholder
    return getattr(av, kind)
