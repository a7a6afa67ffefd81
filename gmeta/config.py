"""``gm.config``: the device inventory and placement settings (``tf.config``'s names where TF has
them; ``set_virtual_gpus`` is gmeta's own)."""

from __future__ import annotations

from gmeta.devices.discovery import (  # noqa: F401
    PhysicalDevice, get_soft_device_placement, get_virtual_gpus, list_devices,
    list_physical_devices, set_soft_device_placement, set_virtual_gpus,
)


def list_logical_devices(device_type=None) -> list:
    """``tf.config.list_logical_devices``: the inventory's devices as logical devices
    (``/device:GPU:0``); virtual GPUs included and marked."""
    want = device_type.upper() if device_type else None
    return [PhysicalDevice(d.name, d.device_type, d.virtual)
            for d in list_devices() if want is None or d.device_type == want]


experimental = type("experimental", (), {
    "list_physical_devices": staticmethod(list_physical_devices),
    "set_virtual_gpus": staticmethod(set_virtual_gpus),
})
