"""``gm.train.replica_device_setter``: the device function of between-graph replicated training.

Behaves as TF 2.21's ``tf.compat.v1.train.replica_device_setter`` (checked against TF by
tests/test_replica_device_setter.py):

- ops whose type is in ``ps_ops`` (by default the variable and mutable-table handle ops of
  ``STANDARD_PS_OPS``) go to ``ps_device``; the task is chosen by ``ps_strategy`` (round robin over
  the ps tasks by default), but only when ``ps_device`` names a job and the op's own device names
  no job or the same one; the strategy is not consulted otherwise;
- every other op goes to ``worker_device``;
- with ``merge_devices=True`` the op's own device (what inner ``device`` scopes gave it) is merged
  into the chosen one field by field, the op's fields winning; with ``merge_devices=False`` an op
  that already has a device keeps it unchanged;
- the function returns a device string; it also accepts a ``NodeDef``.

``replica_device_setter`` returns ``None`` (no device function) when there are no ps tasks: with
``ps_tasks=0`` and no cluster, when the cluster has no job named like ``ps_device``'s job (or
``ps_device`` names no job), or when that job has no tasks.
"""

from __future__ import annotations

from gmeta import logging
from gmeta.devices.spec import DeviceSpec

__all__ = ["STANDARD_PS_OPS", "replica_device_setter"]

# The op types placed on ps tasks by default (TF's list, in its order).
STANDARD_PS_OPS = ("Variable", "VariableV2", "AutoReloadVariable",
                   "MutableHashTable", "MutableHashTableV2",
                   "MutableHashTableOfTensors", "MutableHashTableOfTensorsV2",
                   "MutableDenseHashTable", "MutableDenseHashTableV2",
                   "VarHandleOp", "BoostedTreesEnsembleResourceHandleOp",
                   "BoostedTreesQuantileStreamResourceHandleOp",
                   "ResourceConditionalAccumulator",
                   "DecisionTreeResource")

_CLUSTER_TYPE_MESSAGE = ("`cluster` must be a dictionary mapping one or more job names to lists of "
                         "network addresses, or a `ClusterDef` protocol buffer")


class _RoundRobinStrategy:
    """The default ps strategy: task 0, 1, ..., num_tasks - 1, 0, ... for successive ps ops."""

    def __init__(self, num_tasks: int):
        self._num_tasks = num_tasks
        self._next_task = 0

    def __call__(self, unused_op) -> int:
        task = self._next_task
        self._next_task = (task + 1) % self._num_tasks
        return task


def _is_node_def(op) -> bool:
    from gmeta.proto import NodeDef

    return isinstance(op, NodeDef)


def _op_type(op) -> str:
    if _is_node_def(op):
        return op.op
    op_type = getattr(op, "type", None)
    if isinstance(op_type, str):
        return op_type
    return op.node_def.op


class _ReplicaDeviceChooser:
    """Holds the setter's settings; ``device_function`` is what ``device()`` receives."""

    def __init__(self, ps_tasks, ps_device, worker_device, merge_devices, ps_ops, ps_strategy):
        self._ps_tasks = ps_tasks
        self._ps_device = ps_device
        self._worker_device = worker_device
        self._merge_devices = merge_devices
        self._ps_ops = ps_ops
        self._ps_strategy = ps_strategy

    def device_function(self, op) -> str:
        """The device string for ``op`` (an Operation or a NodeDef)."""
        own = op.device
        if own and not self._merge_devices:
            return own
        current = DeviceSpec.from_string(own or "")
        if self._ps_tasks and self._ps_device and _op_type(op) in self._ps_ops:
            ps = DeviceSpec.from_string(self._ps_device)
            if ps.job and (not current.job or current.job == ps.job):
                ps = ps.replace(task=self._ps_strategy(op))
            return ps.make_merged_spec(current).to_string()
        worker = DeviceSpec.from_string(self._worker_device or "")
        return worker.make_merged_spec(current).to_string()


def _cluster_jobs(cluster) -> dict:
    """Job name -> number of tasks, for a dict, a ClusterDef or a ClusterSpec-like object.

    Validates a dict as ``tf.train.ClusterSpec`` does (same TypeErrors)."""
    from gmeta.proto.cluster_pb2 import ClusterDef

    if isinstance(cluster, ClusterDef):
        return {job.name: len(job.tasks) for job in cluster.job}
    if not isinstance(cluster, dict):
        as_dict = getattr(cluster, "as_dict", None)
        if not callable(as_dict):
            raise TypeError(_CLUSTER_TYPE_MESSAGE)
        cluster = as_dict()
    jobs = {}
    for job_name, tasks in cluster.items():
        if isinstance(tasks, (list, tuple)):
            tasks = dict(enumerate(tasks))
        elif isinstance(tasks, dict):
            tasks = {int(i): t for i, t in tasks.items()}
        else:
            raise TypeError(f"The tasks for job {job_name!r} must be a list or a dictionary from "
                            "integers to strings.")
        jobs[job_name] = tasks
    for job_name, tasks in sorted(jobs.items()):
        if not isinstance(job_name, (str, bytes)):
            raise TypeError(f"Job name {job_name!r} must be bytes or unicode")
        for _, address in sorted(tasks.items()):
            if not isinstance(address, (str, bytes)):
                raise TypeError(f"Task address {address!r} must be bytes or unicode")
    return {job_name: len(tasks) for job_name, tasks in jobs.items()}


def replica_device_setter(ps_tasks=0, ps_device="/job:ps", worker_device="/job:worker",
                          merge_devices=True, cluster=None, ps_ops=None, ps_strategy=None):
    """A device function for ``gm.device()`` that puts variables on ps tasks, the rest on the
    worker (``tf.compat.v1.train.replica_device_setter``).

    Args:
        ps_tasks: number of ps tasks; ignored when ``cluster`` is given.
        ps_device: device of the ps job (``""``: no ps placement).
        worker_device: device of the worker job (``""``: no worker placement).
        merge_devices: merge the op's own device into the chosen one (its fields win); when
            False an op that has a device keeps it.
        cluster: a dict ``{job name: [addresses] or {task index: address}}``, a ``ClusterDef``
            or a ClusterSpec-like object with ``as_dict()``; ``ps_tasks`` is then the number of
            tasks of ``ps_device``'s job.
        ps_ops: op types placed on ps (default ``STANDARD_PS_OPS``).
        ps_strategy: callable(op) -> ps task index (default: round robin over the ps tasks).

    Returns:
        The device function, or ``None`` when there are no ps tasks (see the module docstring).

    Raises:
        TypeError: ``cluster`` is not a dict / ClusterDef / ClusterSpec, or is malformed, or
            ``ps_strategy`` is not callable.
    """
    if cluster is not None:
        jobs = _cluster_jobs(cluster)
        ps_job_name = DeviceSpec.from_string(ps_device).job
        if ps_job_name not in jobs:
            return None
        ps_tasks = jobs[ps_job_name]
    if ps_tasks == 0:
        return None
    if ps_ops is None:
        ps_ops = list(STANDARD_PS_OPS)
    if not merge_devices:
        logging.warning("DEPRECATION: It is recommended to set merge_devices=true in "
                        "replica_device_setter")
    if ps_strategy is None:
        ps_strategy = _RoundRobinStrategy(ps_tasks)
    if not callable(ps_strategy):
        raise TypeError("ps_strategy must be callable")
    chooser = _ReplicaDeviceChooser(ps_tasks, ps_device, worker_device, merge_devices, ps_ops,
                                    ps_strategy)
    return chooser.device_function
