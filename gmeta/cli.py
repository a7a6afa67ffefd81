"""The ``gmeta`` command (``python -m gmeta``): look into, place, run, train, convert and draw
TensorFlow 1.x MetaGraphs and V2 checkpoints without TensorFlow.

Commands: ``devices``, ``inspect``, ``place``, ``run``, ``train``, ``convert``, ``ckpt``
(``ls``, ``diff``, ``verify``, ``latest``), ``graph`` and ``demo`` (the default). Every command
prints tables for people, or JSON with ``--json``; exit codes are 0 (ok), 1 (error: one line on
stderr naming the file and what is wrong) and 2 (usage); ``--debug`` adds the traceback.

The commands live in ``_cli_graph.py`` (inspect, place, graph), ``_cli_run.py`` (run, train,
convert) and ``_cli_ckpt.py`` (ckpt); this module holds the parser, the error handling and the
helpers they share.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys

import numpy as np

from gmeta import errors

LOCAL_PREFIX = "/job:localhost/replica:0/task:0"


class CliError(Exception):
    """An error the command reports as one line (``code`` 1: error, 2: usage)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sub = self.prog[len("gmeta"):].strip() if self.prog.startswith("gmeta") else self.prog
        raise CliError((f"{sub}: " if sub else "") + f"{message} (see '{self.prog} --help')", 2)


# -- output --------------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=_jsonable))


def table(rows, headers, indent: str = "") -> None:
    """Prints ``rows`` (lists of cells) under ``headers`` as plain aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        print(indent + line)
        if n == 0:
            print(indent + "  ".join("-" * w for w in widths))


def one_line(message, limit: int = 600) -> str:
    """A multi-line error message as one line ("first | second | ..."), cut at ``limit``."""
    text = " | ".join(s.strip() for s in str(message).splitlines() if s.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_device(name: str, virtual: bool = False) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:1`` -> ``/device:GPU:1`` (+ " (virtual)")."""
    if name.startswith(LOCAL_PREFIX):
        name = name[len(LOCAL_PREFIX):]
    return name + (" (virtual)" if virtual else "")


def human_bytes(n) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- loading -------------------------------------------------------------------------------------
def read_meta(path: str):
    """``(MetaGraphDef, "binary" | "text", size in bytes)`` of a .meta file, or a CliError that
    says what is wrong with it."""
    from google.protobuf import message as pb_message

    from gmeta.proto import MetaGraphDef, parse_text

    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a directory, not a .meta file")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CliError(f"{path}: empty file, not a MetaGraphDef")
    mgd = MetaGraphDef()
    try:
        mgd.ParseFromString(data)
        if mgd.ListFields():
            return mgd, "binary", len(data)
        binary_error = "no MetaGraphDef fields"
    except pb_message.DecodeError as e:
        binary_error = str(e) or type(e).__name__
    try:
        mgd = MetaGraphDef()
        parse_text(data.decode("utf-8"), mgd)
        return mgd, "text", len(data)
    except Exception as e:  # text_format.ParseError, UnicodeDecodeError
        text_error = one_line(e, 160)
    raise CliError(f"{path}: not a MetaGraphDef (binary or text): {len(data)} bytes; as binary: "
                   f"{binary_error}; as text: {text_error}. The file may be truncated or corrupt")


def device_map_rules(rules) -> dict | None:
    """``--device-map FROM=TO ...`` as import_meta_graph's ``device_map`` (``FROM=`` clears)."""
    if not rules:
        return None
    out = {}
    for rule in rules:
        src, sep, dst = rule.partition("=")
        if not sep or not src:
            raise CliError(f"bad --device-map rule {rule!r}: expected FROM=TO, e.g. "
                           "/job:worker=/job:localhost or /device:GPU:1=/device:GPU:0", 2)
        out[src] = dst if dst else (lambda node: "")
    return out


def import_graph(path: str, args=None, mgd=None, with_saver=True):
    """``(graph, saver, mgd)``: ``path`` imported into a fresh Graph with the command's
    ``--clear-devices`` / ``--device-map`` options. ``with_saver=False`` imports the file's
    nodes only (``import_meta_graph`` adds a Saver to a file with variables but no SaverDef) and
    returns no Saver."""
    import gmeta as tf
    from gmeta.framework import meta_graph

    if mgd is None:
        mgd, _, _ = read_meta(path)
    clear = bool(getattr(args, "clear_devices", False))
    device_map = device_map_rules(getattr(args, "device_map", None))
    g = tf.Graph()
    saver = None
    try:
        with g.as_default():
            if with_saver:
                saver = tf.train.import_meta_graph(mgd, clear_devices=clear,
                                                   device_map=device_map)
            else:
                meta_graph.import_scoped_meta_graph_with_return_elements(
                    mgd, clear_devices=clear, graph=g, device_map=device_map)
    except CliError:
        raise
    except Exception as e:
        raise CliError(f"{path}: cannot import the MetaGraph: {one_line(e)}") from e
    return g, saver, mgd


def configure_devices(args) -> None:
    """Applies ``--virtual-gpus N`` and ``--strict`` (process-wide settings)."""
    from gmeta.devices import discovery

    n = getattr(args, "virtual_gpus", None)
    if n is not None:
        if n < 0:
            raise CliError(f"--virtual-gpus {n}: expected a number >= 0", 2)
        discovery.set_virtual_gpus(n)
    if getattr(args, "strict", False):
        discovery.set_soft_device_placement(False)


def session_config(args):
    """The ConfigProto of ``--gpus N`` (None when not given)."""
    import gmeta as tf

    n = getattr(args, "gpus", None)
    if n is None:
        return None
    if n < 0:
        raise CliError(f"--gpus {n}: expected a number >= 0", 2)
    return tf.ConfigProto(device_count={"GPU": n})


def make_session(graph, args, path: str):
    """A Session on ``graph`` with the command's device options; with ``--strict``, an unmet
    request is a CliError listing the nodes."""
    import gmeta as tf

    configure_devices(args)
    try:
        return tf.Session(graph=graph, config=session_config(args))
    except errors.InvalidArgumentError as e:
        first, *rest = str(e).splitlines() or [""]
        if not rest:
            raise CliError(f"{path}: {one_line(e)}") from e
        if getattr(args, "json", False):
            print_json({"file": path, "error": first, "nodes": [r.strip() for r in rest]})
        else:
            print("cannot place:\n" + "\n".join(rest))
        raise CliError(f"{path}: {first} (the nodes are listed on stdout)") from e


def resolve_checkpoint(path: str) -> str:
    """A checkpoint prefix from a prefix, a directory (its latest), or a .index/.data file."""
    from gmeta.checkpoint import checkpoint_exists
    from gmeta.train import get_checkpoint_state, latest_checkpoint

    p = os.fspath(path)
    if os.path.isdir(p):
        latest = latest_checkpoint(p)
        if latest is None:
            state = None
            try:
                state = get_checkpoint_state(p)
            except Exception:
                pass
            if state is None:
                found = sorted(f[:-6] for f in os.listdir(p) if f.endswith(".index"))
                if len(found) == 1:  # no state file, one checkpoint: that one
                    return os.path.join(p, found[0])
                raise CliError(f"{p}: no checkpoint state file ({os.path.join(p, 'checkpoint')})"
                               + (f" and {len(found)} checkpoints ({', '.join(found[:5])}): "
                                  "name one" if found else ""))
            raise CliError(f"{p}: the state file names {state.model_checkpoint_path!r}, which "
                           "does not exist")
        if os.path.dirname(latest) == os.path.abspath(p):  # keep the user's spelling of DIR
            return os.path.join(p, os.path.basename(latest))
        return latest
    for suffix in (".index", ".meta"):
        if p.endswith(suffix) and checkpoint_exists(p[:-len(suffix)]):
            return p[:-len(suffix)]
    if ".data-" in os.path.basename(p):
        base = p[:p.rindex(".data-")]
        if checkpoint_exists(base):
            return base
    if not checkpoint_exists(p):
        raise CliError(f"{p}: no checkpoint here (no {p}.index)")
    return p


def checkpoint_beside(meta_path: str):
    """The checkpoint saved with a .meta (``model-3.meta`` -> ``model-3``), else the latest in
    its directory, else None."""
    from gmeta.checkpoint import checkpoint_exists
    from gmeta.train import latest_checkpoint

    base = meta_path[:-5] if meta_path.endswith(".meta") else meta_path
    if checkpoint_exists(base):
        return base
    return latest_checkpoint(os.path.dirname(os.path.abspath(meta_path)))


def _close_names(name: str, graph) -> str:
    names = [op.name for op in graph.get_operations()]
    near = difflib.get_close_matches(name.split(":")[0], names, n=3)
    return f" (close: {', '.join(near)})" if near else ""


def graph_elements(graph, name: str, path: str, what: str) -> list:
    """The elements ``name`` stands for: ``collection:KEY`` (its items), ``op:i`` (a tensor) or
    ``op`` (its first output; the operation itself when it has none)."""
    if name.startswith("collection:"):
        key = name[len("collection:"):]
        items = graph.get_collection(key)
        if not items:
            keys = ", ".join(graph.get_all_collection_keys()) or "none"
            raise CliError(f"{path}: collection {key!r} is empty or missing (collections: "
                           f"{keys})")
        return list(items)
    try:
        if ":" in name:
            return [graph.get_tensor_by_name(name)]
        op = graph.get_operation_by_name(name)
    except (KeyError, ValueError):
        raise CliError(f"{path}: no {what} {name!r} in the graph"
                       f"{_close_names(name, graph)}") from None
    return [op.outputs[0] if op.outputs else op]


def element_name(el) -> str:
    if hasattr(el, "_as_graph_element") and not hasattr(el, "consumers"):
        el = el._as_graph_element()
    return el.name


def _load_value(spec: str, value: str):
    if value.endswith(".npy"):
        if not os.path.exists(value):
            raise CliError(f"{value}: no such file (--feed {spec})")
        try:
            return np.load(value, allow_pickle=False)
        except Exception as e:
            raise CliError(f"{value}: not a .npy array file: {one_line(e)}") from e
    npz, sep, key = value.partition(".npz:")
    if sep or value.endswith(".npz"):
        npz = npz + ".npz" if sep else value
        if not os.path.exists(npz):
            raise CliError(f"{npz}: no such file (--feed {spec})")
        try:
            with np.load(npz, allow_pickle=False) as data:
                keys = list(data.keys())
                if not sep:
                    if len(keys) != 1:
                        raise CliError(f"{npz}: holds {len(keys)} arrays ({', '.join(keys[:8])}"
                                       f"); say which: --feed NAME={npz}:KEY", 2)
                    key = keys[0]
                if key not in keys:
                    raise CliError(f"{npz}: no array {key!r} (arrays: {', '.join(keys[:8])})")
                return data[key]
        except CliError:
            raise
        except Exception as e:
            raise CliError(f"{npz}: not a .npz archive: {one_line(e)}") from e
    try:
        return np.asarray(json.loads(value))
    except ValueError:
        pass
    if os.sep in value or value.endswith((".npy", ".npz")):
        raise CliError(f"{value}: no such file (--feed {spec})")
    raise CliError(f"bad --feed {spec!r}: the value is not a .npy/.npz file or a JSON literal", 2)


def parse_feeds(graph, specs, path: str) -> dict:
    """``--feed NAME=FILE.npy | NAME=FILE.npz[:KEY] | NAME=JSON`` as a feed_dict."""
    feeds = {}
    for spec in specs or ():
        name, sep, value = spec.partition("=")
        if not sep or not name or not value:
            raise CliError(f"bad --feed {spec!r}: expected NAME=FILE.npy, NAME=FILE.npz:KEY or "
                           "NAME=JSON (e.g. --feed x:0=batch.npy --feed keep_prob=0.5)", 2)
        tensor = name if ":" in name else name + ":0"
        try:
            t = graph.get_tensor_by_name(tensor)
        except (KeyError, ValueError):
            raise CliError(f"{path}: no tensor {tensor!r} to feed"
                           f"{_close_names(tensor, graph)}") from None
        feeds[t] = _load_value(spec, value)
    return feeds


def restore_or_init(sess, graph, saver, checkpoint, meta_path: str, quiet=False):
    """Restores ``--checkpoint`` (or the one beside the .meta); with none, runs the variables'
    initializers. Returns the prefix restored, or None."""
    import gmeta as tf

    prefix = resolve_checkpoint(checkpoint) if checkpoint else checkpoint_beside(meta_path)
    if prefix is not None and saver is not None:
        try:
            saver.restore(sess, prefix)
        except Exception as e:
            raise CliError(f"{prefix}: cannot restore into {meta_path}: {one_line(e)}") from e
        return prefix
    with graph.as_default():
        variables = tf.global_variables() + tf.local_variables()
        if variables:
            if not quiet:
                print(f"gmeta: no checkpoint for {meta_path}: variables start from their "
                      "initializers", file=sys.stderr)
            sess.run(tf.variables_initializer(variables))
    return None


# -- devices and demo --------------------------------------------------------------------------
def cmd_devices(args) -> int:
    from gmeta.devices import discovery

    configure_devices(args)
    inv = discovery.inventory(session_config(args))
    rows = []
    for d in inv.devices:
        rows.append({"name": d.short_name, "full_name": d.name, "type": d.device_type,
                     "index": d.index, "virtual": d.virtual, "description": d.description,
                     "memory_total": d.memory_total, "memory_free": d.memory_free,
                     "compute_capability": (".".join(map(str, d.compute_capability))
                                            if d.compute_capability else None),
                     "pci_bus_id": d.pci_bus_id, "uuid": d.uuid})
    data = {"devices": rows, "gpu_reason": inv.gpu_reason,
            "virtual_gpus": discovery.get_virtual_gpus(),
            "soft_placement": discovery.get_soft_device_placement()}
    if args.json:
        print_json(data)
        return 0
    table([[r["name"], r["type"], "yes" if r["virtual"] else "no",
            human_bytes(r["memory_total"]) if r["memory_total"] else "-",
            r["compute_capability"] or "-", r["description"]] for r in rows],
          ["device", "type", "virtual", "memory", "compute", "description"])
    if inv.gpu_reason:
        print(f"no usable GPU: {inv.gpu_reason}")
    if data["virtual_gpus"]:
        print(f"{data['virtual_gpus']} virtual GPU(s): numpy-backed stand-ins for placement, "
              "not real devices")
    print("soft placement: " + ("on" if data["soft_placement"] else "off"))
    return 0


def cmd_demo(args) -> int:
    from gmeta import demo

    return demo.main(as_json=args.json)


# -- the parser ----------------------------------------------------------------------------------
def _common(p, devices=False, imports=False) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    if imports:
        p.add_argument("--clear-devices", action="store_true",
                       help="blank every recorded device at import")
        p.add_argument("--device-map", nargs="+", action="extend", metavar="RULE",
                       help="remap recorded devices at import: FROM=TO (partial device specs "
                            "or globs; FROM= clears)")
    if devices:
        p.add_argument("--virtual-gpus", type=int, metavar="N",
                       help="add N numpy-backed virtual GPUs (placement without a GPU)")
        p.add_argument("--gpus", type=int, metavar="N",
                       help="use at most N GPUs (ConfigProto device_count; 0: CPU only)")
        p.add_argument("--strict", action="store_true",
                       help="soft placement off: an unmet device request is an error")


def build_parser() -> argparse.ArgumentParser:
    from gmeta import _cli_ckpt, _cli_graph, _cli_run

    p = _Parser(prog="gmeta", description="TensorFlow 1.x MetaGraphs and checkpoints without "
                "TensorFlow: inspect, place, run, train, convert and draw them.")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("devices", help="this machine's devices (CPU, GPUs, virtual GPUs)")
    _common(d)
    d.add_argument("--virtual-gpus", type=int, metavar="N", help="add N virtual GPUs")
    d.add_argument("--gpus", type=int, metavar="N", help="use at most N GPUs (0: CPU only)")
    d.set_defaults(func=cmd_devices)
    _cli_graph.add_parsers(sub, _common)
    _cli_run.add_parsers(sub, _common)
    _cli_ckpt.add_parsers(sub, _common)
    demo = sub.add_parser("demo", help="train the seed model on two GPUs, continue on a laptop")
    _common(demo)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    """Runs the ``gmeta`` command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    if not [a for a in argv if not a.startswith("-")] and not {"-h", "--help"} & set(argv):
        argv = ["demo"] + argv  # plain `gmeta` / `python -m gmeta`: the demo, as before
    args = None
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except CliError as e:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"gmeta: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("gmeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gmeta place ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:
        if debug:
            raise
        where = getattr(args, "file", None)
        kind = "" if isinstance(e, (errors.OpError, OSError, ValueError)) else \
            f"internal error ({type(e).__name__}, run with --debug for the traceback): "
        print(f"gmeta: {where + ': ' if where else ''}{kind}{one_line(e)}", file=sys.stderr)
        return 1
