"""Writes a graph's nodes as GraphDef wire bytes, parsed once into the proto.

Setting NodeDef fields one by one through the protobuf API costs a few microseconds a node;
an 18,000-node export spent most of its time there. Here each NodeDef is encoded directly
(name, op, inputs, device, attrs, experimental_type: protobuf's wire format, field numbers from
tensorflow/core/framework/node_def.proto) and the whole node list is handed to the C parser
in one call. AttrValues are serialized by protobuf itself, each distinct one once; map order does
not matter, since the GraphDef is re-serialized (deterministically) when it is written.
"""

from __future__ import annotations

from gmeta.checkpoint.table import encode_varint

# NodeDef field tags (field number << 3 | wire type 2)
_NAME, _OP, _INPUT, _DEVICE = b"\x0a", b"\x12", b"\x1a", b"\x22"
_ATTR, _FULL_TYPE = b"\x2a", b"\x3a"
_GRAPH_NODE = b"\x0a"  # GraphDef.node
_ENTRY_KEY, _ENTRY_VALUE = b"\x0a", b"\x12"  # a map entry's key and value

_SMALL = [bytes([n]) for n in range(0x80)] + [bytes([(n & 0x7F) | 0x80, n >> 7])
                                              for n in range(0x80, 0x4000)]


def _varint(n: int) -> bytes:
    return _SMALL[n] if n < 0x4000 else encode_varint(n)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


class _Encoder:
    """Caches for one export: attr entries by content, shape attrs by dims."""

    def __init__(self):
        self._entries: dict = {}  # (key, serialized AttrValue) -> entry bytes
        self._shapes: dict = {}  # tuple of dims per output -> entry bytes

    def attr_entry(self, key: str, av) -> bytes:
        ser = av.SerializeToString()
        entry = self._entries.get((key, ser))
        if entry is None:
            entry = _field(_ATTR, _field(_ENTRY_KEY, key.encode()) +
                           _field(_ENTRY_VALUE, ser))
            self._entries[(key, ser)] = entry
        return entry

    def shapes_entry(self, outputs) -> bytes:
        key = tuple((t._shape if t._shape is not None else t.shape)._dims for t in outputs)
        entry = self._shapes.get(key)
        if entry is None:
            from gmeta.proto import AttrValue

            av = AttrValue()
            shapes = av.list.shape
            for dims in key:
                p = shapes.add()
                if dims is None:
                    p.unknown_rank = True
                else:
                    for d in dims:
                        p.dim.add(size=-1 if d is None else d)
            entry = self._shapes[key] = self.attr_entry("_output_shapes", av)
        return entry

    def fixed(self, op):
        """``(wire bytes of the name, op type and every attr but _output_shapes, the
        _output_shapes AttrValue)``, kept on the op until its attrs change
        (``Operation._own_attrs`` drops it; names and types never change)."""
        wire = op._attr_wire
        if wire is None:
            parts = [_field(_NAME, op._name.encode()), _field(_OP, op._type.encode())]
            recorded = None
            for key, av in op._attrs.items():
                if key == "_output_shapes":
                    recorded = av
                else:
                    parts.append(self.attr_entry(key, av))
            wire = op._attr_wire = (b"".join(parts), recorded)
        return wire

    def node(self, op, add_shapes: bool) -> bytes:
        fixed, recorded = self.fixed(op)
        parts = []
        small = _SMALL
        for t in op._inputs:
            name = (t._op._name if t._value_index == 0 else
                    f"{t._op._name}:{t._value_index}").encode()
            n = len(name)
            parts.append(_INPUT + (small[n] if n < 0x4000 else _varint(n)) + name)
        if op._control_inputs:
            for name in sorted("^" + c._name for c in op._control_inputs):
                parts.append(_field(_INPUT, name.encode()))
        if op._device:
            parts.append(_field(_DEVICE, op._device.encode()))
        outputs = op._outputs
        if add_shapes:
            if recorded is not None and all(t._shape is None for t in outputs):
                parts.append(self.attr_entry("_output_shapes", recorded))  # still the file's
            elif outputs:
                parts.append(self.shapes_entry(outputs))
        if op._full_type is not None:
            parts.append(_field(_FULL_TYPE, op._full_type.SerializeToString()))
        body = fixed + b"".join(parts)
        n = len(body)
        return _GRAPH_NODE + (small[n] if n < 0x4000 else _varint(n)) + body


def write_nodes(gd, ops, add_shapes: bool) -> None:
    """Appends a NodeDef for each of ``ops`` to GraphDef ``gd``."""
    enc = _Encoder()
    gd.MergeFromString(b"".join([enc.node(op, add_shapes) for op in ops]))
