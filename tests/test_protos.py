"""gmeta.proto: generated code is current, wire format matches TensorFlow's, private pool.

The byte strings below are derived by hand from TensorFlow's field numbers and the protobuf
wire format (tag = field_number << 3 | wire_type), so they pin gmeta's .proto files to TF's.
"""

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.internal import api_implementation

import gmeta.proto as P
from gmeta.proto import (
    config_pb2,
    control_flow_pb2,
    meta_graph_pb2,
    queue_runner_pb2,
    saved_object_graph_pb2,
    types_pb2,
)

ROOT = Path(__file__).resolve().parent.parent


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# ---------------------------------------------------------------------------------------------
# (a) generated modules are current


def test_generated_modules_are_current():
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.fail(
            "grpcio-tools is not installed, so the generated gmeta/proto/*_pb2.py cannot be "
            "checked; "
            "install the `test` extra (pip install 'grpcio-tools==1.85.1')"
        )
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, f"generated protos are stale:\n{result.stdout}{result.stderr}"


def test_every_generated_module_imports():
    names = [m.name for m in pkgutil.iter_modules(P.__path__) if m.name.endswith("_pb2")]
    protos = sorted(p.stem for p in (ROOT / "protos" / "gmeta" / "proto").glob("*.proto"))
    assert sorted(n[: -len("_pb2")] for n in names) == protos
    for name in names:
        module = importlib.import_module(f"gmeta.proto.{name}")
        assert module.DESCRIPTOR.pool is P.POOL
        assert module.DESCRIPTOR.package in ("tensorflow", "tensorflow.error")


# ---------------------------------------------------------------------------------------------
# (b) wire-format pins

WIRE_PINS = {
    "NodeDef name/op/device": (
        lambda: P.NodeDef(name="a", op="Const", device="/cpu:0"),
        "0a 01 61  12 05 436f6e7374  22 06 2f6370753a30",
    ),
    "NodeDef input/attr": (
        lambda: P.NodeDef(
            name="a", input=["x", "^y"], attr={"T": P.AttrValue(type=types_pb2.DT_FLOAT)}
        ),
        # input = 3; attr = 5 is map<string, AttrValue>: entry {key = 1, value = 2};
        # AttrValue.type = 6
        "0a 01 61  1a 01 78  1a 02 5e79  2a 07 0a0154 1202 3001",
    ),
    "NodeDef experimental_debug_info": (
        lambda: P.NodeDef(
            experimental_debug_info=P.NodeDef.ExperimentalDebugInfo(original_node_names=["o"])
        ),
        "32 03 0a 01 6f",
    ),
    "AttrValue.s": (lambda: P.AttrValue(s=b"VALID"), "12 05 56414c4944"),
    "AttrValue.i": (lambda: P.AttrValue(i=-1), "18 ffffffffffffffffff01"),
    "AttrValue.f": (lambda: P.AttrValue(f=1.0), "25 0000803f"),
    "AttrValue.b": (lambda: P.AttrValue(b=True), "28 01"),
    "AttrValue.type": (lambda: P.AttrValue(type=types_pb2.DT_HALF), "30 13"),
    "AttrValue.shape": (
        lambda: P.AttrValue(shape=P.TensorShapeProto(dim=[{"size": 2}, {"size": 3}])),
        "3a 08  12 02 0802  12 02 0803",
    ),
    "AttrValue.shape unknown_rank": (
        lambda: P.AttrValue(shape=P.TensorShapeProto(unknown_rank=True)),
        "3a 02 18 01",
    ),
    "AttrValue.tensor": (
        lambda: P.AttrValue(
            tensor=P.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={}, float_val=[1.0])
        ),
        "42 0a  08 01  12 00  2a 04 0000803f",
    ),
    "AttrValue.list": (
        lambda: P.AttrValue(
            list=P.AttrValue.ListValue(
                s=[b"a"],
                i=[1, 2],
                f=[0.5],
                b=[True, False],
                type=[types_pb2.DT_FLOAT, types_pb2.DT_INT32],
                shape=[P.TensorShapeProto(unknown_rank=True)],
                tensor=[P.TensorProto(dtype=types_pb2.DT_INT32, int_val=[7])],
                func=[P.NameAttrList(name="f")],
            )
        ),
        # list = 1; ListValue: s 2, i 3, f 4, b 5, type 6 (packed), shape 7, tensor 8, func 9
        (
            "0a 25  12 01 61  1a 02 0102  22 04 0000003f  2a 02 0100  32 02 0103  3a 02 1801"
            "  42 05 0803 3a0107  4a 03 0a0166"
        ),
    ),
    "AttrValue.func": (
        lambda: P.AttrValue(func=P.NameAttrList(name="f", attr={"N": P.AttrValue(i=2)})),
        "52 0c  0a 01 66  12 07 0a014e 12021802",
    ),
    "AttrValue.placeholder": (lambda: P.AttrValue(placeholder="T"), "4a 01 54"),
    "TensorProto half_val/string_val/tensor_content": (
        lambda: P.TensorProto(
            dtype=types_pb2.DT_HALF, half_val=[0x3C00], string_val=[b"a"], tensor_content=b"\x01"
        ),
        "08 13  22 01 01  42 01 61  6a 02 8078",
    ),
    "TensorProto int64/bool/resource/variant/uint/float8": (
        lambda: P.TensorProto(
            int64_val=[5],
            bool_val=[True],
            resource_handle_val=[P.ResourceHandleProto(name="r")],
            variant_val=[{"type_name": "v"}],
            uint32_val=[1],
            uint64_val=[2],
            float8_val=b"\x02",
        ),
        "52 01 05  5a 01 01  72 03 1a0172  7a 03 0a0176  82 01 01 01  8a 01 01 02  92 01 01 02",
    ),
    "MetaGraphDef fields 1..7": (
        lambda: P.MetaGraphDef(
            meta_info_def={"meta_graph_version": "v"},
            graph_def={"versions": {"producer": 27}},
            saver_def={"version": P.SaverDef.V2},
            collection_def={"c": {"node_list": {"value": ["n"]}}},
            signature_def={"s": {"method_name": "m"}},
            asset_file_def=[{"filename": "f"}],
            object_graph_def=saved_object_graph_pb2.SavedObjectGraph(nodes=[{}]),
        ),
        (
            "0a 03 0a0176  12 04 22 02 081b  1a 02 3802  22 0a 0a0163 1205 0a030a016e"
            "  2a 08 0a0173 1203 1a016d  32 03 120166  3a 02 0a00"
        ),
    ),
    "MetaInfoDef fields": (
        lambda: P.MetaGraphDef.MetaInfoDef(
            stripped_op_list={"op": [{"name": "Const"}]},
            tags=["serve"],
            tensorflow_version="2",
            tensorflow_git_version="g",
            stripped_default_attrs=True,
        ),
        "12 09 0a 07 0a05436f6e7374  22 05 7365727665  2a 01 32  32 01 67  38 01",
    ),
    "CollectionDef.node_list": (
        lambda: P.CollectionDef(node_list={"value": ["a"]}),
        "0a 03 0a 01 61",
    ),
    "CollectionDef.bytes_list": (
        lambda: P.CollectionDef(bytes_list={"value": [b"\x00"]}),
        "12 03 0a 01 00",
    ),
    "CollectionDef.int64_list": (
        lambda: P.CollectionDef(int64_list={"value": [1, 300]}),
        "1a 05 0a 03 01ac02",
    ),
    "CollectionDef.float_list": (
        lambda: P.CollectionDef(float_list={"value": [1.0]}),
        "22 06 0a 04 0000803f",
    ),
    "CollectionDef.any_list": (
        lambda: P.CollectionDef(any_list={"value": [P.Any(type_url="t", value=b"v")]}),
        "2a 08 0a 06 0a0174 120176",
    ),
    "TensorInfo name/dtype/shape": (
        lambda: P.TensorInfo(
            name="x:0", dtype=types_pb2.DT_FLOAT, tensor_shape={"unknown_rank": True}
        ),
        "0a 03 783a30  10 01  1a 02 1801",
    ),
    "TensorInfo coo_sparse/composite_tensor": (
        lambda: P.TensorInfo(
            coo_sparse={
                "values_tensor_name": "v",
                "indices_tensor_name": "i",
                "dense_shape_tensor_name": "d",
            }
        ),
        "22 09 0a0176 120169 1a0164",
    ),
    "TensorInfo composite_tensor": (
        lambda: P.TensorInfo(composite_tensor={"components": [{"name": "c"}]}),
        "2a 05 12 03 0a0163",
    ),
    "SignatureDef": (
        lambda: P.SignatureDef(
            inputs={"x": {"name": "a"}}, outputs={"y": {"name": "b"}}, method_name="m"
        ),
        "0a 08 0a0178 1203 0a0161  12 08 0a0179 1203 0a0162  1a 01 6d",
    ),
    "SaverDef all fields": (
        lambda: P.SaverDef(
            filename_tensor_name="a",
            save_tensor_name="b",
            restore_op_name="c",
            max_to_keep=5,
            sharded=True,
            keep_checkpoint_every_n_hours=10000.0,
            version=P.SaverDef.V2,
        ),
        "0a 01 61  12 01 62  1a 01 63  20 05  28 01  35 00401c46  38 02",
    ),
    "VariableDef": (
        lambda: P.VariableDef(
            variable_name="v",
            initializer_name="i",
            snapshot_name="s",
            save_slice_info_def={
                "full_name": "f",
                "full_shape": [4],
                "var_offset": [1],
                "var_shape": [2],
            },
            is_resource=True,
            initial_value_name="c",
            trainable=True,
            aggregation=P.variable_pb2.VARIABLE_AGGREGATION_SUM,
        ),
        "0a 01 76  12 01 69  1a 01 73  22 0c 0a0166 120104 1a0101 220102  "
        "28 01  32 01 63  38 01  48 01",
    ),
    "BundleHeaderProto": (
        lambda: P.BundleHeaderProto(
            num_shards=1, endianness=P.BundleHeaderProto.BIG, version={"producer": 1}
        ),
        "08 01  10 01  1a 02 0801",
    ),
    "BundleEntryProto": (
        lambda: P.BundleEntryProto(
            dtype=types_pb2.DT_FLOAT,
            shape={"dim": [{"size": 2}]},
            shard_id=1,
            offset=8,
            size=8,
            crc32c=0x12345678,
            slices=[{"extent": [{"start": 0, "length": 2}, {}]}],
        ),
        "08 01  12 04 12020802  18 01  20 08  28 08  35 78563412  3a 06 0a021002 0a00",
    ),
    "TensorSliceProto explicit zero length": (
        lambda: P.TensorSliceProto(extent=[{"start": 1, "length": 0}]),
        "0a 04 0801 1000",
    ),
    "CheckpointState": (
        lambda: P.CheckpointState(
            model_checkpoint_path="m-2",
            all_model_checkpoint_paths=["m-1", "m-2"],
            all_model_checkpoint_timestamps=[0.5],
            last_preserved_timestamp=0.5,
        ),
        "0a 03 6d2d32  12 03 6d2d31  12 03 6d2d32  1a 08 000000000000e03f  21 000000000000e03f",
    ),
    "GraphDef": (
        lambda: P.GraphDef(
            node=[{"name": "a"}], library={"function": [{}]}, version=1, versions={"producer": 2}
        ),
        "0a 03 0a0161  12 02 0a00  18 01  22 02 0802",
    ),
    "GraphDef.debug_info": (lambda: P.GraphDef(debug_info={"files": ["f"]}), "2a 03 0a 01 66"),
    "FunctionDefLibrary": (
        lambda: P.FunctionDefLibrary(
            function=[{"signature": {"name": "F"}}],
            gradient=[{"function_name": "F", "gradient_func": "G"}],
            registered_gradients=[{"gradient_func": "G", "registered_op_type": "Op"}],
        ),
        "0a 05 0a03 0a0146  12 06 0a0146 120147  1a 07 0a0147 12024f70",
    ),
    "OpDef": (
        lambda: P.OpDef(
            name="Add",
            input_arg=[{"name": "x", "type_attr": "T"}],
            output_arg=[{"name": "z", "type": types_pb2.DT_FLOAT}],
            attr=[{"name": "T", "type": "type"}],
            is_stateful=True,
        ),
        "0a 03 416464  12 06 0a0178 220154  1a 05 0a017a 1801  22 09 0a0154 120474797065  88 01 01",
    ),
    "ConfigProto soft placement/logging/gpu": (
        lambda: P.ConfigProto(
            device_count={"GPU": 1},
            allow_soft_placement=True,
            log_device_placement=True,
            gpu_options=P.GPUOptions(allow_growth=True, visible_device_list="0"),
        ),
        "0a 07 0a03475055 1001  32 05 2001 2a0130  38 01  40 01",
    ),
    "ConfigProto threads/graph_options/experimental": (
        lambda: P.ConfigProto(
            intra_op_parallelism_threads=2,
            inter_op_parallelism_threads=3,
            graph_options={"optimizer_options": {"opt_level": P.OptimizerOptions.L0}},
            experimental={"session_metadata": {"name": "s"}},
        ),
        "10 02  28 03  52 0d 1a0b 18ffffffffffffffffff01  82 01 05 5a03 0a0173",
    ),
    "GPUOptions.Experimental.VirtualDevices": (
        lambda: P.GPUOptions(experimental={"virtual_devices": [{"memory_limit_mb": [1.0]}]}),
        "4a 08 0a 06 0a04 0000803f",
    ),
    "RunOptions": (
        lambda: P.RunOptions(
            trace_level=P.RunOptions.FULL_TRACE, timeout_in_ms=5, output_partition_graphs=True
        ),
        "08 03  10 05  28 01",
    ),
    "RunMetadata": (
        lambda: P.RunMetadata(
            step_stats={"dev_stats": [{"device": "d"}]}, cost_graph={}, partition_graphs=[{}]
        ),
        "0a 05 0a03 0a0164  12 00  1a 00",
    ),
    "Summary scalar": (
        lambda: P.Summary(value=[{"tag": "loss", "simple_value": 0.5}]),
        "0a 0b 0a046c6f7373 150000003f",
    ),
    "Summary histo/metadata/node_name": (
        lambda: P.Summary(
            value=[{"histo": {"num": 1.0}, "metadata": {"display_name": "d"}, "node_name": "n"}]
        ),
        "0a 13 2a09 19000000000000f03f 3a016e 4a03 120164",
    ),
    "Event": (
        lambda: P.Event(wall_time=1.5, step=3, file_version="brain.Event:2"),
        "09 000000000000f83f  10 03  1a 0d 627261696e2e4576656e743a32",
    ),
    "Event session_log": (
        lambda: P.Event(session_log={"status": P.SessionLog.START}),
        "3a 02 0801",
    ),
    "Event meta_graph_def": (lambda: P.Event(meta_graph_def=b"m"), "4a 01 6d"),
    "QueueRunnerDef": (
        lambda: P.QueueRunnerDef(
            queue_name="q",
            enqueue_op_name=["e"],
            close_op_name="c",
            cancel_op_name="x",
            queue_closed_exception_types=[
                P.error_codes_pb2.OUT_OF_RANGE,
                P.error_codes_pb2.CANCELLED,
            ],
        ),
        "0a 01 71  12 01 65  1a 01 63  22 01 78  2a 02 0b01",
    ),
    "CondContextDef": (
        lambda: P.CondContextDef(
            context_name="c",
            pred_name="p",
            pivot_name="v",
            branch=1,
            values_def={"values": ["a"], "external_values": {"x": "y"}},
            nested_contexts=[{"while_ctxt": {}}],
        ),
        "0a 01 63  12 01 70  1a 01 76  20 01  2a 0b 0a0161 1206 0a0178 120179  32 02 1200",
    ),
    "WhileContextDef": (
        lambda: P.WhileContextDef(
            context_name="w",
            parallel_iterations=10,
            back_prop=True,
            swap_memory=True,
            pivot_name="p",
            pivot_for_pred_name="q",
            pivot_for_body_name="b",
            loop_exit_names=["x"],
            loop_enter_names=["e"],
            values_def={},
            maximum_iterations_name="m",
            nested_contexts=[{"cond_ctxt": {}}],
        ),
        "0a 01 77  10 0a  18 01  20 01  2a 01 70  32 01 71  3a 01 62  42 01 78  "
        "4a 00  52 01 65  5a 01 6d  62 02 0a00",
    ),
}


@pytest.mark.parametrize("name", sorted(WIRE_PINS))
def test_wire_pin(name):
    make, expected_hex = WIRE_PINS[name]
    message = make()
    expected = _hex(expected_hex)
    assert message.SerializeToString(deterministic=True).hex(" ") == expected.hex(" ")
    assert type(message).FromString(expected).SerializeToString(deterministic=True) == expected


def test_enum_pins():
    assert (types_pb2.DT_INVALID, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32) == (
        0,
        1,
        2,
        3,
    )
    assert (types_pb2.DT_STRING, types_pb2.DT_INT64, types_pb2.DT_BOOL) == (7, 9, 10)
    assert (
        types_pb2.DT_BFLOAT16,
        types_pb2.DT_HALF,
        types_pb2.DT_RESOURCE,
        types_pb2.DT_VARIANT,
    ) == (14, 19, 20, 21)
    assert (types_pb2.DT_UINT32, types_pb2.DT_UINT64) == (22, 23)
    assert (types_pb2.DT_FLOAT_REF, types_pb2.DT_HALF_REF, types_pb2.DT_RESOURCE_REF) == (
        101,
        119,
        120,
    )
    # Every base type has its _REF twin at +100.
    for name, value in P.DataType.items():
        if name != "DT_INVALID" and not name.endswith("_REF"):
            assert P.DataType.Value(name + "_REF") == value + 100, name
    assert (P.SaverDef.LEGACY, P.SaverDef.V1, P.SaverDef.V2) == (0, 1, 2)
    assert (P.BundleHeaderProto.LITTLE, P.BundleHeaderProto.BIG) == (0, 1)
    assert (P.OptimizerOptions.L1, P.OptimizerOptions.L0) == (0, -1)
    assert P.RunOptions.TraceLevel.items() == [
        ("NO_TRACE", 0),
        ("SOFTWARE_TRACE", 1),
        ("HARDWARE_TRACE", 2),
        ("FULL_TRACE", 3),
    ]
    assert (
        P.SessionLog.STATUS_UNSPECIFIED,
        P.SessionLog.START,
        P.SessionLog.STOP,
        P.SessionLog.CHECKPOINT,
    ) == (
        0,
        1,
        2,
        3,
    )
    assert (
        P.ErrorCode.Value("NOT_FOUND"),
        P.ErrorCode.Value("OUT_OF_RANGE"),
        P.ErrorCode.Value("DATA_LOSS"),
    ) == (
        5,
        11,
        15,
    )
    assert P.variable_pb2.VARIABLE_SYNCHRONIZATION_ON_READ == 3
    assert P.variable_pb2.VARIABLE_AGGREGATION_ONLY_FIRST_REPLICA == 3


def test_full_names_match_tensorflow():
    assert P.MetaGraphDef.DESCRIPTOR.full_name == "tensorflow.MetaGraphDef"
    assert P.MetaGraphDef.MetaInfoDef.DESCRIPTOR.full_name == "tensorflow.MetaGraphDef.MetaInfoDef"
    assert P.SaverDef.DESCRIPTOR.full_name == "tensorflow.SaverDef"
    assert P.DataType.DESCRIPTOR.full_name == "tensorflow.DataType"
    assert P.ErrorCode.DESCRIPTOR.full_name == "tensorflow.error.Code"
    assert (
        meta_graph_pb2.CollectionDef.DESCRIPTOR.oneofs_by_name["kind"].fields[4].name == "any_list"
    )
    assert (
        config_pb2.ConfigProto.Experimental.DESCRIPTOR.full_name
        == "tensorflow.ConfigProto.Experimental"
    )
    assert (
        control_flow_pb2.ControlFlowContextDef.DESCRIPTOR.fields_by_name["while_ctxt"].number == 2
    )
    assert (
        queue_runner_pb2.QueueRunnerDef.DESCRIPTOR.fields_by_name[
            "queue_closed_exception_types"
        ].number
        == 5
    )


# ---------------------------------------------------------------------------------------------
# (c) coexistence with TensorFlow: nothing of gmeta's lands in protobuf's default pool


def test_default_pool_is_untouched():
    if api_implementation.Type() == "python":
        pytest.skip(
            "the pure-Python protobuf backend registers generated classes in the default symbol "
            "database; sharing a process with TensorFlow needs the upb backend"
        )
    default = descriptor_pool.Default()
    for name in (
        "tensorflow.NodeDef",
        "tensorflow.TensorProto",
        "tensorflow.MetaGraphDef",
        "tensorflow.SaverDef",
    ):
        with pytest.raises(KeyError):
            default.FindMessageTypeByName(name)
    with pytest.raises(KeyError):
        default.FindEnumTypeByName("tensorflow.DataType")
    with pytest.raises(KeyError):
        default.FindFileByName("gmeta/proto/node_def.proto")
    assert P.POOL.FindMessageTypeByName("tensorflow.NodeDef") is P.NodeDef.DESCRIPTOR


# ---------------------------------------------------------------------------------------------
# (d) text format and Any


def _meta_graph_with_any():
    meta = P.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.graph_def.node.add(name="save/Const", op="Const", device="/cpu:0")
    saver = P.SaverDef(
        filename_tensor_name="save/Const:0",
        restore_op_name="save/restore_all",
        version=P.SaverDef.V2,
    )
    meta.collection_def["savers"].any_list.value.add().Pack(saver)
    meta.collection_def["train_op"].node_list.value.append("train")
    return meta, saver


def test_any_pack_unpack():
    meta, saver = _meta_graph_with_any()
    packed = meta.collection_def["savers"].any_list.value[0]
    assert packed.type_url == "type.googleapis.com/tensorflow.SaverDef"
    assert packed.Is(P.SaverDef.DESCRIPTOR)
    out = P.SaverDef()
    assert packed.Unpack(out)
    assert out == saver
    assert not packed.Unpack(P.VariableDef())


def test_text_format_round_trip_with_any():
    meta, _ = _meta_graph_with_any()
    text = P.message_to_text(meta)
    assert "[type.googleapis.com/tensorflow.SaverDef] {" in text
    assert "version: V2" in text
    assert P.parse_text(text, P.MetaGraphDef()) == meta
    assert P.MetaGraphDef.FromString(meta.SerializeToString()) == meta


def test_parse_hand_written_pbtxt():
    text = """
    collection_def {
      key: "savers"
      value {
        any_list {
          value {
            [type.googleapis.com/tensorflow.SaverDef] {
              filename_tensor_name: "save/Const:0"
              version: V2
            }
          }
        }
      }
    }
    """
    meta = P.parse_text(text, P.MetaGraphDef())
    out = P.SaverDef()
    assert meta.collection_def["savers"].any_list.value[0].Unpack(out)
    assert out == P.SaverDef(filename_tensor_name="save/Const:0", version=P.SaverDef.V2)


def test_checkpoint_state_text():
    state = P.CheckpointState(
        model_checkpoint_path="model.ckpt-2", all_model_checkpoint_paths=["model.ckpt-2"]
    )
    text = P.message_to_text(state)
    assert (
        text
        == 'model_checkpoint_path: "model.ckpt-2"\nall_model_checkpoint_paths: "model.ckpt-2"\n'
    )
    assert P.parse_text(text, P.CheckpointState()) == state
