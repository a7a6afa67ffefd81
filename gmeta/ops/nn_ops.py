"""Neural-network builders (``gm.nn.*``)."""

from __future__ import annotations

from gmeta.framework import op_def_library


def relu(features, name=None):
    return op_def_library.apply_op("Relu", features=features, name=name)


from gmeta.framework import shape_inference as _si  # noqa: E402

_si.register("Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign", "LeakyRelu")(
    _si.unchanged_shape)
