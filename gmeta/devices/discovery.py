"""The inventory of local devices: CPU:0, the GPUs CuPy can use (with NVML facts), virtual GPUs.

Real GPUs are found by a guarded ``import cupy`` -> ``cupy.cuda.runtime.getDeviceCount()`` ->
per-ordinal properties, joined with NVML (``pynvml`` from nvidia-ml-py) by PCI bus id, never by
index: CuPy's ordinals follow ``CUDA_VISIBLE_DEVICES``, NVML's do not. When no GPU is usable the
inventory says why ("cupy is not installed", "no CUDA device", the driver's error), and so does
every placement decision that could not use one.

Virtual GPUs (``gm.config.set_virtual_gpus(n)`` or ``GMETA_VIRTUAL_GPUS=n``) are logical GPU
devices whose arrays are numpy's. They are never on by default; they exist so that placement, copy
insertion and the placement benchmarks can be exercised on machines without a GPU, and they are
marked ``virtual`` in the inventory, in every placement row and in every log line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Optional

import numpy as np

log = logging.getLogger("gmeta")

LOCAL_PREFIX = "/job:localhost/replica:0/task:0"
VIRTUAL_GPUS_ENV = "GMETA_VIRTUAL_GPUS"


@dataclasses.dataclass(frozen=True)
class LocalDevice:
    """One device of this process. ``name`` is TF's full name
    (``/job:localhost/replica:0/task:0/device:GPU:0``)."""

    device_type: str  # "CPU" or "GPU"
    index: int
    virtual: bool = False
    description: str = ""
    memory_total: Optional[int] = None  # bytes
    memory_free: Optional[int] = None
    compute_capability: Optional[tuple] = None
    uuid: Optional[str] = None
    pci_bus_id: Optional[str] = None
    ordinal: Optional[int] = None  # CuPy's device ordinal (real GPUs)

    @property
    def name(self) -> str:
        return f"{LOCAL_PREFIX}/device:{self.device_type}:{self.index}"

    @property
    def short_name(self) -> str:
        return f"/device:{self.device_type}:{self.index}"

    @property
    def is_gpu(self) -> bool:
        return self.device_type == "GPU"

    @property
    def real_gpu(self) -> bool:
        return self.is_gpu and not self.virtual

    @property
    def xp(self):
        """The array module of this device: numpy (CPU, virtual GPUs) or cupy."""
        if self.real_gpu:
            import cupy

            return cupy
        return np

    def label(self) -> str:
        """``/device:GPU:1 (virtual)`` style, for logs and placement rows."""
        return self.short_name + (" (virtual)" if self.virtual else "")


class Inventory:
    """The devices a Session may place nodes on, CPU:0 first."""

    def __init__(self, devices: list, gpu_reason: Optional[str]):
        self.devices = list(devices)
        self.gpu_reason = gpu_reason  # why there is no usable real GPU (None when there is one)
        self._by_key = {(d.device_type, d.index): d for d in self.devices}

    @property
    def cpu(self) -> LocalDevice:
        return self._by_key[("CPU", 0)]

    @property
    def gpus(self) -> list:
        return [d for d in self.devices if d.is_gpu]

    def find(self, device_type: str, index: int) -> Optional[LocalDevice]:
        return self._by_key.get((device_type, index))

    def describe(self) -> str:
        lines = [f"{d.label()}: {d.description}" for d in self.devices]
        if self.gpu_reason:
            lines.append(f"no usable GPU: {self.gpu_reason}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Inventory({', '.join(d.label() for d in self.devices)})"


# -- settings ----------------------------------------------------------------------------------
_settings_lock = threading.Lock()
_virtual_gpus: Optional[int] = None  # set_virtual_gpus; None: the environment decides
_soft_placement = True


def set_virtual_gpus(n: int) -> None:
    """Adds ``n`` numpy-backed virtual GPU devices to every inventory made from now on (0 removes
    them). They are for exercising placement on machines without a GPU; nothing runs faster."""
    global _virtual_gpus
    n = int(n)
    if n < 0:
        raise ValueError(f"set_virtual_gpus: the number of virtual GPUs must be >= 0, not {n}")
    with _settings_lock:
        _virtual_gpus = n
    if n:
        log.warning("gmeta: %d virtual GPU(s) enabled: numpy-backed stand-ins for placement "
                    "tests and demos, not real devices", n)


def get_virtual_gpus() -> int:
    """How many virtual GPUs inventories get (``set_virtual_gpus``, else ``GMETA_VIRTUAL_GPUS``)."""
    if _virtual_gpus is not None:
        return _virtual_gpus
    raw = os.environ.get(VIRTUAL_GPUS_ENV, "").strip()
    if not raw:
        return 0
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{VIRTUAL_GPUS_ENV}={raw!r}: expected a non-negative integer") from None
    if n < 0:
        raise ValueError(f"{VIRTUAL_GPUS_ENV}={raw!r}: expected a non-negative integer")
    return n


def set_soft_device_placement(enabled: bool) -> None:
    """``tf.config.set_soft_device_placement``: with it off, a node whose requested device does
    not exist (or has no kernel for the op) is an error when the Session places the graph."""
    global _soft_placement
    _soft_placement = bool(enabled)


def get_soft_device_placement() -> bool:
    return _soft_placement


# -- real GPUs -----------------------------------------------------------------------------------
_probe_lock = threading.Lock()
_probe_cache: Optional[tuple] = None  # (list of LocalDevice, reason)


def _nvml_facts() -> tuple:
    """``({pci bus id: facts}, reason)`` from NVML; reason is None when NVML answered."""
    try:
        import pynvml
    except ImportError:
        return {}, "nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded, ...
        return {}, f"NVML: {e}"
    facts = {}
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            pci = pynvml.nvmlDeviceGetPciInfo(h)
            bus = pci.busId.decode() if isinstance(pci.busId, bytes) else str(pci.busId)
            name = pynvml.nvmlDeviceGetName(h)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                cc = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(h))
            except Exception:
                cc = None
            facts[_norm_bus(bus)] = {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "uuid": uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                "total": int(mem.total), "free": int(mem.free), "cc": cc}
    except Exception as e:
        return facts, f"NVML: {e}"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return facts, None


def _norm_bus(bus: str) -> str:
    """PCI bus ids as NVML (``00000000:1B:00.0``) and CUDA (``0000:1b:00.0``) write them, alike."""
    parts = bus.strip().lower().split(":")
    if len(parts) == 3:
        parts[0] = parts[0][-4:].rjust(4, "0")
    return ":".join(parts)


def _probe_gpus() -> tuple:
    """``(real GPU devices, reason none is usable)``; probed once per process."""
    global _probe_cache
    with _probe_lock:
        if _probe_cache is not None:
            return _probe_cache
        _probe_cache = _probe_gpus_uncached()
        return _probe_cache


def _probe_gpus_uncached() -> tuple:
    try:
        import cupy
    except ImportError:
        return [], "cupy is not installed (pip install 'gmeta[gpu]')"
    except Exception as e:  # a broken CUDA install can fail at import
        return [], f"cupy failed to import: {e}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # cudaErrorInsufficientDriver, cudaErrorNoDevice, ...
        return [], f"CUDA runtime: {e}"
    if count == 0:
        return [], "no CUDA device (CUDA_VISIBLE_DEVICES may hide them)"
    facts, nvml_reason = _nvml_facts()
    devices = []
    for ordinal in range(count):
        try:
            props = cupy.cuda.runtime.getDeviceProperties(ordinal)
            with cupy.cuda.Device(ordinal):
                free, total = cupy.cuda.runtime.memGetInfo()
            bus = cupy.cuda.Device(ordinal).pci_bus_id
        except Exception as e:
            log.warning("gmeta: GPU ordinal %d is not usable: %s", ordinal, e)
            continue
        name = props.get("name", b"GPU")
        name = name.decode() if isinstance(name, bytes) else str(name)
        fact = facts.get(_norm_bus(bus), {})
        cc = (int(props.get("major", 0)), int(props.get("minor", 0)))
        desc = (f"{fact.get('name', name)}, {total / 2**30:.1f} GiB, compute capability "
                f"{cc[0]}.{cc[1]}, PCI {bus}")
        if fact.get("uuid"):
            desc += f", {fact['uuid']}"
        elif nvml_reason:
            desc += f" (no NVML facts: {nvml_reason})"
        devices.append(LocalDevice("GPU", len(devices), False, desc, memory_total=int(total),
                                   memory_free=int(free), compute_capability=cc,
                                   uuid=fact.get("uuid"), pci_bus_id=bus, ordinal=ordinal))
    if not devices:
        return [], "no CUDA device could be opened"
    return devices, None


def _reset_probe_for_tests() -> None:
    global _probe_cache
    with _probe_lock:
        _probe_cache = None


# -- the inventory -------------------------------------------------------------------------------
def inventory(config=None) -> Inventory:
    """The devices a Session with ``config`` (a ConfigProto or None) may use.

    ``config.device_count["GPU"]`` caps the number of GPUs (0: CPU only); ``gpu_options.
    visible_device_list`` ("1,0") selects and orders real GPUs by their CuPy ordinal. Virtual
    GPUs (see ``set_virtual_gpus``) follow the real ones.
    """
    cpu = LocalDevice("CPU", 0, False, "host CPU (numpy)")
    gpus, reason = _probe_gpus()
    if config is not None:
        visible = config.gpu_options.visible_device_list.strip() if config.HasField(
            "gpu_options") else ""
        if visible and gpus:
            try:
                order = [int(v) for v in visible.split(",")]
            except ValueError:
                raise ValueError(f"gpu_options.visible_device_list={visible!r}: expected comma-"
                                 "separated GPU ordinals such as '0,1'") from None
            by_ordinal = {d.ordinal: d for d in gpus}
            missing = [o for o in order if o not in by_ordinal]
            if missing:
                raise ValueError(f"gpu_options.visible_device_list={visible!r} names GPU "
                                 f"ordinal(s) {missing}, but this machine has "
                                 f"{sorted(by_ordinal)}")
            gpus = [dataclasses.replace(by_ordinal[o], index=i) for i, o in enumerate(order)]
    n_virtual = get_virtual_gpus()
    devices = [cpu] + gpus + [
        LocalDevice("GPU", len(gpus) + i, True,
                    "virtual GPU backed by numpy (gm.config.set_virtual_gpus / "
                    f"{VIRTUAL_GPUS_ENV}): for placement tests, not a real device")
        for i in range(n_virtual)]
    if config is not None and "GPU" in config.device_count:
        cap = int(config.device_count["GPU"])
        kept = [d for d in devices if d.is_gpu][:cap]
        if cap == 0 and not reason:
            reason = "ConfigProto device_count={'GPU': 0}"
        devices = [cpu] + kept
    if not any(d.real_gpu for d in devices) and reason is None and not gpus:
        reason = "no usable GPU"
    return Inventory(devices, reason if not any(d.real_gpu for d in devices) else None)


# -- tf.config-style views -----------------------------------------------------------------------
class PhysicalDevice:
    """``tf.config.PhysicalDevice``: ``name`` (``/physical_device:GPU:0``) and ``device_type``."""

    __slots__ = ("name", "device_type", "virtual")

    def __init__(self, name, device_type, virtual=False):
        self.name, self.device_type, self.virtual = name, device_type, virtual

    def __eq__(self, other):
        return isinstance(other, PhysicalDevice) and (self.name, self.device_type) == \
            (other.name, other.device_type)

    def __hash__(self):
        return hash((self.name, self.device_type))

    def __repr__(self):
        extra = ", virtual=True" if self.virtual else ""
        return f"PhysicalDevice(name='{self.name}', device_type='{self.device_type}'{extra})"


def list_physical_devices(device_type: Optional[str] = None) -> list:
    """``tf.config.list_physical_devices``: the inventory's devices (``"GPU"`` to filter)."""
    want = device_type.upper() if device_type else None
    return [PhysicalDevice(f"/physical_device:{d.device_type}:{d.index}", d.device_type,
                           d.virtual)
            for d in inventory().devices if want is None or d.device_type == want]


def list_devices(config=None) -> list:
    """The inventory's devices (``LocalDevice``: name, type, memory, why virtual...)."""
    return inventory(config).devices
