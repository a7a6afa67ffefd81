"""Array kernels: reshape, concat, gather, slicing, transposes, fills, ..."""

from __future__ import annotations

from gmeta.kernels import kernel  # noqa: F401
