"""DeviceSpec: parse, merge and print TensorFlow device strings, as ``tf.DeviceSpec`` does.

Accepts every form TensorFlow's Python ``DeviceSpec`` accepts: ``/cpu:0``, ``/gpu:1``, ``gpu:0``,
``/device:GPU:0``, ``/GPU:0``, ``/job:ps/replica:0/task:1/device:CPU:0``, partial specs and ``*``
device indices, components in any order. ``to_string`` gives the canonical form, fields ordered
job/replica/task/device. The rules are TF 2.21's, checked by tests/test_device_spec.py:

- the short form ``TYPE[:N]`` takes TYPE case-insensitively among CPU, GPU, TPU, CUSTOM, EPU and
  upper-cases it; ``device:TYPE:N`` takes any TYPE as written except ``cpu``/``gpu``;
- ``job``, ``replica``, ``task`` and ``device`` keys are case-sensitive; any other key raises
  ``ValueError("Unknown attribute 'foo' ...")``; two device types raise ValueError;
- replica, task and index must be integers (``/replica:*`` is a ValueError); a job is any
  string, ``*`` included.
"""

from __future__ import annotations

import functools
from typing import Optional, Union

_SHORT_TYPES = frozenset({"CPU", "GPU", "TPU", "CUSTOM", "EPU"})
_FIELDS = ("job", "replica", "task", "device_type", "device_index")


def _str_or_none(value) -> Optional[str]:
    return None if value is None else str(value)


def _int_or_none(value) -> Optional[int]:
    return None if value is None else int(value)


def _device_type_or_none(value) -> Optional[str]:
    # Lower-case cpu/gpu are accepted for backwards compatibility and upper-cased.
    if value in ("cpu", "gpu"):
        return value.upper()
    return _str_or_none(value)


class DeviceSpec:
    """An immutable, possibly partial device specification (``tf.DeviceSpec``)."""

    __slots__ = ("_job", "_replica", "_task", "_device_type", "_device_index", "_string")

    def __init__(self, job: Optional[str] = None, replica: Optional[int] = None,
                 task: Optional[int] = None, device_type: Optional[str] = None,
                 device_index: Optional[int] = None):
        self._job = _str_or_none(job)
        self._replica = _int_or_none(replica)
        self._task = _int_or_none(task)
        self._device_type = _device_type_or_none(device_type)
        self._device_index = _int_or_none(device_index)
        self._string = _to_string(self._job, self._replica, self._task, self._device_type,
                                  self._device_index)

    @property
    def job(self) -> Optional[str]:
        return self._job

    @property
    def replica(self) -> Optional[int]:
        return self._replica

    @property
    def task(self) -> Optional[int]:
        return self._task

    @property
    def device_type(self) -> Optional[str]:
        return self._device_type

    @property
    def device_index(self) -> Optional[int]:
        return self._device_index

    @classmethod
    def from_string(cls, spec: Optional[str]) -> "DeviceSpec":
        """Parses a device string; ValueError for a malformed one (see the module docstring)."""
        return cls(*_parse_components(spec or ""))

    def parse_from_string(self, spec: str) -> "DeviceSpec":
        """The spec of ``spec`` (TF V2's method name for ``from_string``)."""
        return self.from_string(spec)

    def to_string(self) -> str:
        """The canonical ``/job:j/replica:r/task:t/device:TYPE:i`` form of the set fields."""
        return self._string

    def make_merged_spec(self, dev: "DeviceSpec") -> "DeviceSpec":
        """This spec with every field ``dev`` sets taken from ``dev``.

        Fields merge one by one, the index too: ``/gpu:1`` merged with ``/device:CPU:*`` is
        ``/device:CPU:1``, as in TensorFlow.
        """
        return DeviceSpec(*(b if b is not None else a
                            for a, b in zip(self._values(), dev._values())))

    def replace(self, **kwargs) -> "DeviceSpec":
        """A copy with the given fields replaced (``job=``, ``device_index=``...)."""
        values = dict(zip(_FIELDS, self._values()))
        unknown = set(kwargs) - set(_FIELDS)
        if unknown:
            raise TypeError(f"DeviceSpec has no field(s) {sorted(unknown)}")
        values.update(kwargs)
        return DeviceSpec(**values)

    _replace = replace

    def _values(self) -> tuple:
        return (self._job, self._replica, self._task, self._device_type, self._device_index)

    def __eq__(self, other):
        return isinstance(other, DeviceSpec) and self._string == other._string

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._string)

    def __repr__(self):
        return (f"<DeviceSpec(job={self._job}, replica={self._replica}, task={self._task}, "
                f"device_type={self._device_type}, device_index={self._device_index})>")


def _to_string(job, replica, task, device_type, device_index) -> str:
    out = []
    if job is not None:
        out.append("/job:" + job)
    if replica is not None:
        out.append(f"/replica:{replica}")
    if task is not None:
        out.append(f"/task:{task}")
    if device_type is not None:
        index = "*" if device_index is None else device_index
        out.append(f"/device:{device_type}:{index}")
    return "".join(out)


def _int_component(value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"invalid literal for int() with base 10: {value!r} (in the device "
                         f"spec {spec!r})") from None


@functools.lru_cache(maxsize=4096)
def _parse_components(spec: str) -> tuple:
    job: Union[str, None] = None
    replica = task = dtype = index = None
    for part in spec.split("/"):
        fields = part.split(":")
        n = len(fields)
        key = fields[0]
        if n == 2 and key == "job":
            job = fields[1]
        elif n == 2 and key == "replica":
            replica = _int_component(fields[1], spec)
        elif n == 2 and key == "task":
            task = _int_component(fields[1], spec)
        elif n in (1, 2) and key.upper() in _SHORT_TYPES:
            if dtype is not None:
                raise ValueError("Multiple device types are not allowed while parsing the device "
                                 f"spec: {spec}.")
            dtype = key.upper()
            if n == 2 and fields[1] != "*":
                index = _int_component(fields[1], spec)
        elif n == 3 and key == "device":
            if dtype is not None:
                raise ValueError("Multiple device types are not allowed while parsing the device "
                                 f"spec: {spec}.")
            dtype = fields[1]
            if fields[2] != "*":
                index = _int_component(fields[2], spec)
        elif key != "":
            raise ValueError(f"Unknown attribute '{key}' is encountered while parsing the device "
                             f"spec: '{spec}'.")
    return job, replica, task, dtype, index


def _parse(spec: str) -> DeviceSpec:
    return DeviceSpec(*_parse_components(spec or ""))


@functools.lru_cache(maxsize=4096)
def canonical_name(spec: Optional[str]) -> str:
    """The canonical string for a device string or DeviceSpec (``/gpu:0`` -> ``/device:GPU:0``)."""
    if isinstance(spec, DeviceSpec):
        return spec.to_string()
    return _parse(spec or "").to_string()


@functools.lru_cache(maxsize=4096)
def merge_device(outer: str, inner: str) -> str:
    """Device string of a node whose own device is ``inner`` inside a ``gm.device(outer)`` scope:
    the node's fields win, the scope fills what the node leaves unset."""
    return _parse(outer).make_merged_spec(_parse(inner)).to_string()
