"""Placement: every node of a graph gets one device of the inventory, and a reason.

The rules, in order (TF's placer where TF defines one; gmeta's documented choices elsewhere):

1. **Colocation groups.** Nodes joined by a ``_class`` ``loc:@x`` attr (``colocate_with``), by a
   ref edge into a ref argument (``Assign`` and the other ops that write a ref variable) or by a
   resource edge (``ReadVariableOp``, ``ResourceApply*`` and the ``VarHandleOp`` they use) form one
   group and share a device, as in TensorFlow.
2. **The group's request** is the requested device of its variable if it has one, else of its first
   member that names a device type. Job, replica and task name machines of the cluster the graph
   was recorded on; this process is the only one, so they are treated as local (and said so).
3. **Binding the request to the inventory.** ``CPU:*`` -> ``CPU:0``. ``GPU:i`` -> ``GPU:i`` when it
   exists (*honoured*); otherwise, under soft placement, ``GPU:(i mod n)`` when there are ``n``
   GPUs, so that layers recorded on distinct GPUs stay on distinct GPUs where possible
   (*soft-fallback-no-device*), else ``CPU:0`` with the inventory's reason there is no GPU. A node
   with no device type requested goes to ``GPU:0`` when there is a GPU and the group has GPU
   kernels, else to ``CPU:0`` (*default*).
4. **Kernels.** A group bound to a GPU holding an op with no GPU kernel (checkpoint I/O, strings,
   summaries, Assert) goes to ``CPU:0`` (*soft-fallback-no-kernel*).
5. **Host memory.** int32 tensors stay on the host, as TensorFlow keeps int32 "GPU" tensors in host
   memory: a group whose every output is int32 (shape arithmetic: Shape, Size, Range of sizes,
   int32 Consts) runs on ``CPU:0`` unless a CPU-less rule says otherwise (*host-memory*).

With soft placement off (``gm.config.set_soft_device_placement(False)``), a request that rule 3
or 4 cannot meet is an error naming every such node, its request and the devices there are.
``clear_devices`` and ``device_map`` act at import, before any of this: placement sees the
requests they left.
"""

from __future__ import annotations

import dataclasses

from gmeta import dtypes, errors
from gmeta.devices.discovery import Inventory, LocalDevice
from gmeta.devices.spec import DeviceSpec
from gmeta.executor import _input_is_ref

HONOURED = "honoured"
DEFAULT = "default"
NO_DEVICE = "soft-fallback-no-device"
NO_KERNEL = "soft-fallback-no-kernel"
HOST_MEMORY = "host-memory"
COLOCATION = "colocation"


@dataclasses.dataclass
class Row:
    """One node's placement: what it asked for, where it runs and why."""

    node: str
    op_type: str
    requested: str
    assigned: LocalDevice
    reason: str
    detail: str = ""
    group: str = ""  # the node the group's decision was made for, when it is another node

    def as_dict(self) -> dict:
        return {"node": self.node, "op": self.op_type, "requested": self.requested,
                "assigned": self.assigned.name, "virtual": self.assigned.virtual,
                "reason": self.reason, "detail": self.detail, "group": self.group}

    def line(self) -> str:
        why = self.reason + (f": {self.detail}" if self.detail else "")
        if self.group:
            why += f" (with {self.group})"
        req = self.requested or "(none)"
        return f"{self.node} ({self.op_type}): {req} -> {self.assigned.label()} [{why}]"


class Placement:
    """The device of every node of one graph version, with its explanation."""

    def __init__(self, inventory: Inventory, rows: dict):
        self.inventory = inventory
        self._rows = rows  # Operation -> Row

    def device(self, op) -> LocalDevice:
        row = self._rows.get(op)
        return row.assigned if row is not None else self.inventory.cpu

    def row(self, op) -> Row:
        return self._rows[op]

    @property
    def rows(self) -> list:
        return list(self._rows.values())

    def log_lines(self) -> list:
        return [r.line() for r in self._rows.values()]

    def devices_used(self) -> list:
        seen = {}
        for r in self._rows.values():
            seen.setdefault(r.assigned.name, r.assigned)
        return list(seen.values())


class _Groups:
    """Union-find over operations (colocation groups)."""

    def __init__(self, ops):
        self.parent = {op: op for op in ops}

    def find(self, op):
        parent = self.parent
        root = op
        while parent[root] is not root:
            root = parent[root]
        while parent[op] is not root:
            parent[op], op = root, parent[op]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra is not rb:
            if rb._id < ra._id:
                ra, rb = rb, ra
            self.parent[rb] = ra


_VARIABLE_TYPES = frozenset({"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable"})


def _colocation_groups(ops) -> _Groups:
    groups = _Groups(ops)
    by_name = {op._name: op for op in ops}
    for op in ops:
        cls = op._attrs.get("_class")
        if cls is not None:
            for s in cls.list.s:
                if s.startswith(b"loc:@"):
                    other = by_name.get(s[5:].decode())
                    if other is not None:
                        groups.union(op, other)
        refs = None
        for i, t in enumerate(op._inputs):
            dt = t._dtype
            if dt is dtypes.resource:
                groups.union(op, t._op)
            elif dt.is_ref_dtype:
                if refs is None:
                    refs = _input_is_ref(op)
                if refs[i]:
                    groups.union(op, t._op)
    return groups


def _request_of(members) -> tuple:
    """``(the member whose request the group follows, its parsed DeviceSpec)``."""
    first = None
    for op in members:
        if op._device:
            spec = _parse(op)
            if op._type in _VARIABLE_TYPES:
                return op, spec
            if first is None and spec.device_type is not None:
                first = (op, spec)
    if first is not None:
        return first
    for op in members:
        if op._device:
            return op, _parse(op)
    return None, DeviceSpec()


def _parse(op) -> DeviceSpec:
    try:
        return DeviceSpec.from_string(op._device)
    except ValueError as e:
        raise errors.InvalidArgumentError(
            None, op, f"Node '{op._name}' requests device {op._device!r}, which does not parse: "
                      f"{e}. Accepted forms: /cpu:0, /gpu:1, /device:GPU:0, "
                      "/job:worker/replica:0/task:1/device:GPU:0 (fields optional, '*' for any "
                      "index)") from None


def _has_gpu_kernel(op_type: str) -> bool:
    from gmeta.kernels import lookup

    kdef = lookup(op_type, "GPU")
    return kdef is not None


def _all_int32(members) -> bool:
    saw = False
    for op in members:
        if op._type in _VARIABLE_TYPES:
            return False
        for t in op._outputs:
            if t._dtype.base_dtype is not dtypes.int32:
                return False
            saw = True
    return saw


OOM_RETRY = "oom-retry-on-cpu"


def place(ops, inventory: Inventory, soft: bool = True, cpu_groups=()) -> Placement:
    """Places ``ops`` (a whole graph, in creation order) on ``inventory``'s devices.

    ``cpu_groups``: nodes whose colocation groups go to the CPU whatever they ask (the nodes a
    GPU ran out of memory on, under ``Session(oom_retry_on_cpu=True)``).

    Raises:
        InvalidArgumentError: with soft placement off, listing every node whose request cannot be
            met, its request, and the devices there are.
    """
    ops = list(ops)
    groups = _colocation_groups(ops)
    members: dict = {}
    for op in ops:
        members.setdefault(groups.find(op), []).append(op)
    cpu = inventory.cpu
    gpus = inventory.gpus
    rows: dict = {}
    problems = []
    for root, group in members.items():
        leader, spec = _request_of(group)
        device, reason, detail = _bind(spec, inventory, cpu, gpus, group)
        if reason == NO_DEVICE:
            problems.append((leader or root, detail))
        if device.is_gpu:
            no_kernel = sorted({op._type for op in group if not _has_gpu_kernel(op._type)})
            if no_kernel:
                explicit = spec.device_type == "GPU"
                if explicit and not soft:
                    problems.append((leader or root,
                                     f"no GPU kernel for {', '.join(no_kernel)}"))
                detail = (f"no GPU kernel for {', '.join(no_kernel)}"
                          + (" in its colocation group" if len(group) > 1 else ""))
                device, reason = cpu, NO_KERNEL
        if device.is_gpu and any(op in cpu_groups for op in group):
            device, reason, detail = cpu, OOM_RETRY, \
                f"{device.label()} ran out of memory on this group; retried on the CPU"
        if device.is_gpu and _all_int32(group):
            device, reason, detail = cpu, HOST_MEMORY, \
                "int32 values stay in host memory, as TF keeps them"
        for op in group:
            req = op._device
            if op is leader or leader is None:
                rows[op] = Row(op._name, op._type, req, device, reason, detail)
            else:
                rows[op] = Row(op._name, op._type, req, device,
                               reason if req == leader._device else COLOCATION,
                               detail if req == leader._device else
                               f"follows {leader._name} ({leader._device or 'no request'}): "
                               f"{reason}", group=leader._name)
    if problems and not soft:
        devices = ", ".join(d.label() for d in inventory.devices)
        listing = "\n".join(f"  {op._name} ({op._type}) requested {op._device!r}: {why}"
                            for op, why in problems)
        extra = f" ({inventory.gpu_reason})" if inventory.gpu_reason else ""
        raise errors.InvalidArgumentError(
            None, problems[0][0],
            f"Cannot assign a device for {len(problems)} node(s) with soft placement off "
            f"(gm.config.set_soft_device_placement(False)). Devices here: {devices}{extra}.\n"
            f"{listing}")
    return Placement(inventory, {op: rows[op] for op in ops})


def _bind(spec: DeviceSpec, inventory, cpu, gpus, group) -> tuple:
    """``(device, reason, detail)`` for a group's request (reason NO_DEVICE: not as asked)."""
    notes = []
    if spec.job not in (None, "localhost") or spec.task not in (None, 0) or \
            spec.replica not in (None, 0):
        notes.append(f"cluster fields of {spec.to_string()} treated as this process")
    dtype, index = spec.device_type, spec.device_index
    if dtype is None:
        if gpus and all(_has_gpu_kernel(op._type) for op in group):
            return gpus[0], DEFAULT, "; ".join(notes + ["no device type requested: first GPU"])
        why = "no device type requested"
        if not gpus:
            why += f"; no GPU here ({inventory.gpu_reason})"
        return cpu, DEFAULT, "; ".join(notes + [why])
    if dtype == "CPU":
        if index in (None, 0):
            return cpu, HONOURED, "; ".join(notes)
        return _fallback(cpu, NO_DEVICE, notes + [f"CPU:{index} does not exist: CPU:0"])
    if dtype == "GPU":
        if index is None:
            if gpus:
                return gpus[0], HONOURED, "; ".join(notes + ["GPU:* bound to the first GPU"])
        else:
            hit = inventory.find("GPU", index)
            if hit is not None:
                return hit, HONOURED, "; ".join(notes)
        if gpus:
            target = gpus[(index or 0) % len(gpus)]
            return _fallback(target, NO_DEVICE, notes + [
                f"GPU:{index} does not exist here (GPUs: "
                f"{', '.join(str(g.index) for g in gpus)}): GPU:{index} mod {len(gpus)}"])
        return _fallback(cpu, NO_DEVICE, notes + [f"no GPU here ({inventory.gpu_reason})"])
    return _fallback(cpu, NO_DEVICE, notes + [f"no {dtype} devices here"])


def _fallback(device, reason, notes) -> tuple:
    return device, reason, "; ".join(n for n in notes if n)
