"""``gm.image`` (tf.compat.v1.image): the image builders gmeta has."""

from gmeta.ops.coverage_ops import resize_bilinear  # noqa: F401
