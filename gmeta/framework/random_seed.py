"""Graph-level and op-level random seeds, combined as TensorFlow combines them (``get_seed``).

The streams themselves are not bit-identical to TensorFlow's (gmeta draws from numpy's Philox
generator keyed by the two seeds), but the rules are: a fixed graph seed makes every random op
repeatable across Sessions; an op without its own seed gets the graph's count of such ops so far
(0, 1, 2, ...), as TF 2.x numbers them.
"""

from __future__ import annotations

from gmeta.framework import ops as ops_lib

DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2 ** 31 - 1


def _truncate_seed(seed: int) -> int:
    return seed % _MAXINT32


def get_seed(op_seed):
    """(graph seed, op seed) for a new random op, either None when not deterministic."""
    g = ops_lib.get_default_graph()
    global_seed = g.seed
    if global_seed is not None:
        if op_seed is None:  # TF 2.x: a per-graph counter of the ops that needed one
            op_seed = g.__dict__.get("_op_seed_counter", 0)
            g._op_seed_counter = op_seed + 1
        seeds = _truncate_seed(global_seed), _truncate_seed(op_seed)
    elif op_seed is not None:
        seeds = DEFAULT_GRAPH_SEED, _truncate_seed(op_seed)
    else:
        seeds = None, None
    if seeds == (0, 0):
        return 0, _MAXINT32
    return seeds


def set_random_seed(seed) -> None:
    """Sets the graph-level seed of the default graph."""
    ops_lib.get_default_graph().seed = seed
