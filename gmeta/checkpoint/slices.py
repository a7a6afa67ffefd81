"""Tensor slices of partitioned variables, as TF's ``TensorSlice`` and the bundle store them.

A slice is one ``(start, length)`` per dimension; ``length == -1`` (:data:`FULL`) means the whole
dimension (``"-"`` in a ``shape_and_slice`` string, an ``Extent`` without ``length`` in a
``TensorSliceProto``). A partitioned variable ``emb`` is stored as a full-tensor entry listing its
slices plus one ordinary entry per slice, keyed by :func:`encode_tensor_name_slice` (TF's
``EncodeTensorNameSlice``, built from ``OrderedCode``).
"""

from __future__ import annotations

from gmeta.proto import TensorSliceProto

FULL = -1

_HEADER_BITS = {2: (0xC0, 0), 3: (0xE0, 0), 4: (0xF0, 0), 5: (0xF8, 0), 6: (0xFC, 0),
                7: (0xFE, 0), 8: (0xFF, 0), 9: (0xFF, 0x80), 10: (0xFF, 0xC0)}


def _num_increasing(v: int) -> bytes:
    """OrderedCode::WriteNumIncreasing: a length byte, then big-endian bytes without leading 0s."""
    body = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return bytes((len(body),)) + body


def _signed_num_increasing(v: int) -> bytes:
    """OrderedCode::WriteSignedNumIncreasing (1 byte for -64 <= v < 64, up to 10 bytes)."""
    x = ~v if v < 0 else v
    if x < 64:
        return bytes(((0x80 ^ v) & 0xFF,))
    n = x.bit_length() // 7 + 1
    buf = bytearray(v.to_bytes(10, "big", signed=True)[10 - n:])
    h0, h1 = _HEADER_BITS[n]
    buf[0] ^= h0
    buf[1] ^= h1
    return bytes(buf)


def _ordered_string(s: bytes) -> bytes:
    """OrderedCode::WriteString: 0x00 -> 00 ff, 0xff -> ff 00, then the 00 01 terminator."""
    if b"\x00" in s or b"\xff" in s:
        out = bytearray()
        for b in s:
            out += b"\x00\xff" if b == 0 else b"\xff\x00" if b == 0xFF else bytes((b,))
        s = bytes(out)
    return s + b"\x00\x01"


class TensorSlice:
    """``(start, length)`` per dimension; length :data:`FULL` (-1) takes the whole dimension."""

    __slots__ = ("starts", "lengths")

    def __init__(self, starts, lengths):
        self.starts = tuple(int(s) for s in starts)
        self.lengths = tuple(int(n) for n in lengths)
        if len(self.starts) != len(self.lengths):
            raise ValueError("starts and lengths differ in rank")

    @classmethod
    def full(cls, rank: int) -> "TensorSlice":
        return cls([0] * rank, [FULL] * rank)

    @classmethod
    def from_proto(cls, proto) -> "TensorSlice":
        starts, lengths = [], []
        for e in proto.extent:
            starts.append(e.start)
            lengths.append(e.length if e.HasField("length") else FULL)
        return cls(starts, lengths)

    @classmethod
    def parse(cls, spec: str) -> "TensorSlice":
        """Parses TF's slice syntax, e.g. ``"0,4:-"`` (start,length per dimension, ``-`` full)."""
        if spec == "":
            return cls((), ())
        starts, lengths = [], []
        for part in spec.split(":"):
            if part == "-":
                starts.append(0)
                lengths.append(FULL)
                continue
            items = part.split(",")
            try:
                if len(items) != 2:
                    raise ValueError
                s, n = int(items[0]), int(items[1])
            except ValueError:
                raise ValueError(f"bad slice extent {part!r} in {spec!r}: expected "
                                 "'start,length' or '-'") from None
            if s < 0 or n < 0:
                raise ValueError(f"negative start or length in slice {spec!r}")
            starts.append(s)
            lengths.append(n)
        return cls(starts, lengths)

    def to_proto(self) -> TensorSliceProto:
        """TF's ``TensorSlice::AsProto``: full dimensions become empty extents."""
        proto = TensorSliceProto()
        for s, n in zip(self.starts, self.lengths):
            e = proto.extent.add()
            if not (n == FULL and s == 0):
                e.start = s
                e.length = n
        return proto

    @property
    def rank(self) -> int:
        return len(self.starts)

    def is_full(self) -> bool:
        return all(n == FULL and s == 0 for s, n in zip(self.starts, self.lengths))

    def bounds(self, full_shape) -> list[tuple[int, int]]:
        """``[(start, end)]`` per dimension, checked to lie within ``full_shape``."""
        if len(full_shape) != self.rank:
            raise ValueError(f"slice {self} has rank {self.rank}, shape {list(full_shape)} has "
                             f"rank {len(full_shape)}")
        out = []
        for d, (s, n, dim) in enumerate(zip(self.starts, self.lengths, full_shape)):
            if n == FULL:
                if s != 0:
                    raise ValueError(f"slice {self}: full extent with start {s} in dim {d}")
                out.append((0, dim))
            elif s < 0 or n < 0 or s + n > dim:
                raise ValueError(f"slice {self} out of bounds in dimension {d} of shape "
                                 f"{list(full_shape)}")
            else:
                out.append((s, s + n))
        return out

    def shape(self, full_shape) -> tuple[int, ...]:
        return tuple(e - s for s, e in self.bounds(full_shape))

    def is_full_for(self, full_shape) -> bool:
        """TF's ``IsFullSlice``: full, or covering all of ``full_shape``."""
        return self.is_full() or self.shape(full_shape) == tuple(full_shape)

    def __eq__(self, other):
        return (isinstance(other, TensorSlice) and self.starts == other.starts
                and self.lengths == other.lengths)

    def __hash__(self):
        return hash((self.starts, self.lengths))

    def __str__(self):
        return ":".join("-" if n == FULL else f"{s},{n}" for s, n in zip(self.starts, self.lengths))

    def __repr__(self):
        return f"TensorSlice({str(self)!r})"


def intersect(a, b) -> list[tuple[int, int]] | None:
    """Intersection of two resolved bounds lists; None when empty."""
    out = []
    for (s1, e1), (s2, e2) in zip(a, b):
        s, e = max(s1, s2), min(e1, e2)
        if s >= e:
            return None
        out.append((s, e))
    return out


def volume(bounds) -> int:
    v = 1
    for s, e in bounds:
        v *= e - s
    return v


def encode_tensor_name_slice(name: bytes, tslice: TensorSlice) -> bytes:
    """TF's ``EncodeTensorNameSlice``: the bundle key of one slice of tensor ``name``."""
    out = [b"\x00", _ordered_string(name), _num_increasing(tslice.rank)]
    for s, n in zip(tslice.starts, tslice.lengths):
        out.append(_signed_num_increasing(s))
        out.append(_signed_num_increasing(n))
    return b"".join(out)


def _read_signed_num(buf: bytes, pos: int) -> tuple[int, int]:
    """OrderedCode::ReadSignedNumIncreasing; returns (value, new position)."""
    flip = 0 if buf[pos] & 0x80 else 0xFF  # negative numbers have their size bits inverted
    b0 = buf[pos] ^ flip
    if b0 != 0xFF:
        n = 8 - (b0 ^ 0xFF).bit_length()
    else:
        b1 = buf[pos + 1] ^ flip
        n = 8 if b1 < 0x80 else 9 if b1 < 0xC0 else 10
    raw = bytearray(buf[pos:pos + n])
    if len(raw) != n:
        raise ValueError("truncated number")
    h0, h1 = _HEADER_BITS.get(n, (0x80, 0))
    raw[0] ^= h0
    if n > 1:
        raw[1] ^= h1
    return int.from_bytes(raw, "big", signed=True), pos + n


def decode_tensor_name_slice(key: bytes) -> tuple[bytes, TensorSlice]:
    """Inverse of :func:`encode_tensor_name_slice` (ValueError when ``key`` is not one)."""
    if not key.startswith(b"\x00"):
        raise ValueError("not a slice key")
    pos = 1
    name = bytearray()
    while True:
        i = pos
        while i < len(key) and key[i] not in (0, 0xFF):
            i += 1
        if i + 1 >= len(key):
            raise ValueError("unterminated name")
        name += key[pos:i]
        pair = key[i:i + 2]
        pos = i + 2
        if pair == b"\x00\x01":
            break
        if pair == b"\x00\xff":
            name.append(0)
        elif pair == b"\xff\x00":
            name.append(0xFF)
        else:
            raise ValueError("bad escape")
    if pos >= len(key) or key[pos] > 8:
        raise ValueError("bad rank")
    nlen = key[pos]
    rank = int.from_bytes(key[pos + 1:pos + 1 + nlen], "big")
    pos += 1 + nlen
    if rank > 254:
        raise ValueError("bad rank")
    starts, lengths = [], []
    for _ in range(rank):
        s, pos = _read_signed_num(key, pos)
        n, pos = _read_signed_num(key, pos)
        starts.append(s)
        lengths.append(n)
    if pos != len(key):
        raise ValueError("trailing bytes")
    return bytes(name), TensorSlice(starts, lengths)


def describe_key(key: bytes) -> str:
    """A key for messages: ``name`` or, for a slice key, ``name (slice 0,4:-)``."""
    if key.startswith(b"\x00"):
        try:
            name, ts = decode_tensor_name_slice(key)
            return f"{name.decode('utf-8', 'backslashreplace')} (slice {ts})"
        except (ValueError, IndexError):
            return repr(key)
    return key.decode("utf-8", "backslashreplace")


def parse_shape_and_slice(spec: str):
    """Parses a SaveV2/RestoreV2 ``shape_and_slice`` string like ``"10 3 0,4:0,3"``.

    Returns:
        ``(full_shape, TensorSlice)``, or ``(None, None)`` for ``""`` (the whole tensor).

    Raises:
        ValueError: when the string is malformed or the slice does not fit the shape.
    """
    if spec == "":
        return None, None
    parts = spec.split(" ")
    if len(parts) < 2:
        raise ValueError(f"need at least two elements in shape_and_slice specification {spec!r}")
    try:
        shape = [int(p) for p in parts[:-1]]
    except ValueError:
        raise ValueError(f"non numerical dimension in shape_and_slice {spec!r}") from None
    tslice = TensorSlice.parse(parts[-1])
    tslice.bounds(shape)
    return shape, tslice
