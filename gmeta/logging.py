"""``gm.logging`` (tf.compat.v1.logging): TF1 scripts' logging calls, on Python's ``logging``."""

from __future__ import annotations

import logging as _logging

DEBUG, INFO, WARN, ERROR, FATAL = (_logging.DEBUG, _logging.INFO, _logging.WARNING,
                                   _logging.ERROR, _logging.FATAL)
_log = _logging.getLogger("gmeta")

debug, info, warning, error, fatal = _log.debug, _log.info, _log.warning, _log.error, _log.critical
warn = warning
log = _log.log


def set_verbosity(level) -> None:
    _log.setLevel(level)


def get_verbosity() -> int:
    return _log.getEffectiveLevel()
