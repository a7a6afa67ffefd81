"""Window geometry shared by the convolution and pooling kernels and their shape functions.

TF's rules (``GetWindowedOutputSizeVerbose``): with the effective window ``ek = (k - 1) * d + 1``,

- ``VALID``: ``out = (in - ek + s) // s``, no padding;
- ``SAME``: ``out = ceil(in / s)``, ``total = max((out - 1) * s + ek - in, 0)`` split as
  ``before = total // 2`` and ``after = total - before`` (the extra row/column at the
  bottom/right);
- ``EXPLICIT``: the given ``(before, after)``, ``out = (in + before + after - ek + s) // s``.

The array helpers take ``xp`` (numpy or CuPy) and use only basic slicing, ``xp.pad``,
``xp.stack`` and ``xp.matmul``, which both backends have.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Window(NamedTuple):
    """One spatial dimension of a windowed op: output size and padding before/after."""

    out: int
    before: int
    after: int


def _trunc_div(a: int, b: int) -> int:
    """C++ integer division (truncates toward zero), for TF's messages."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def window(in_size: int, k: int, stride: int, dilation: int, padding: str,
           explicit=(0, 0)) -> Window:
    """The output size and padding of one spatial dimension.

    Raises:
        ValueError: the output size would be negative (TF's kernel message).
    """
    ek = (k - 1) * dilation + 1
    if padding == "VALID":
        before = after = 0
        out = _trunc_div(in_size - ek + stride, stride)
    elif padding == "SAME":
        out = (in_size + stride - 1) // stride
        total = max((out - 1) * stride + ek - in_size, 0)
        before, after = total // 2, total - total // 2
    else:
        before, after = int(explicit[0]), int(explicit[1])
        out = _trunc_div(in_size + before + after - ek + stride, stride)
    if out < 0:
        raise ValueError(f"Computed output size would be negative: {out} [input_size: "
                         f"{in_size}, effective_filter_size: {ek}, stride: {stride}]")
    return Window(out, before, after)


def static_window(in_size, k: int, stride: int, dilation: int, padding: str,
                  explicit=(0, 0)):
    """The static output size (None when ``in_size`` is unknown), with TF's build-time error."""
    if in_size is None:
        return None
    ek = (k - 1) * dilation + 1
    if padding == "VALID" and in_size < ek:
        raise ValueError(f"Negative dimension size caused by subtracting {ek} from {in_size}")
    if padding == "EXPLICIT" and in_size + explicit[0] + explicit[1] < ek:
        raise ValueError(f"Negative dimension size caused by subtracting {ek} from "
                         f"{in_size + explicit[0] + explicit[1]}")
    return window(in_size, k, stride, dilation, padding, explicit).out


def decode_str(value, default: str) -> str:
    """A string attr (decoded as bytes) as str."""
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def spatial_pads(explicit, nchw: bool):
    """``((top, bottom), (left, right))`` from an ``explicit_paddings`` attr (8 ints)."""
    p = [int(v) for v in explicit]
    if nchw:
        return (p[4], p[5]), (p[6], p[7])
    return (p[2], p[3]), (p[4], p[5])


def pad_nhwc(xp, x, wh: Window, ww: Window, value=0):
    """``x`` (NHWC) padded spatially by the windows' before/after (no copy when there is none)."""
    if not (wh.before or wh.after or ww.before or ww.after):
        return x
    return xp.pad(x, ((0, 0), (wh.before, wh.after), (ww.before, ww.after), (0, 0)),
                  mode="constant", constant_values=value)


def window_slices(kh, kw, dh, dw, sh, sw, oh, ow):
    """Per window position (row-major over the kernel), the (rows, cols) slices of the padded
    input that the position sees at every output location."""
    out = []
    for i in range(kh):
        r0 = i * dh
        rows = slice(r0, r0 + (oh - 1) * sh + 1, sh) if oh > 0 else slice(0, 0)
        for j in range(kw):
            c0 = j * dw
            cols = slice(c0, c0 + (ow - 1) * sw + 1, sw) if ow > 0 else slice(0, 0)
            out.append((rows, cols))
    return out


def min_value(dtype):
    """The identity of ``max`` for ``dtype``: -inf for floats, the smallest integer else."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min
