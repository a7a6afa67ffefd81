"""A Chrome trace (chrome://tracing, Perfetto) of a traced run's StepStats, without TensorFlow:
``Timeline(run_metadata.step_stats).generate_chrome_trace_format()``, the call TF's
``tensorflow.python.client.timeline`` offers (which reads gmeta's StepStats too).

One process per device (``<device> Compute``), one complete event per kernel call named by its
op type, with the node's name and inputs in ``args``; flow arrows from producer to consumer;
with ``show_memory=True``, a counter of the bytes each call's outputs take.
"""

from __future__ import annotations

import json
import re

_LABEL = re.compile(r"(.*) = (.*)\((.*)\)")


def op_and_inputs(node_stats) -> tuple:
    """``(op type, input names)`` of a NodeExecStats, from its TF timeline label
    (``name = Type(in0, in1)``); ``(node name, [])`` for a label of another form."""
    m = _LABEL.match(node_stats.timeline_label)
    if m is None:
        return node_stats.node_name, []
    return m.group(2), [x for x in m.group(3).split(", ") if x]


class Timeline:
    def __init__(self, step_stats, graph=None):
        self._step_stats = step_stats
        self._graph = graph  # accepted for TF's signature; not needed

    def generate_chrome_trace_format(self, show_dataflow: bool = True,
                                     show_memory: bool = False) -> str:
        """The trace as JSON text. ``show_dataflow``: a flow arrow from the call that made
        each input (its latest call before) to the call reading it; ``show_memory``: a counter
        of the bytes each call's outputs take."""
        events = []
        made: dict = {}  # node name -> (pid, ts) of its latest call
        flows = 0
        for pid, ds in enumerate(self._step_stats.dev_stats):
            events.append({"name": "process_name", "ph": "M", "pid": pid,
                           "args": {"name": f"{ds.device} Compute"}})
        calls = sorted(((ns.all_start_micros, pid, ns)
                        for pid, ds in enumerate(self._step_stats.dev_stats)
                        for ns in ds.node_stats), key=lambda c: (c[0], c[1]))
        for start, pid, ns in calls:
            op, inputs = op_and_inputs(ns)
            args = {"name": ns.node_name, "op": op}
            args.update({f"input{i}": x for i, x in enumerate(inputs)})
            events.append({"name": op, "ph": "X", "cat": "Op", "pid": pid, "tid": 0,
                           "ts": start, "dur": max(ns.op_end_rel_micros, 0), "args": args})
            if show_dataflow:
                for x in inputs:
                    src = made.get(x.split(":")[0].lstrip("^"))
                    if src is None:
                        continue
                    events.append({"name": "dataflow", "ph": "s", "cat": "DataFlow",
                                   "pid": src[0], "tid": 0, "ts": src[1], "id": flows})
                    events.append({"name": "dataflow", "ph": "t", "cat": "DataFlow",
                                   "pid": pid, "tid": 0, "ts": start, "id": flows})
                    flows += 1
            made[ns.node_name] = (pid, start)
            if show_memory:
                nbytes = sum(o.tensor_description.allocation_description.requested_bytes
                             for o in ns.output)
                events.append({"name": "output bytes", "ph": "C", "pid": pid, "ts": start,
                               "args": {"bytes": nbytes}})
        return json.dumps({"traceEvents": events}, indent=4)
