"""DeviceSpec: parse, merge and print TensorFlow device strings.

Accepts every form TensorFlow accepts: ``/cpu:0``, ``/gpu:1``, ``gpu:0``, ``/device:GPU:0``,
``/GPU:0``, ``/job:ps/replica:0/task:1/device:CPU:0``, partial specs and ``*`` ids, in any case
for the device type. ``to_string`` gives the canonical form, fields ordered job/replica/task/device.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Union

_SHORT_TYPES = {"CPU", "GPU", "TPU", "CUSTOM", "EPU"}


class DeviceSpec(NamedTuple):
    """An immutable, possibly partial device specification."""

    job: Optional[str] = None
    replica: Optional[int] = None
    task: Optional[int] = None
    device_type: Optional[str] = None
    device_index: Optional[Union[int, str]] = None  # int, or "*" for any

    @staticmethod
    def from_string(spec: Optional[str]) -> "DeviceSpec":
        return _parse(spec or "")

    def to_string(self) -> str:
        out = []
        if self.job is not None:
            out.append(f"/job:{self.job}")
        if self.replica is not None:
            out.append(f"/replica:{self.replica}")
        if self.task is not None:
            out.append(f"/task:{self.task}")
        if self.device_type is not None:
            index = "*" if self.device_index is None else self.device_index
            out.append(f"/device:{self.device_type}:{index}")
        return "".join(out)

    def make_merged_spec(self, dev: "DeviceSpec") -> "DeviceSpec":
        """Returns this spec with every field that ``dev`` sets taken from ``dev``."""
        return DeviceSpec(
            dev.job if dev.job is not None else self.job,
            dev.replica if dev.replica is not None else self.replica,
            dev.task if dev.task is not None else self.task,
            dev.device_type if dev.device_type is not None else self.device_type,
            dev.device_index if dev.device_type is not None else self.device_index,
        )

    def replace(self, **kwargs) -> "DeviceSpec":
        return self._replace(**kwargs)

    def __str__(self):
        return self.to_string()


def _int_field(name: str, value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"invalid {name} {value!r} in device string {spec!r}: expected an "
                         "integer") from None


@functools.lru_cache(maxsize=4096)
def _parse(spec: str) -> DeviceSpec:
    job = replica = task = dtype = index = None
    parts = [p for p in spec.split("/") if p]
    for part in parts:
        fields = part.split(":")
        key = fields[0].lower()
        if key == "job" and len(fields) == 2:
            job = fields[1]
        elif key == "replica" and len(fields) == 2:
            replica = _int_field("replica", fields[1], spec)
        elif key == "task" and len(fields) == 2:
            task = _int_field("task", fields[1], spec)
        elif key == "device" and len(fields) == 3:
            if dtype is not None:
                raise ValueError(f"multiple device types in device string {spec!r}")
            dtype = fields[1].upper() if fields[1].upper() in _SHORT_TYPES else fields[1]
            index = "*" if fields[2] == "*" else _int_field("device index", fields[2], spec)
        elif fields[0].upper() in _SHORT_TYPES and len(fields) in (1, 2):
            if dtype is not None:
                raise ValueError(f"multiple device types in device string {spec!r}")
            dtype = fields[0].upper()
            if len(fields) == 2:
                index = "*" if fields[1] == "*" else _int_field("device index", fields[1], spec)
        else:
            raise ValueError(f"unknown component {part!r} in device string {spec!r}; expected "
                             "job:NAME, replica:N, task:N, device:TYPE:N or TYPE:N")
    if index == "*":
        index = None
    return DeviceSpec(job, replica, task, dtype, index)


@functools.lru_cache(maxsize=4096)
def canonical_name(spec: Optional[str]) -> str:
    """The canonical string for a device string (``/gpu:0`` -> ``/device:GPU:0``)."""
    return _parse(spec or "").to_string()


@functools.lru_cache(maxsize=4096)
def merge_device(outer: str, inner: str) -> str:
    """Device string of a node whose own device is ``inner`` inside a ``gm.device(outer)`` scope:
    the node's fields win, the scope fills what the node leaves unset."""
    return _parse(outer).make_merged_spec(_parse(inner)).to_string()
