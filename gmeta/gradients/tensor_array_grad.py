"""Gradients of the TensorArrayV3 ops (TF's ``tensor_array_grad.py``).

The gradient of a TensorArray is another one (``TensorArrayGradV3``, one per ``gradients``
call: the ``source`` is that call's name scope): a read's gradient is written to it, a write's
gradient is read from it, gather/scatter and concat/split likewise mirror each other.
"""

from __future__ import annotations

from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.ops import array_ops
from gmeta.ops.tensor_array_ops import TensorArray

for _op_type in ("TensorArrayV3", "TensorArrayGradV3", "TensorArrayGradWithShape",
                 "TensorArraySizeV3", "TensorArrayCloseV3"):
    no_gradient(_op_type)


def _grad_source(t) -> str:
    """The name scope of the ``gradients`` call ``t`` belongs to (its last ``gradients*``)."""
    tokens = t.name.split("/")
    pos = [i for i, x in enumerate(tokens) if x.startswith("gradients")]
    if not pos:
        raise ValueError(
            "Expected op/tensor name to start with gradients (excluding scope), got: "
            f"{t.name}. This means that a tf.gradients op with this op in its dependency path "
            "has a custom name that does not start with 'gradients'. Please make sure all "
            "calls to tf.gradients that have non-empty `name` arguments use names that start "
            "with 'gradients'.")
    return "/".join(tokens[:pos[-1] + 1])


def _grad_array(op, dtype, handle, flow, source):
    ta = TensorArray(dtype=dtype, handle=handle, flow=flow, colocate_with_first_write_call=False)
    return ta.grad(source=source, flow=flow)


def _barrier(op, flow):
    from gmeta.framework import ops as ops_lib

    flow_out = array_ops.identity(op.outputs[0], "flow_out")
    with ops_lib.get_default_graph().control_dependencies([flow_out]):
        return array_ops.identity(flow, "write_barrier")


@RegisterGradient("TensorArrayReadV3")
def _tensor_array_read_grad(op, grad):
    handle, index, flow = op.inputs
    g = _grad_array(op, op._attr("dtype"), handle, flow, _grad_source(grad))
    return [None, None, g.write(index, grad).flow]


@RegisterGradient("TensorArrayWriteV3")
def _tensor_array_write_grad(op, flow):
    handle, index = op.inputs[0], op.inputs[1]
    source = _grad_source(flow)
    flow = _barrier(op, flow)
    g = _grad_array(op, op._attr("T"), handle, flow, source)
    return [None, None, g.read(index), flow]


@RegisterGradient("TensorArrayGatherV3")
def _tensor_array_gather_grad(op, grad):
    handle, indices, flow = op.inputs
    g = _grad_array(op, op._attr("dtype"), handle, flow, _grad_source(grad))
    return [None, None, g.scatter(indices, grad).flow]


@RegisterGradient("TensorArrayScatterV3")
def _tensor_array_scatter_grad(op, flow):
    handle, indices = op.inputs[0], op.inputs[1]
    source = _grad_source(flow)
    flow = _barrier(op, flow)
    g = _grad_array(op, op._attr("T"), handle, flow, source)
    return [None, None, g.gather(indices), flow]


@RegisterGradient("TensorArrayConcatV3")
def _tensor_array_concat_grad(op, grad, unused_lengths_grad):
    handle, flow = op.inputs
    g = _grad_array(op, op._attr("dtype"), handle, flow, _grad_source(grad))
    return [None, g.split(grad, lengths=op.outputs[1]).flow]


@RegisterGradient("TensorArraySplitV3")
def _tensor_array_split_grad(op, flow):
    handle = op.inputs[0]
    source = _grad_source(flow)
    flow = _barrier(op, flow)
    g = _grad_array(op, op._attr("T"), handle, flow, source)
    return [None, g.concat(), None, flow]
