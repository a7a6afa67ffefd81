"""CRC32C (Castagnoli) and the masking TensorFlow and LevelDB store on disk.

``value``/``extend`` take any C-contiguous buffer (bytes, bytearray, memoryview, numpy array).
The ``google-crc32c`` C extension only accepts ``bytes``; for other buffers ``extend`` calls the
``crc32c_extend`` function of the library that extension links, through ctypes, directly on the
buffer's memory (no copy, GIL released). Where that symbol cannot be found (e.g. Windows), buffers
are checksummed through ``CHUNK``-sized ``bytes`` copies, which stay in cache.

Writers checksum and write the *same* ``bytes`` copy (see :func:`iter_chunks`), as TF's
``FileOutputBuffer`` does, so an array mutated during a save can never give a file whose CRC is
wrong. Without the extension a small table-driven pure-Python CRC is used (slow: tiny files only).
"""

from __future__ import annotations

import numpy as np

try:
    import google_crc32c as _g

    if _g.implementation != "c":  # its own pure-Python fallback is no faster than ours
        raise ImportError
    _extend_bytes = _g.extend
    HAVE_FAST_CRC = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_FAST_CRC = False

    def _make_table():
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        return table

    _TABLE = _make_table()

    def _extend_bytes(crc: int, data: bytes) -> int:
        c = crc ^ 0xFFFFFFFF
        t = _TABLE
        for b in data:
            c = t[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF


CHUNK = 1 << 20
_MASK_DELTA = 0xA282EAD8


def _load_raw_extend():
    """``crc32c_extend(crc, address, size)`` of the library google_crc32c links, or None."""
    if not HAVE_FAST_CRC:
        return None
    try:
        import ctypes

        from google_crc32c import _crc32c

        fn = ctypes.CDLL(_crc32c.__file__).crc32c_extend  # dlsym also searches its dependencies
        fn.restype = ctypes.c_uint32
        fn.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]
        probe = np.frombuffer(b"123456789", np.uint8)
        if fn(0, probe.ctypes.data, 9) != 0xE3069283:
            return None
        return fn
    except Exception:  # pragma: no cover - depends on how google-crc32c was built
        return None


_RAW = _load_raw_extend()


def byte_view(buf) -> memoryview:
    """A flat unsigned-byte memoryview of a C-contiguous buffer or numpy array (no copy)."""
    if isinstance(buf, np.ndarray):
        if not buf.flags.c_contiguous:
            raise ValueError("byte_view needs a C-contiguous array")
        return memoryview(buf.reshape(-1).view(np.uint8))
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    return mv if mv.format == "B" and mv.ndim == 1 else mv.cast("B")


def iter_chunks(buf, chunk: int = CHUNK):
    """Yields ``bytes`` copies of consecutive ``chunk``-sized pieces of a buffer."""
    if isinstance(buf, bytes) and len(buf) <= chunk:
        yield buf
        return
    mv = byte_view(buf)
    for i in range(0, mv.nbytes, chunk):
        yield bytes(mv[i:i + chunk])


def extend(crc: int, buf) -> int:
    """CRC32C of ``buf`` continuing from ``crc`` (the CRC of the bytes before it)."""
    if isinstance(buf, bytes):
        return _extend_bytes(crc, buf)
    if _RAW is not None:
        flat = np.frombuffer(byte_view(buf), np.uint8)  # no copy; keeps the buffer alive
        return _RAW(crc, flat.ctypes.data, flat.size) if flat.size else crc
    for piece in iter_chunks(buf):
        crc = _extend_bytes(crc, piece)
    return crc


def value(buf) -> int:
    """CRC32C of ``buf``."""
    return extend(0, buf)


def mask(crc: int) -> int:
    """TensorFlow's masked CRC: rotate right by 15 bits and add a constant."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the (reflected) Castagnoli polynomial."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _make_x2n():
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_POLY = 0x82F63B78
_X2N = _make_x2n()


def combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC of ``A + B`` from ``crc1 = value(A)``, ``crc2 = value(B)`` and ``len2 = len(B)``
    (zlib's ``crc32_combine`` method, for the Castagnoli polynomial)."""
    p = 1 << 31  # x^0
    k = 3  # len2 bytes = 8 * len2 bits: start at x^(2^3)
    n = len2
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


def masked_value(buf) -> int:
    """``mask(value(buf))``."""
    return mask(value(buf))
