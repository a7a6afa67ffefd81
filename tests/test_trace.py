"""Traced runs (gmeta/_trace.py): ``Session.run(options=RunOptions(trace_level=FULL_TRACE),
run_metadata=m)`` fills ``m.step_stats`` with one NodeExecStats per kernel call, grouped by the
device that ran it, and ``output_partition_graphs`` fills ``m.partition_graphs``; gmeta.timeline
turns step stats into a Chrome trace. TF's own Timeline reading these is checked in
tests/tf_roundtrip/test_tf_reads_gmeta_traces.py."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors
from gmeta.devices import discovery

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"
FULL = tf.RunOptions.FULL_TRACE


def _mlp():
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) - 2, name="w")
    b = tf.Variable(np.float32([0.5, -0.5]), name="b")
    h = tf.nn.relu(tf.matmul(x, w) + b, name="h")
    y = tf.reduce_sum(h, name="y")
    return x, h, y


def _nodes(md) -> Counter:
    return Counter(ns.node_name for ds in md.step_stats.dev_stats for ns in ds.node_stats)


def _feed():
    return np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)


def test_full_trace_records_each_kernel_with_its_device_time_label_and_outputs():
    with tf.Graph().as_default():
        x, h, y = _mlp()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            want = sess.run([h, y], {x: _feed()})
            md = tf.RunMetadata()
            before = time.time_ns() // 1000
            got = sess.run([h, y], {x: _feed()}, options=tf.RunOptions(trace_level=FULL),
                           run_metadata=md)
            after = time.time_ns() // 1000
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    assert [ds.device for ds in md.step_stats.dev_stats] == [CPU]
    stats = {ns.node_name: ns for ns in md.step_stats.dev_stats[0].node_stats}
    # the kernels of the run; constants, variables and their reads are not kernel calls
    assert set(stats) == {"MatMul", "add", "h", "y"}
    assert stats["MatMul"].timeline_label == "MatMul = MatMul(x, w/read)"
    assert stats["h"].timeline_label == "h = Relu(add)"
    assert stats["y"].timeline_label == "y = Sum(h, Const)"
    order = [ns.node_name for ns in md.step_stats.dev_stats[0].node_stats]
    assert order == ["MatMul", "add", "h", "y"]  # run order
    for ns in stats.values():
        assert before <= ns.all_start_micros <= after
        assert ns.all_start_nanos // 1000 == ns.all_start_micros
        assert 0 <= ns.op_end_rel_nanos and ns.all_end_rel_micros == ns.op_end_rel_micros
    starts = [stats[n].all_start_nanos for n in order]
    assert starts == sorted(starts)
    (out,) = stats["h"].output
    td = out.tensor_description
    assert td.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in td.shape.dim] == [4, 2]
    assert td.allocation_description.requested_bytes == 32
    assert td.allocation_description.allocator_name == "cpu"
    assert [d.size for d in stats["y"].output[0].tensor_description.shape.dim] == []


def test_untraced_runs_are_untouched_and_the_traced_plan_is_kept_apart():
    with tf.Graph().as_default():
        x, h, y = _mlp()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            md = tf.RunMetadata()
            md.partition_graphs.add()  # a run without options leaves it as it is
            sess.run(y, {x: _feed()}, run_metadata=md)
            assert len(md.partition_graphs) == 1 and not md.HasField("step_stats")
            plain = sess._lookup(y, {x: _feed()})[0][0]
            assert not any(hasattr(fn, "_traced") for fn, *_ in plain.steps)
            for _ in range(2):  # traced twice: the traced plan is reused, md overwritten
                md = tf.RunMetadata()
                sess.run(y, {x: _feed()}, options=tf.RunOptions(trace_level=FULL),
                         run_metadata=md)
                assert _nodes(md) == Counter({"MatMul": 1, "add": 1, "h": 1, "y": 1})
            assert sess._lookup(y, {x: _feed()})[0][0] is plain
            assert sum(1 for k in sess._plans if isinstance(k, tuple) and k[0] == "trace") == 1


def _trace_mlp():
    """One FULL_TRACE run of ``_mlp``'s ``y``: its RunMetadata and the session's plans."""
    with tf.Graph().as_default():
        x, h, y = _mlp()  # add and Relu write into the MatMul's dying buffer
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            md = tf.RunMetadata()
            sess.run(y, {x: _feed()}, options=tf.RunOptions(trace_level=FULL), run_metadata=md)
            return md, dict(sess._plans)


def test_in_place_kernels_are_recorded_too():
    md, plans = _trace_mlp()
    plan, _, _, recorder = next(v for k, v in plans.items() if isinstance(k, tuple) and
                                k[0] == "trace")
    assert recorder is not None
    in_place = {op.name for fn, _, _, op in plan.steps
                if getattr(fn, "_inplace", None) and hasattr(fn, "_traced")}
    assert in_place == {"add", "h"}
    assert _nodes(md)["h"] == 1 and _nodes(md)["add"] == 1


def test_a_node_in_a_while_loop_is_recorded_at_each_iteration():
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        i0 = tf.constant(0)
        acc0 = tf.constant(1.0)
        _, acc = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * 2.0), [i0, acc0])
        with tf.Session() as sess:
            md = tf.RunMetadata()
            got = sess.run(acc, {n: 5}, options=tf.RunOptions(trace_level=FULL),
                           run_metadata=md)
    assert got == 32.0
    counts = _nodes(md)
    assert counts["while/mul"] == 5 and counts["while/add"] == 5
    assert counts["while/Less"] == 6  # the condition runs once more, and exits


def test_a_cond_records_the_taken_branch_only():
    with tf.Graph().as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        v = tf.placeholder(tf.float32, [], name="v")
        r = tf.cond(p, lambda: tf.square(v, name="sq"), lambda: tf.negative(v, name="neg"))
        with tf.Session() as sess:
            md = tf.RunMetadata()
            got = sess.run(r, {p: True, v: 3.0}, options=tf.RunOptions(trace_level=FULL),
                           run_metadata=md)
    assert got == 9.0
    names = set(_nodes(md))
    assert "cond/sq" in names and "cond/neg" not in names


def test_a_failing_traced_run_raises_as_untraced_and_the_next_one_records_afresh():
    with tf.Graph().as_default():
        a = tf.placeholder(tf.float32, None, name="a")
        m = tf.reduce_sum(tf.matmul(tf.reshape(a, [2, -1]), tf.ones([3, 1])), name="m")
        with tf.Session() as sess:
            opts, md = tf.RunOptions(trace_level=FULL), tf.RunMetadata()
            with pytest.raises(errors.InvalidArgumentError, match="size-incompatible"):
                sess.run(m, {a: np.ones(8, np.float32)}, options=opts, run_metadata=md)
            assert sess.run(m, {a: np.ones(6, np.float32)}, options=opts,
                            run_metadata=md) == 6.0
    assert _nodes(md) == Counter({"Reshape": 1, "MatMul": 1, "m": 1})


def test_partition_graphs_give_each_device_its_nodes(monkeypatch):
    monkeypatch.setattr(discovery, "_virtual_gpus", 1)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 2], name="x")
        with tf.device("/gpu:0"):
            g = tf.matmul(x, x, name="on_gpu")
        with tf.device("/cpu:0"):
            c = tf.reduce_sum(g, name="on_cpu")
        with tf.Session() as sess:
            md = tf.RunMetadata()
            opts = tf.RunOptions(output_partition_graphs=True)
            assert sess.run(c, {x: np.eye(2, dtype=np.float32)}, options=opts,
                            run_metadata=md) == 2.0
            assert not md.HasField("step_stats")  # no trace level: no step stats
            md2 = tf.RunMetadata()
            sess.run(c, {x: np.eye(2, dtype=np.float32)},
                     options=tf.RunOptions(trace_level=FULL), run_metadata=md2)
    parts = {gd.node[0].device: {n.name for n in gd.node} for gd in md.partition_graphs}
    gpu = "/job:localhost/replica:0/task:0/device:GPU:0"
    # x is fed: it reaches the GPU through a _Recv from the client; on_gpu's value goes to
    # the CPU through a _Send/_Recv pair, as in TF's partitions
    assert parts == {gpu: {"on_gpu", "x/_recv_0", "on_gpu/_send_0_to_device_CPU_0"},
                     CPU: {"on_cpu", "Const", "on_gpu/_recv_0"}}
    nodes = {n.name: n for gd in md.partition_graphs for n in gd.node}
    assert list(nodes["on_gpu"].input) == ["x/_recv_0", "x/_recv_0"]
    assert list(nodes["on_cpu"].input) == ["on_gpu/_recv_0", "Const"]
    send, recv = nodes["on_gpu/_send_0_to_device_CPU_0"], nodes["on_gpu/_recv_0"]
    assert list(send.input) == ["on_gpu"] and send.device == gpu and recv.device == CPU
    for key in ("tensor_name", "send_device", "recv_device"):
        assert send.attr[key] == recv.attr[key]
    assert send.attr["send_device"].s.decode() == gpu
    assert nodes["x/_recv_0"].attr["client_terminated"].b
    assert not recv.attr["client_terminated"].b
    for gd in md.partition_graphs:
        assert len({n.device for n in gd.node}) == 1 and gd.versions.producer > 0
    by_device = {ds.device: {ns.node_name for ns in ds.node_stats}
                 for ds in md2.step_stats.dev_stats}
    # the copies, on the GPU's memcpy stream as in TF's timelines (named "name:op" there): x
    # in, on_gpu's value out
    x_in, out = "x/_copy_0_to_device_GPU_0:MEMCPYHtoD", "on_gpu/_copy_0_to_device_CPU_0:MEMCPYDtoH"
    assert by_device == {gpu: {"on_gpu"}, CPU: {"on_cpu"}, gpu + "/memcpy": {x_in, out}}
    labels = {ns.node_name: ns.timeline_label for ds in md2.step_stats.dev_stats
              for ns in ds.node_stats}
    assert labels[x_in] == x_in + " = MEMCPYHtoD(x)"
    assert labels[out] == out + " = MEMCPYDtoH(on_gpu)"
    alloc = {ns.node_name: ns.output[0].tensor_description.allocation_description
             .allocator_name for ds in md2.step_stats.dev_stats for ns in ds.node_stats}
    assert alloc == {"on_gpu": "GPU_0", "on_cpu": "cpu", x_in: "GPU_0", out: "cpu"}
    copied = {ns.node_name: ns.output[0].tensor_description.allocation_description
              .requested_bytes for ds in md2.step_stats.dev_stats for ns in ds.node_stats}
    assert copied[x_in] == copied[out] == 16  # 2x2 float32


def test_the_chrome_trace_has_an_event_per_call_and_dataflow_between_them():
    md, _ = _trace_mlp()
    trace = json.loads(tf.timeline.Timeline(md.step_stats).generate_chrome_trace_format(
        show_memory=True))
    events = trace["traceEvents"]
    ops = [e for e in events if e["ph"] == "X"]
    assert [(e["name"], e["args"]["name"]) for e in ops] == [
        ("MatMul", "MatMul"), ("AddV2", "add"), ("Relu", "h"), ("Sum", "y")]
    assert ops[2]["args"]["input0"] == "add"
    assert {e["args"]["name"] for e in events if e["ph"] == "M"} == {f"{CPU} Compute"}
    starts = [e for e in events if e["ph"] == "s"]
    ends = [e for e in events if e["ph"] == "t"]
    assert len(starts) == len(ends) == 3  # MatMul -> add -> h -> y
    counters = [e["args"]["bytes"] for e in events if e["ph"] == "C"]
    assert counters == [32, 32, 32, 4]
