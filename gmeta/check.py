"""``gm.check(meta_graph)``: which ops of a MetaGraph (or GraphDef) this gmeta cannot run.

For every op type the file uses that has no kernel on any device: the nodes that use it and, where
one exists, the nearest op gmeta can run (a curated alternative, else the closest registered name).
Ops that only lack a GPU kernel are listed separately: they run, on the CPU.
"""

from __future__ import annotations

import dataclasses
import difflib
import os

from gmeta import kernels

# Op types whose usual replacement is not the closest name.
_ALTERNATIVES = {
    "ResizeBicubic": "ResizeBilinear",
    "Conv3D": "Conv2D", "MaxPool3D": "MaxPool", "AvgPool3D": "AvgPool",
    "CudnnRNN": "LSTMBlockCell or a dynamic_rnn with LSTMCell (v1 while loop)",
    "PyFunc": "none: a py_func runs Python code that is not in the file",
}


@dataclasses.dataclass
class Unsupported:
    op_type: str
    nodes: list  # node names using it
    alternative: str  # "" when there is none

    def line(self) -> str:
        shown = ", ".join(self.nodes[:5]) + (f" (+{len(self.nodes) - 5} more)"
                                             if len(self.nodes) > 5 else "")
        alt = f"; nearest supported: {self.alternative}" if self.alternative else ""
        return (f"{self.op_type}: no kernel in gmeta, used by {len(self.nodes)} node(s): "
                f"{shown}{alt}")


@dataclasses.dataclass
class Report:
    source: str
    op_types: dict  # op type -> count
    unsupported: list  # Unsupported
    cpu_only: dict  # op type -> count (no GPU kernel: placed on the CPU)

    @property
    def ok(self) -> bool:
        return not self.unsupported

    def __str__(self) -> str:
        if self.ok:
            head = f"{self.source}: gmeta can run all {len(self.op_types)} op types"
        else:
            head = (f"{self.source}: {len(self.unsupported)} of {len(self.op_types)} op types "
                    "have no gmeta kernel")
        lines = [head] + ["  " + u.line() for u in self.unsupported]
        if self.cpu_only:
            lines.append("  CPU only (no GPU kernel): " + ", ".join(sorted(self.cpu_only)))
        return "\n".join(lines)


def alternative_for(op_type: str) -> str:
    """The nearest op type gmeta runs, for an error message ("" when there is none)."""
    if op_type in _ALTERNATIVES:
        return _ALTERNATIVES[op_type]
    close = difflib.get_close_matches(op_type, kernels.registered_op_types(), n=1, cutoff=0.75)
    return close[0] if close else ""


def check(meta_graph_or_graph_def) -> Report:
    """Lists the op types of a MetaGraphDef / GraphDef (a proto or a path to a .meta / .pb)
    that gmeta has no kernel for, with the nodes using them and the nearest supported op."""
    from gmeta.framework.meta_graph import read_meta_graph_file
    from gmeta.proto import GraphDef, MetaGraphDef

    source = "graph"
    proto = meta_graph_or_graph_def
    if isinstance(proto, (str, os.PathLike)):
        source = os.fspath(proto)
        if source.endswith(".pb"):
            gd = GraphDef()
            with open(source, "rb") as f:
                gd.ParseFromString(f.read())
            proto = gd
        else:
            proto = read_meta_graph_file(source)
    graph_def = proto.graph_def if isinstance(proto, MetaGraphDef) else proto
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes.extend(fn.node_def)
    by_type: dict = {}
    for n in nodes:
        by_type.setdefault(n.op, []).append(n.name)
    unsupported, cpu_only = [], {}
    for op_type, names in sorted(by_type.items()):
        if kernels.lookup(op_type, "CPU") is None and kernels.lookup(op_type, "GPU") is None:
            unsupported.append(Unsupported(op_type, names, alternative_for(op_type)))
        elif kernels.lookup(op_type, "GPU") is None:
            cpu_only[op_type] = len(names)
    return Report(source, {t: len(v) for t, v in by_type.items()}, unsupported, cpu_only)
