"""``gm.nn``: neural-network ops (``tf.compat.v1.nn``)."""

from gmeta.ops.nn_ops import *  # noqa: F401,F403
