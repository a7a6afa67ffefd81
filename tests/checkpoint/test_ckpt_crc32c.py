"""CRC32C, TF's masking, chunked checksums of buffers, CRC combining, the pure-Python fallback."""

import builtins
import importlib
import os

import numpy as np
import pytest

from gmeta.checkpoint import crc32c


def test_known_vectors():
    assert crc32c.value(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c.value(b"") == 0
    assert crc32c.value(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c.extend(crc32c.value(b"1234"), b"56789") == 0xE3069283


def test_mask_matches_tf_formula_and_inverts():
    for c in (0, 1, 0xE3069283, 0xFFFFFFFF, 0x80000000):
        m = crc32c.mask(c)
        assert m == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
        assert crc32c.unmask(m) == c


@pytest.mark.parametrize("n", [0, 1, crc32c.CHUNK - 1, crc32c.CHUNK, 3 * crc32c.CHUNK + 17])
def test_buffers_of_any_kind_give_the_crc_of_their_bytes(n):
    raw = os.urandom(n)
    want = crc32c.value(raw)
    arr = np.frombuffer(raw, np.uint8).copy()
    assert crc32c.value(arr) == want
    assert crc32c.value(bytearray(raw)) == want
    assert crc32c.value(memoryview(raw)) == want
    if n % 4 == 0 and n:
        assert crc32c.value(arr.view(np.float32).reshape(2, -1) if n % 8 == 0 else
                            arr.view(np.float32)) == want
    assert b"".join(crc32c.iter_chunks(arr)) == raw


def test_zero_d_and_bool_arrays():
    assert crc32c.value(np.float32(1.5).reshape(())) == crc32c.value(np.float32(1.5).tobytes())
    b = np.array([True, False, True])
    assert crc32c.value(b) == crc32c.value(b"\x01\x00\x01")


def test_byte_view_rejects_non_contiguous():
    with pytest.raises(ValueError):
        crc32c.byte_view(np.zeros((4, 4))[:, ::2])


@pytest.mark.parametrize("la,lb", [(0, 0), (0, 9), (9, 0), (100, 1000), (1 << 20, 12345),
                                   (7, (1 << 21) + 3)])
def test_combine(la, lb):
    a, b = os.urandom(la), os.urandom(lb)
    assert crc32c.combine(crc32c.value(a), crc32c.value(b), lb) == crc32c.value(a + b)


def test_pure_python_fallback_agrees(monkeypatch):
    real_import = builtins.__import__

    def no_google_crc32c(name, *args, **kwargs):
        if name == "google_crc32c":
            raise ImportError("blocked for the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_google_crc32c)
    try:
        slow = importlib.reload(crc32c)
        assert not slow.HAVE_FAST_CRC
        assert slow.value(b"123456789") == 0xE3069283
        data = os.urandom(5000)
        slow_crc = slow.value(data)  # (reload mutates the same module object)
        monkeypatch.setattr(builtins, "__import__", real_import)
        fast = importlib.reload(crc32c)
        assert fast.HAVE_FAST_CRC
        assert slow_crc == fast.value(data)
    finally:
        monkeypatch.setattr(builtins, "__import__", real_import)
        importlib.reload(crc32c)


def test_zero_copy_and_chunked_paths_agree(monkeypatch):
    arr = np.frombuffer(os.urandom(3 * crc32c.CHUNK + 5), np.uint8)  # read-only
    want = crc32c.value(arr.tobytes())
    assert crc32c.value(arr) == want
    assert crc32c.value(arr.copy()) == want
    monkeypatch.setattr(crc32c, "_RAW", None)
    assert crc32c.value(arr) == want
    assert crc32c.value(memoryview(arr.copy())[7:]) == crc32c.value(arr.tobytes()[7:])
