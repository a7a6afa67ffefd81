"""Protocol buffers wire-compatible with TensorFlow 2.21's (package ``tensorflow``).

The ``*_pb2`` modules are generated from ``protos/gmeta/proto/*.proto`` by ``tools/gen_protos.py``;
do not edit them. They register into the private pool :data:`POOL` (see ``_pool.py``), so they can
be imported next to TensorFlow. Build ``Any`` values with :class:`Any` from this package, and use
:func:`parse_text` / :func:`message_to_text` for text format so that ``Any`` payloads resolve.
"""

from __future__ import annotations

from google.protobuf import text_format

from gmeta.proto import (
    attr_value_pb2,
    checkpoint_state_pb2,
    config_pb2,
    control_flow_pb2,
    cost_graph_pb2,
    device_attributes_pb2,
    error_codes_pb2,
    event_pb2,
    function_pb2,
    graph_pb2,
    meta_graph_pb2,
    node_def_pb2,
    op_def_pb2,
    queue_runner_pb2,
    resource_handle_pb2,
    rewriter_config_pb2,
    saved_model_pb2,
    saver_pb2,
    step_stats_pb2,
    summary_pb2,
    tensor_bundle_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    tensor_slice_pb2,
    types_pb2,
    variable_pb2,
    versions_pb2,
)
from gmeta.proto._pool import POOL
from gmeta.proto._pool import Any as Any

# types_pb2 holds the DT_* values (types_pb2.DT_FLOAT == 1); DataType is the enum wrapper.
DataType = types_pb2.DataType

AttrValue = attr_value_pb2.AttrValue
NameAttrList = attr_value_pb2.NameAttrList
CheckpointState = checkpoint_state_pb2.CheckpointState
CallableOptions = config_pb2.CallableOptions
ConfigProto = config_pb2.ConfigProto
GPUOptions = config_pb2.GPUOptions
GraphOptions = config_pb2.GraphOptions
OptimizerOptions = config_pb2.OptimizerOptions
RunMetadata = config_pb2.RunMetadata
RunOptions = config_pb2.RunOptions
ThreadPoolOptionProto = config_pb2.ThreadPoolOptionProto
CondContextDef = control_flow_pb2.CondContextDef
ControlFlowContextDef = control_flow_pb2.ControlFlowContextDef
ValuesDef = control_flow_pb2.ValuesDef
WhileContextDef = control_flow_pb2.WhileContextDef
CostGraphDef = cost_graph_pb2.CostGraphDef
DeviceAttributes = device_attributes_pb2.DeviceAttributes
ErrorCode = error_codes_pb2.Code
Event = event_pb2.Event
LogMessage = event_pb2.LogMessage
SessionLog = event_pb2.SessionLog
TaggedRunMetadata = event_pb2.TaggedRunMetadata
FunctionDef = function_pb2.FunctionDef
FunctionDefLibrary = function_pb2.FunctionDefLibrary
GradientDef = function_pb2.GradientDef
GraphDef = graph_pb2.GraphDef
AssetFileDef = meta_graph_pb2.AssetFileDef
CollectionDef = meta_graph_pb2.CollectionDef
MetaGraphDef = meta_graph_pb2.MetaGraphDef
SignatureDef = meta_graph_pb2.SignatureDef
TensorInfo = meta_graph_pb2.TensorInfo
NodeDef = node_def_pb2.NodeDef
OpDef = op_def_pb2.OpDef
OpList = op_def_pb2.OpList
QueueRunnerDef = queue_runner_pb2.QueueRunnerDef
ResourceHandleProto = resource_handle_pb2.ResourceHandleProto
RewriterConfig = rewriter_config_pb2.RewriterConfig
SavedModel = saved_model_pb2.SavedModel
SaverDef = saver_pb2.SaverDef
StepStats = step_stats_pb2.StepStats
HistogramProto = summary_pb2.HistogramProto
Summary = summary_pb2.Summary
SummaryDescription = summary_pb2.SummaryDescription
SummaryMetadata = summary_pb2.SummaryMetadata
BundleEntryProto = tensor_bundle_pb2.BundleEntryProto
BundleHeaderProto = tensor_bundle_pb2.BundleHeaderProto
TensorProto = tensor_pb2.TensorProto
TensorShapeProto = tensor_shape_pb2.TensorShapeProto
TensorSliceProto = tensor_slice_pb2.TensorSliceProto
SaveSliceInfoDef = variable_pb2.SaveSliceInfoDef
VariableDef = variable_pb2.VariableDef
VersionDef = versions_pb2.VersionDef


def parse_text(text: str | bytes, message):
    """Parses text format into ``message`` (cleared first), resolving ``Any`` payloads in POOL.

    Returns:
        ``message``.
    """
    return text_format.Parse(text, message, descriptor_pool=POOL)


def message_to_text(message, **kwargs) -> str:
    """Prints ``message`` in text format, expanding ``Any`` payloads whose type is in POOL."""
    return text_format.MessageToString(message, descriptor_pool=POOL, **kwargs)
