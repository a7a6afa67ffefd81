"""``gmeta inspect``, ``gmeta place`` and ``gmeta graph``: what a MetaGraph holds, where this
machine would run each node and why, and a picture of that."""

from __future__ import annotations

import collections
import os

from gmeta import cli
from gmeta.cli import CliError, one_line, print_json, short_device, table


def add_parsers(sub, common) -> None:
    p = sub.add_parser("inspect", help="what a .meta holds: ops, devices, collections, "
                       "signatures, SaverDef, variables, ops this machine cannot run")
    p.add_argument("file", help="a MetaGraphDef file (.meta, binary or text)")
    common(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("place", help="where this machine would run each node, and why")
    p.add_argument("file", help="a MetaGraphDef file (.meta)")
    p.add_argument("--fetch", action="append", metavar="NAME",
                   help="plan these (tensor, op or collection:KEY) for the cross-device edges; "
                        "default: collection:train_op, else every sink node outside the saver")
    p.add_argument("--summary", action="store_true", help="leave out the per-node rows")
    common(p, devices=True, imports=True)
    p.set_defaults(func=cmd_place)

    p = sub.add_parser("graph", help="a picture of the graph, nodes coloured by device")
    p.add_argument("file", help="a MetaGraphDef file (.meta)")
    p.add_argument("--out", action="append", required=True, metavar="FILE",
                   help="graph.svg, graph.png or graph.dot (repeat for several)")
    p.add_argument("--level", choices=["auto", "node", "scope"], default="auto",
                   help="one box per node, or per top-level name scope (auto: scopes above "
                        "--max-nodes nodes)")
    p.add_argument("--max-nodes", type=int, default=150, metavar="N",
                   help="auto level: draw every node up to N nodes (default 150)")
    p.add_argument("--logdir", metavar="DIR",
                   help="also write the graph into a TensorBoard event file in DIR")
    common(p, devices=True, imports=True)
    p.set_defaults(func=cmd_graph)


# -- inspect ---------------------------------------------------------------------------------------
def _dtype_name(enum: int) -> str:
    from gmeta import dtypes
    from gmeta.proto import types_pb2

    try:
        return dtypes.as_dtype(enum).name
    except (TypeError, ValueError):
        return types_pb2.DataType.Name(enum) if enum in types_pb2.DataType.values() else str(enum)


def _shape(shape_proto):
    if shape_proto.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape_proto.dim]


def _variables(mgd) -> list:
    """Variables as the file's VariableDefs and NodeDefs describe them."""
    from gmeta.proto import VariableDef

    nodes = {n.name: n for n in mgd.graph_def.node}

    def defs(key):
        if key not in mgd.collection_def:
            return []
        return [VariableDef.FromString(raw) for raw in mgd.collection_def[key].bytes_list.value]

    trainable = {vd.variable_name for vd in defs("trainable_variables")}
    out, seen = [], set()
    for key in ("variables", "local_variables"):
        for vd in defs(key):
            if vd.variable_name in seen:
                continue
            seen.add(vd.variable_name)
            node = nodes.get(vd.variable_name.split(":")[0])
            shape = _shape(node.attr["shape"].shape) if node is not None else None
            dtype = _dtype_name(node.attr["dtype"].type) if node is not None else "?"
            row = {"name": vd.variable_name.split(":")[0], "shape": shape, "dtype": dtype,
                   "trainable": bool(vd.trainable or vd.variable_name in trainable),
                   "resource": bool(vd.is_resource), "local": key == "local_variables",
                   "device": node.device if node is not None else "",
                   "op": node.op if node is not None else "?"}
            if vd.HasField("save_slice_info_def"):
                info = vd.save_slice_info_def
                row["partition_of"] = info.full_name
                row["full_shape"] = list(info.full_shape)
            out.append(row)
    return out


def _signatures(mgd) -> list:
    def info(t):
        return {"name": t.name, "dtype": _dtype_name(t.dtype), "shape": _shape(t.tensor_shape)}

    return [{"key": k, "method_name": s.method_name,
             "inputs": {n: info(t) for n, t in sorted(s.inputs.items())},
             "outputs": {n: info(t) for n, t in sorted(s.outputs.items())}}
            for k, s in sorted(mgd.signature_def.items())]


def _kernels(op_counts, examples) -> tuple:
    from gmeta.framework import op_def_registry
    from gmeta.kernels import has_kernel

    none, cpu_only = [], []
    for op_type, n in op_counts.items():
        cpu, gpu = has_kernel(op_type, "CPU"), has_kernel(op_type, "GPU")
        row = {"op": op_type, "count": n, "example": examples[op_type],
               "registered": op_def_registry.get(op_type) is not None}
        if not cpu and not gpu:
            none.append(row)
        elif not gpu:
            cpu_only.append(row)
    return none, cpu_only


def inspect_data(path: str) -> dict:
    """Everything ``gmeta inspect`` reports about ``path``."""
    from google.protobuf import json_format

    mgd, fmt, size = cli.read_meta(path)
    nodes = mgd.graph_def.node
    counts = collections.Counter(n.op for n in nodes)
    op_counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    examples = {}
    for n in nodes:
        examples.setdefault(n.op, n.name)
    devices = collections.Counter(n.device for n in nodes)
    info = mgd.meta_info_def
    none, cpu_only = _kernels(op_counts, examples)
    data = {
        "file": path, "format": fmt, "bytes": size,
        "meta_info": {"meta_graph_version": info.meta_graph_version,
                      "tensorflow_version": info.tensorflow_version,
                      "tensorflow_git_version": info.tensorflow_git_version,
                      "tags": list(info.tags), "stripped_default_attrs":
                      info.stripped_default_attrs, "stripped_ops": len(info.stripped_op_list.op),
                      "any_info": info.any_info.type_url or None},
        "graph": {"nodes": len(nodes), "op_types": len(counts),
                  "producer": mgd.graph_def.versions.producer,
                  "functions": len(mgd.graph_def.library.function)},
        "op_counts": op_counts,
        "devices": dict(sorted(devices.items(), key=lambda kv: (-kv[1], kv[0]))),
        "collections": [], "signatures": _signatures(mgd),
        "saver_def": (json_format.MessageToDict(mgd.saver_def, preserving_proto_field_name=True)
                      if mgd.HasField("saver_def") else None),
        "variables": _variables(mgd),
        "no_kernel": none, "no_gpu_kernel": cpu_only, "import_error": None,
    }
    imported = {}
    try:
        g, _, _ = cli.import_graph(path, mgd=mgd, with_saver=False)
        for key in g.get_all_collection_keys():
            imported[key] = collections.Counter(type(x).__name__ for x in g.get_collection(key))
        unconverted = getattr(g, "_unconverted_collections", {})
    except CliError as e:
        data["import_error"] = str(e).split(": ", 1)[-1]
        unconverted = {}
    for key in sorted(mgd.collection_def):
        col = mgd.collection_def[key]
        kind = col.WhichOneof("kind")
        size = len(getattr(col, kind).value) if kind else 0
        got = imported.get(key)
        data["collections"].append({
            "key": key, "kind": kind, "size": size,
            "imported": dict(got) if got else {},
            "note": ("kept unconverted" if key in unconverted else
                     "" if got or data["import_error"] else "not restored")})
    return data


def _inspect_text(d) -> None:
    m, g = d["meta_info"], d["graph"]
    by = f"TensorFlow {m['tensorflow_version']}" if m["tensorflow_version"] else "unknown"
    print(f"{d['file']}: {d['format']} MetaGraphDef, {d['bytes']} bytes, written by {by}"
          + (f" ({m['tensorflow_git_version']})" if m["tensorflow_git_version"] else "")
          + (f", tags {', '.join(m['tags'])}" if m["tags"] else ""))
    print(f"graph: {g['nodes']} nodes, {g['op_types']} op types, GraphDef producer "
          f"{g['producer']}, {g['functions']} functions, {m['stripped_ops']} OpDefs in the "
          f"stripped op list" + (", default attrs stripped" if m["stripped_default_attrs"]
                                 else ""))
    if d["import_error"]:
        print(f"import: fails here: {d['import_error']}")
    print()
    table([[t, n] for t, n in d["op_counts"].items()], ["op type", "nodes"])
    print()
    table([[dev or "(none)", n] for dev, n in d["devices"].items()],
          ["requested device", "nodes"])
    print()
    table([[c["key"], c["kind"], c["size"],
            ", ".join(f"{n} {t}" for t, n in c["imported"].items()) or c["note"] or "-"]
           for c in d["collections"]], ["collection", "kind", "size", "imported as"])
    print()
    if d["signatures"]:
        for s in d["signatures"]:
            ins = ", ".join(f"{k}={v['name']}" for k, v in s["inputs"].items())
            outs = ", ".join(f"{k}={v['name']}" for k, v in s["outputs"].items())
            print(f"signature {s['key']} ({s['method_name']}): inputs {ins}; outputs {outs}")
    else:
        print("signatures: none")
    sd = d["saver_def"]
    if sd:
        print(f"saver: restore {sd.get('restore_op_name')}, save {sd.get('save_tensor_name')}, "
              f"filename {sd.get('filename_tensor_name')}, max_to_keep "
              f"{sd.get('max_to_keep', 0)}, sharded {'yes' if sd.get('sharded') else 'no'}, "
              f"version {sd.get('version', 'V1')}")
    else:
        print("saver: none (import_meta_graph builds a new Saver when there are variables)")
    print()
    if d["variables"]:
        table([[v["name"], "?" if v["shape"] is None else "[" + ", ".join(
            "?" if s is None else str(s) for s in v["shape"]) + "]", v["dtype"],
            "yes" if v["trainable"] else "no", v["op"], v["device"] or "-"]
            for v in d["variables"]],
            ["variable", "shape", "dtype", "trainable", "op", "device"])
    else:
        print("variables: none")
    print()
    if d["no_kernel"]:
        print("ops this machine cannot run (no kernel in gmeta):")
        table([[r["op"], r["count"], r["example"], "" if r["registered"] else
                "not a TensorFlow op gmeta knows"] for r in d["no_kernel"]],
              ["op type", "nodes", "e.g.", "note"], indent="  ")
    else:
        print(f"every op type has a kernel here ({d['graph']['op_types']} types)")
    if d["no_gpu_kernel"]:
        print("CPU only (no GPU kernel): " + ", ".join(
            f"{r['op']} ({r['count']})" for r in d["no_gpu_kernel"]))


def cmd_inspect(args) -> int:
    data = inspect_data(args.file)
    if args.json:
        print_json(data)
    else:
        _inspect_text(data)
    return 0


# -- place -----------------------------------------------------------------------------------------
def _default_fetches(graph, mgd) -> list:
    """collection:train_op, else every node nothing consumes, outside the saver's subgraph."""
    train = graph.get_collection("train_op")
    if train:
        return list(train)
    saver_scope = None
    if mgd.HasField("saver_def") and mgd.saver_def.save_tensor_name:
        saver_scope = mgd.saver_def.save_tensor_name.split("/")[0] + "/"
    used = set()
    for op in graph.get_operations():
        used.update(t.op for t in op.inputs)
        used.update(op.control_inputs)
    return [op for op in graph.get_operations() if op not in used and
            not (saver_scope and op.name.startswith(saver_scope))]


def transfers(sess, graph, fetches) -> dict:
    """``sess.transfers`` of a plan for ``fetches`` (every Placeholder fed: values do not matter
    to a plan), or ``{"error": ...}`` when no plan can be made."""
    feeds = {op.outputs[0]: None for op in graph.get_operations() if op.type == "Placeholder"}
    try:
        out = sess.transfers(fetches, feeds)
    except Exception as e:
        return {"error": one_line(e, 300)}
    out["edges"] = [dict(e, **{"from": short_device(e["from"]), "to": short_device(e["to"])})
                    for e in out["edges"]]
    return out


def placement_data(path: str, args) -> dict:
    g, _, mgd = cli.import_graph(path, args, with_saver=False)
    sess = cli.make_session(g, args, path)
    rows = sess.placement()
    for r in rows:
        r["assigned"] = short_device(r["assigned"], r["virtual"])
    summary = collections.Counter((r["requested"], r["assigned"], r["reason"]) for r in rows)
    detail = {}
    for r in rows:
        detail.setdefault((r["requested"], r["assigned"], r["reason"]), r["detail"])
    if args.fetch:
        fetches = [el for name in args.fetch for el in cli.graph_elements(g, name, path, "fetch")]
    else:
        fetches = _default_fetches(g, mgd)
    moved = transfers(sess, g, fetches)
    inv = sess.inventory
    return {
        "file": path,
        "devices": [d.label() for d in inv.devices], "gpu_reason": inv.gpu_reason,
        "options": {"clear_devices": bool(args.clear_devices), "device_map": args.device_map,
                    "virtual_gpus": args.virtual_gpus, "gpus": args.gpus,
                    "strict": bool(args.strict)},
        "rows": rows,
        "summary": [{"requested": k[0], "assigned": k[1], "reason": k[2], "count": n,
                     "detail": detail[k]} for k, n in summary.most_common()],
        "fetches": [f.name for f in fetches],
        "transfers": moved,
    }


def print_placement_summary(summary, indent="") -> None:
    table([[s["count"], s["requested"] or "(none)", s["assigned"], s["reason"], s["detail"]]
           for s in summary], ["nodes", "requested", "assigned", "reason", "detail"], indent)


def cmd_place(args) -> int:
    data = placement_data(args.file, args)
    if args.json:
        print_json(data)
        return 0
    print(f"{data['file']}: {len(data['rows'])} nodes on this machine's devices: "
          f"{', '.join(data['devices'])}"
          + (f" (no real GPU: {data['gpu_reason']})" if data["gpu_reason"] else ""))
    if not args.summary:
        print()
        table([[r["node"], r["op"], r["requested"] or "(none)", r["assigned"], r["reason"]
                + (f" (with {r['group']})" if r["group"] else "")] for r in data["rows"]],
              ["node", "op", "requested", "assigned", "why"])
    print()
    print("summary (requested -> assigned, reason):")
    print_placement_summary(data["summary"], "  ")
    print()
    t = data["transfers"]
    fetched = ", ".join(data["fetches"][:4]) + (" ..." if len(data["fetches"]) > 4 else "")
    if "error" in t:
        print(f"cross-device edges of a step of {fetched}: not planned: {t['error']}")
    elif not t["edges"]:
        print(f"cross-device edges of a step of {fetched}: none")
    else:
        print(f"cross-device edges of a step of {fetched}: {len(t['edges'])} copies")
        shown = t["edges"] if len(t["edges"]) <= 40 else t["edges"][:40]
        table([[e["tensor"], e["consumer"], e["from"], e["to"]] for e in shown],
              ["tensor", "consumer", "from", "to"], "  ")
        if len(shown) < len(t["edges"]):
            print(f"  ... and {len(t['edges']) - len(shown)} more (--json lists them all)")
    return 0


# -- graph -----------------------------------------------------------------------------------------
_FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}


def cmd_graph(args) -> int:
    from gmeta import _graph_picture as picture

    outs = []
    for out in args.out:
        fmt = _FORMATS.get(os.path.splitext(out)[1].lower())
        if fmt is None:
            raise CliError(f"--out {out}: expected a .svg, .png or .dot file", 2)
        outs.append((out, fmt))
    if args.max_nodes < 1:
        raise CliError(f"--max-nodes {args.max_nodes}: expected a number >= 1", 2)
    g, _, _ = cli.import_graph(args.file, args, with_saver=False)
    sess = cli.make_session(g, args, args.file)
    rows = sess.placement()
    assigned = {r["node"]: short_device(r["assigned"], r["virtual"]) for r in rows}
    requested = {r["node"]: r["requested"] for r in rows}
    pic = picture.build(g.get_operations(), assigned, requested, max_boxes=args.max_nodes,
                        level=args.level, title=os.path.join(
                            os.path.basename(os.path.dirname(os.path.abspath(args.file))),
                            os.path.basename(args.file)))
    written = []
    for out, fmt in outs:
        try:
            data = {"dot": lambda: picture.to_dot(pic).encode(),
                    "svg": lambda: picture.to_svg(pic).encode(),
                    "png": lambda: picture.to_png(pic)}[fmt]()
        except ValueError as e:
            raise CliError(f"{out}: {e}") from e
        d = os.path.dirname(os.path.abspath(out))
        os.makedirs(d, exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        written.append({"file": out, "format": fmt, "bytes": len(data)})
    event_file = None
    if args.logdir:
        import gmeta as tf

        with tf.summary.FileWriter(args.logdir, g) as writer:
            writer.flush()
            event_file = writer.event_writer.path
    cross = sum(1 for lk in pic.links if lk.cross)
    data = {"file": args.file, "level": pic.level, "nodes": pic.nodes, "boxes": len(pic.boxes),
            "edges": len(pic.links), "cross_device_edges": cross, "devices": pic.colours,
            "written": written, "logdir": args.logdir, "event_file": event_file}
    if args.json:
        print_json(data)
        return 0
    level = {"node": "one box per node", "scope": "one box per top-level name scope",
             "scope-family": "one box per family of top-level scopes"}[pic.level]
    print(f"{args.file}: {pic.nodes} nodes drawn as {len(pic.boxes)} boxes ({level}), "
          f"{len(pic.links)} edges, {cross} crossing devices (red, dashed)")
    print("colours: " + ", ".join(f"{d} {c}" for d, c in pic.colours.items()))
    for w in written:
        print(f"wrote {w['file']} ({w['format']}, {w['bytes']} bytes)")
    if args.logdir:
        print(f"wrote the graph for TensorBoard into {event_file or args.logdir}")
    return 0
