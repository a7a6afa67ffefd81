"""``gmeta run``, ``gmeta train`` and ``gmeta convert``: run fetches of a MetaGraph from its
checkpoint, continue its training with checkpoints on the way, and rewrite the .meta."""

from __future__ import annotations

import os
import re
import sys
import time

import numpy as np

from gmeta import cli
from gmeta.cli import CliError, one_line, print_json, table


def add_parsers(sub, common) -> None:
    p = sub.add_parser("run", help="run fetches of a MetaGraph restored from a checkpoint")
    p.add_argument("file", help="a MetaGraphDef file (.meta)")
    _checkpoint_and_feeds(p)
    p.add_argument("--fetch", action="append", required=True, metavar="NAME",
                   help="a tensor (op:0), an op (its first output) or collection:KEY; repeat")
    p.add_argument("--out", metavar="FILE", help="save the values: .npz (all), .npy (one)")
    p.add_argument("--full", action="store_true", help="print (or put in JSON) every value")
    p.add_argument("--trace", metavar="FILE",
                   help="time every kernel of one more run (RunOptions FULL_TRACE): a Chrome "
                        "trace (.json) or TF's RunMetadata (.pb), and the op types that took "
                        "the most time")
    common(p, devices=True, imports=True)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="continue training from a checkpoint, saving as it goes")
    p.add_argument("file", help="a MetaGraphDef file (.meta)")
    _checkpoint_and_feeds(p)
    p.add_argument("--train-op", default="collection:train_op", metavar="NAME",
                   help="the op to run each step, or collection:KEY (default collection:train_op)")
    p.add_argument("--loss", metavar="NAME",
                   help="the loss tensor to report (default: loss:0, else a one-item 'loss' or "
                        "'losses' collection)")
    p.add_argument("--steps", type=int, required=True, metavar="N", help="steps to run")
    p.add_argument("--save", required=True, metavar="DIR", help="directory for checkpoints")
    p.add_argument("--every", type=int, metavar="K", help="save every K steps (and at the end)")
    p.add_argument("--name", metavar="NAME",
                   help="checkpoint base name (default: the .meta's, without -N): NAME-<step>")
    common(p, devices=True, imports=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("convert", help="rewrite a .meta: text/binary, devices, scopes")
    p.add_argument("input", metavar="IN", help="a MetaGraphDef file (binary or text)")
    p.add_argument("output", metavar="OUT",
                   help="where to write (text when it ends in .pbtxt or .txt, unless --binary)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--text", action="store_true", help="write text format")
    fmt.add_argument("--binary", action="store_true", help="write binary format")
    p.add_argument("--import-scope", metavar="S", help="prefix every name with S/")
    p.add_argument("--export-scope", metavar="S",
                   help="keep only scope S (names lose the S/ prefix; inputs from outside "
                        "become unbound_inputs)")
    p.add_argument("--strip-default-attrs", action="store_true",
                   help="leave out attrs that equal their OpDef default")
    common(p, imports=True)
    p.set_defaults(func=cmd_convert)


def _checkpoint_and_feeds(p) -> None:
    p.add_argument("--checkpoint", metavar="PREFIX",
                   help="checkpoint prefix or directory (default: the one saved with the .meta; "
                        "none: variables start from their initializers)")
    p.add_argument("--feed", action="append", metavar="NAME=VALUE",
                   help="NAME=FILE.npy, NAME=FILE.npz[:KEY] or NAME=JSON; repeat")


# -- run -------------------------------------------------------------------------------------------
def _first(value, n=6) -> list:
    flat = np.asarray(value).reshape(-1)[:n]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat.tolist()]


def _describe(name, value, full) -> dict:
    if value is None:
        return {"name": name, "kind": "operation"}
    arr = np.asarray(value)
    out = {"name": name, "kind": "tensor", "shape": list(arr.shape), "dtype": str(arr.dtype),
           "first": _first(arr)}
    if full:
        out["values"] = arr.tolist() if arr.dtype.kind not in "SO" else \
            [str(v) for v in arr.reshape(-1)]
    return out


def _save(path, names, values) -> None:
    tensors = {n: np.asarray(v) for n, v in zip(names, values) if v is not None}
    if path.endswith(".npy"):
        if len(tensors) != 1:
            raise CliError(f"--out {path}: a .npy file holds one array, and there are "
                           f"{len(tensors)} fetched values; use a .npz file", 2)
        np.save(path, next(iter(tensors.values())))
    elif path.endswith(".npz"):
        np.savez(path, **tensors)
    else:
        raise CliError(f"--out {path}: expected a .npy or .npz file", 2)


def _trace(sess, fetches, feeds, out: str) -> list:
    """One traced run of ``fetches`` written to ``out`` (a Chrome trace, or the RunMetadata);
    rows (op type, device, calls, total µs) of its kernels, the costliest first."""
    import gmeta as gm

    md = gm.RunMetadata()
    sess.run(fetches, feeds, run_metadata=md,
             options=gm.RunOptions(trace_level=gm.RunOptions.FULL_TRACE,
                                   output_partition_graphs=True))
    try:
        with open(out, "wb") as f:
            f.write(md.SerializeToString() if out.endswith(".pb") else
                    gm.timeline.Timeline(md.step_stats).generate_chrome_trace_format().encode())
    except OSError as e:
        raise CliError(f"--trace {out}: cannot write: {e.strerror or e}", 2) from e
    totals: dict = {}
    for ds in md.step_stats.dev_stats:
        for ns in ds.node_stats:
            key = (gm.timeline.op_and_inputs(ns)[0], ds.device.rsplit("/", 1)[-1])
            calls, ns_total = totals.get(key, (0, 0))
            totals[key] = (calls + 1, ns_total + ns.op_end_rel_nanos)
    return sorted(([op, dev, calls, t / 1e3] for (op, dev), (calls, t) in totals.items()),
                  key=lambda r: -r[3])


def cmd_run(args) -> int:
    path = args.file
    if args.out and not args.out.endswith((".npy", ".npz")):
        raise CliError(f"--out {args.out}: expected a .npy or .npz file", 2)
    if args.trace and not args.trace.endswith((".json", ".pb")):
        raise CliError(f"--trace {args.trace}: expected a .json (Chrome trace) or .pb "
                       "(RunMetadata) file", 2)
    g, saver, _ = cli.import_graph(path, args)
    feeds = cli.parse_feeds(g, args.feed, path)
    fetches = [el for name in args.fetch for el in cli.graph_elements(g, name, path, "fetch")]
    names = [el.name for el in fetches]
    sess = cli.make_session(g, args, path)
    prefix = cli.restore_or_init(sess, g, saver, args.checkpoint, path, quiet=args.json)
    try:
        values = sess.run(fetches, feeds)
    except Exception as e:
        hint = " (feed it: --feed NAME=FILE.npy)" if "must feed" in str(e) else ""
        raise CliError(f"{path}: running {', '.join(names)}: {one_line(e)}{hint}") from e
    if args.out:
        _save(args.out, names, values)
    ops = _trace(sess, fetches, feeds, args.trace) if args.trace else None
    data = {"file": path, "checkpoint": prefix,
            "fetches": [_describe(n, v, args.full) for n, v in zip(names, values)],
            "out": args.out}
    if ops is not None:
        data["trace"] = {"file": args.trace, "ops": [
            {"op": op, "device": dev, "calls": calls, "total_us": round(us, 1)}
            for op, dev, calls, us in ops]}
    if args.json:
        print_json(data)
        return 0
    print(f"{path}: ran {len(names)} fetch(es) "
          + (f"from checkpoint {prefix}" if prefix else "(variables from their initializers)"))
    rows = []
    for f in data["fetches"]:
        if f["kind"] == "operation":
            rows.append([f["name"], "-", "-", "(operation: ran)"])
            continue
        first = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in f["first"])
        more = int(np.prod(f["shape"])) > len(f["first"])
        rows.append([f["name"], "[" + ", ".join(map(str, f["shape"])) + "]", f["dtype"],
                     first + (", ..." if more else "")])
    table(rows, ["fetch", "shape", "dtype", "first values"])
    if args.full:
        with np.printoptions(threshold=sys.maxsize, linewidth=120):
            for n, v in zip(names, values):
                if v is not None:
                    print(f"\n{n} =\n{np.asarray(v)}")
    if args.out:
        print(f"saved {args.out}")
    if ops is not None:
        total = sum(r[3] for r in ops) or 1.0
        print(f"\ntraced run: {sum(r[2] for r in ops)} kernel calls, {total:.0f} µs in kernels; "
              f"wrote {args.trace}")
        table([[op, dev, str(calls), f"{us:.1f}", f"{100 * us / total:.0f}%"]
               for op, dev, calls, us in ops[:10]],
              ["op", "device", "calls", "µs", "share"])
    return 0


# -- train -----------------------------------------------------------------------------------------
class _Progress:
    """A progress line on stderr: tqdm when it is installed, else a carriage-return line on a
    terminal (a line every tenth of the run elsewhere)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = 1 if self.tty else max(1, total // 10)
        try:
            import tqdm

            self.bar = tqdm.tqdm(total=total, unit="step", file=self.stream)
        except ImportError:
            self.bar = None

    def update(self, step: int, loss) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.5g}")
            return
        rate = step / max(time.perf_counter() - self.start, 1e-9)
        line = f"step {step}/{self.total}" + (f"  loss {loss:.5g}" if loss is not None else "") \
            + f"  {rate:.1f} steps/s"
        if self.tty:
            self.stream.write("\r" + line.ljust(60))
        elif step % self.every == 0 or step == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _default_loss(g):
    for name in ("loss:0", "total_loss:0"):
        try:
            return g.get_tensor_by_name(name)
        except (KeyError, ValueError):
            pass
    for key in ("loss", "losses", "total_loss"):
        items = g.get_collection(key)
        if len(items) == 1 and hasattr(items[0], "dtype"):
            return items[0]
    return None


def _base_name(prefix, meta_path) -> str:
    name = os.path.basename(prefix or meta_path)
    if name.endswith(".meta"):
        name = name[:-5]
    return re.sub(r"-\d+$", "", name) or "model"


class _Steps:
    """Checkpoint step numbers: the graph's global step when the train op advances it, else
    the restored checkpoint's -N suffix plus the steps run."""

    def __init__(self, sess, gs, prefix):
        self.sess, self.gs = sess, gs
        m = re.search(r"-(\d+)$", prefix or "")
        self.offset = int(m.group(1)) if m else 0
        self.start = int(sess.run(gs)) if gs is not None else None
        self.last = self.start
        self.stuck = False

    def number(self, k: int) -> int:
        if self.gs is not None and not self.stuck:
            value = int(self.sess.run(self.gs))
            if value != self.last:
                self.last = value
                return value
            self.stuck = True
            print(f"gmeta: the train op does not advance {self.gs.name}; checkpoints are "
                  "numbered by steps run", file=sys.stderr)
            self.offset = self.start or 0
        return self.offset + k


def cmd_train(args) -> int:
    path = args.file
    if args.steps < 1:
        raise CliError(f"--steps {args.steps}: expected a number >= 1", 2)
    every = args.every or args.steps
    if every < 1:
        raise CliError(f"--every {args.every}: expected a number >= 1", 2)
    import gmeta as tf

    g, saver, _ = cli.import_graph(path, args)
    feeds = cli.parse_feeds(g, args.feed, path)
    train = cli.graph_elements(g, args.train_op, path, "train op")
    loss = cli.graph_elements(g, args.loss, path, "loss")[0] if args.loss else _default_loss(g)
    if saver is None:
        raise CliError(f"{path}: the graph has no variables: nothing to train or save")
    gs = tf.train.get_global_step(g)
    sess = cli.make_session(g, args, path)
    prefix = cli.restore_or_init(sess, g, saver, args.checkpoint, path, quiet=args.json)
    os.makedirs(args.save, exist_ok=True)
    base = os.path.join(args.save, args.name or _base_name(prefix, path))
    steps = _Steps(sess, gs, prefix)
    fetches = train + ([loss] if loss is not None else [])
    losses, saved = [], []
    progress = _Progress(args.steps)
    start = time.perf_counter()
    try:
        for k in range(1, args.steps + 1):
            try:
                values = sess.run(fetches, feeds)
            except Exception as e:
                raise CliError(f"{path}: step {k} of {', '.join(t.name for t in train)}: "
                               f"{one_line(e)}") from e
            value = float(values[-1]) if loss is not None else None
            losses.append(value)
            progress.update(k, value)
            if k % every == 0 or k == args.steps:
                saved.append(saver.save(sess, base, global_step=steps.number(k)))
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    after = float(sess.run(loss, feeds)) if loss is not None else None
    data = {"file": path, "checkpoint": prefix, "train_op": [t.name for t in train],
            "loss": loss.name if loss is not None else None, "steps": args.steps,
            "seconds": elapsed, "steps_per_second": args.steps / max(elapsed, 1e-9),
            "global_step": ({"start": steps.start, "end": int(sess.run(gs))}
                            if gs is not None else None),
            "losses": losses, "loss_after": after, "saved": saved,
            "latest": tf.train.latest_checkpoint(args.save)}
    if args.json:
        print_json(data)
        return 0
    src = f"from {prefix}" if prefix else "from initial values"
    print(f"{path}: {args.steps} steps of {', '.join(data['train_op'])} {src} in "
          f"{elapsed:.2f} s ({data['steps_per_second']:.1f} steps/s)")
    if data["global_step"]:
        print(f"global step {data['global_step']['start']} -> {data['global_step']['end']}")
    if loss is not None:
        shown = list(enumerate(losses, 1))
        if len(shown) > 8:
            shown = shown[:4] + shown[-4:]
        print(f"{loss.name}: " + "  ".join(f"step {k}: {v:.5g}" for k, v in shown)
              + f"  | after: {after:.5g}")
    print(f"saved {len(saved)} checkpoint(s) in {args.save}: "
          + ", ".join(os.path.basename(s) for s in saved) + " (each with a .meta)")
    return 0


# -- convert ---------------------------------------------------------------------------------------
def _rewrite(mgd, args):
    """The MetaGraphDef after an import with the graph options and an export."""
    import gmeta as tf
    from gmeta.framework import meta_graph
    from gmeta.proto import MetaGraphDef, SaverDef

    g = tf.Graph()
    try:
        with g.as_default():
            meta_graph.import_scoped_meta_graph_with_return_elements(
                mgd, clear_devices=args.clear_devices, graph=g, import_scope=args.import_scope,
                device_map=cli.device_map_rules(args.device_map))
    except CliError:
        raise
    except Exception as e:
        raise CliError(f"{args.input}: cannot import the MetaGraph: {one_line(e)}") from e
    renames = getattr(g, "_last_import_renames", {})
    scope = g._last_import_prefix.rstrip("/")

    def rename(name):
        return meta_graph._rename(name, renames, scope)

    saver_def = None
    if mgd.HasField("saver_def"):
        saver_def = SaverDef()
        saver_def.CopyFrom(mgd.saver_def)
        for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            setattr(saver_def, field, rename(getattr(saver_def, field)))
    info = MetaGraphDef.MetaInfoDef()
    info.CopyFrom(mgd.meta_info_def)
    info.ClearField("stripped_op_list")
    info.stripped_default_attrs = False
    out, _ = meta_graph.export_scoped_meta_graph(
        graph=g, export_scope=args.export_scope, saver_def=saver_def,
        strip_default_attrs=args.strip_default_attrs, meta_info_def=info)
    if not out.graph_def.node:
        raise CliError(f"--export-scope {args.export_scope}: no node of {args.input} is in "
                       "that scope", 2)
    for key, sig in mgd.signature_def.items():
        names = [t.name for t in list(sig.inputs.values()) + list(sig.outputs.values())]
        if args.export_scope and not all(meta_graph._in_scope(rename(n), args.export_scope)
                                         for n in names):
            continue
        new = out.signature_def[key]
        new.CopyFrom(sig)
        for t in list(new.inputs.values()) + list(new.outputs.values()):
            t.name = meta_graph.strip_name_scope(rename(t.name), args.export_scope)
    return out


def cmd_convert(args) -> int:
    from gmeta.framework import meta_graph

    mgd, fmt_in, size_in = cli.read_meta(args.input)
    as_text = args.text or (not args.binary and args.output.endswith((".pbtxt", ".txt")))
    changed = bool(args.clear_devices or args.device_map or args.import_scope or
                   args.export_scope or args.strip_default_attrs)
    out = _rewrite(mgd, args) if changed else mgd
    try:
        meta_graph.write_meta_graph(out, args.output, as_text=as_text)
    except OSError as e:
        raise CliError(f"{args.output}: cannot write: {e.strerror or e}") from e
    size = os.path.getsize(args.output)
    data = {"input": args.input, "input_format": fmt_in, "output": args.output,
            "format": "text" if as_text else "binary", "nodes": len(out.graph_def.node),
            "bytes": size, "rewritten": changed}
    if args.json:
        print_json(data)
    else:
        print(f"wrote {args.output}: {data['format']} MetaGraphDef, {data['nodes']} nodes, "
              f"{size} bytes (from {fmt_in} {args.input}, {size_in} bytes"
              + (", imported and exported again)" if changed else ")"))
    return 0
