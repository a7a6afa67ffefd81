"""``gm.compat.v1`` is gmeta itself, so ``tf.compat.v1.placeholder`` spellings keep working."""

import sys

import gmeta as _gmeta

v1 = _gmeta
sys.modules[__name__ + ".v1"] = _gmeta


def as_bytes(bytes_or_text, encoding="utf-8"):
    if isinstance(bytes_or_text, str):
        return bytes_or_text.encode(encoding)
    return bytes(bytes_or_text)


def as_text(bytes_or_text, encoding="utf-8"):
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text.decode(encoding)
    return str(bytes_or_text)


as_str = as_text
