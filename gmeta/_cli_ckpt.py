"""``gmeta ckpt ls | diff | verify | latest``: V2 checkpoints through gmeta's bundle reader."""

from __future__ import annotations

import os

import numpy as np

from gmeta import cli, errors
from gmeta.cli import CliError, human_bytes, one_line, print_json, table


def add_parsers(sub, common) -> None:
    p = sub.add_parser("ckpt", help="list, compare, verify checkpoints; find the latest")
    ck = p.add_subparsers(dest="ckpt_command", metavar="ACTION", required=True)
    q = ck.add_parser("ls", help="tensors: names, shapes, dtypes, bytes")
    q.add_argument("file", metavar="PREFIX", help="checkpoint prefix, directory or .index file")
    common(q)
    q.set_defaults(func=cmd_ls)
    q = ck.add_parser("diff", help="what changed from checkpoint A to checkpoint B")
    q.add_argument("file", metavar="A")
    q.add_argument("other", metavar="B")
    q.add_argument("--all", action="store_true", help="also list unchanged tensors")
    common(q)
    q.set_defaults(func=cmd_diff)
    q = ck.add_parser("verify", help="read every tensor, checking every CRC")
    q.add_argument("file", metavar="PREFIX")
    common(q)
    q.set_defaults(func=cmd_verify)
    q = ck.add_parser("latest", help="the latest checkpoint of a directory (its state file)")
    q.add_argument("file", metavar="DIR")
    common(q)
    q.set_defaults(func=cmd_latest)


def _reader(path: str):
    from gmeta.checkpoint import NewCheckpointReader

    prefix = cli.resolve_checkpoint(path)
    try:
        return prefix, NewCheckpointReader(prefix)
    except errors.OpError as e:
        raise CliError(f"{path}: {one_line(e)}") from e


def _entries(reader) -> list:
    """``{name, dtype, shape, bytes, partitioned}`` per variable of a checkpoint."""
    from gmeta.checkpoint.slices import encode_tensor_name_slice

    bundle = reader.bundle
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    out = []
    for name in sorted(shapes):
        entry = bundle.entry(name)
        size = entry.size
        if entry.slices:
            kb = name.encode("utf-8", "surrogateescape")
            size = sum(bundle.entry(encode_tensor_name_slice(kb, s)).size
                       for s in bundle.slices(name))
        dt = dtypes[name]
        out.append({"name": name, "dtype": getattr(dt, "name", str(dt)),
                    "shape": list(shapes[name]), "bytes": int(size),
                    "partitioned": bool(entry.slices)})
    return out


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def cmd_ls(args) -> int:
    prefix, reader = _reader(args.file)
    with reader:
        rows = _entries(reader)
        shards = reader.bundle.num_shards
    total = sum(r["bytes"] for r in rows)
    data = {"prefix": prefix, "tensors": rows, "total_bytes": total, "shards": shards}
    if args.json:
        print_json(data)
        return 0
    parts = any(r["partitioned"] for r in rows)
    table([[r["name"], r["dtype"], _shape(r["shape"]), r["bytes"]]
           + (["yes" if r["partitioned"] else ""] if parts else []) for r in rows],
          ["tensor", "dtype", "shape", "bytes"] + (["partitioned"] if parts else []))
    print(f"{prefix}: {len(rows)} tensors, {total} bytes ({human_bytes(total)}) in {shards} "
          f"data file(s)")
    return 0


def _compare(a, b) -> dict:
    """How two same-shaped, same-dtype values differ."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "SOUb" or a.dtype.kind not in "fciu":
        changed = int(np.count_nonzero(a != b))
        return {"changed_elements": changed, "max_abs_diff": None}
    if a.dtype.kind in "fc":
        same = (a == b) | (np.isnan(a) & np.isnan(b))
    else:
        same = a == b
    changed = int(np.size(a) - np.count_nonzero(same))
    if not changed:
        return {"changed_elements": 0, "max_abs_diff": 0.0}
    diff = np.abs(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
                  - b.astype(np.complex128 if b.dtype.kind == "c" else np.float64))
    diff = np.where(same, 0.0, diff)
    scale = float(np.max(np.abs(a.astype(np.float64)))) if a.dtype.kind != "c" else None
    return {"changed_elements": changed, "max_abs_diff": float(np.nanmax(diff))
            if not np.isnan(diff).all() else float("nan"),
            "max_abs_a": scale}


def cmd_diff(args) -> int:
    pa, ra = _reader(args.file)
    pb, rb = _reader(args.other)
    with ra, rb:
        ea = {r["name"]: r for r in _entries(ra)}
        eb = {r["name"]: r for r in _entries(rb)}
        changed, reshaped, unchanged = [], [], []
        for name in sorted(set(ea) & set(eb)):
            x, y = ea[name], eb[name]
            if x["shape"] != y["shape"] or x["dtype"] != y["dtype"]:
                reshaped.append({"name": name, "a_shape": x["shape"], "b_shape": y["shape"],
                                 "a_dtype": x["dtype"], "b_dtype": y["dtype"]})
                continue
            try:
                cmp = _compare(ra.get_tensor(name), rb.get_tensor(name))
            except errors.OpError as e:
                raise CliError(f"reading {name!r}: {one_line(e)}") from e
            row = {"name": name, "dtype": x["dtype"], "shape": x["shape"],
                   "size": int(np.prod(x["shape"], dtype=np.int64)), **cmp}
            (changed if cmp["changed_elements"] else unchanged).append(row)
    missing = sorted(set(ea) - set(eb))
    extra = sorted(set(eb) - set(ea))
    data = {"a": pa, "b": pb, "changed": changed, "shape_changes": reshaped,
            "missing": missing, "extra": extra, "unchanged": [r["name"] for r in unchanged],
            "identical": not (changed or reshaped or missing or extra)}
    if args.json:
        print_json(data)
        return 0
    print(f"A = {pa}\nB = {pb}")
    rows = []
    for r in changed:
        how = f"{r['changed_elements']}/{r['size']} elements differ"
        if r["max_abs_diff"] is not None:
            how += f", max |A-B| = {r['max_abs_diff']:.6g}"
            if r.get("max_abs_a"):
                how += f" (max |A| = {r['max_abs_a']:.6g})"
        rows.append([r["name"], "changed", how])
    rows += [[r["name"], "shape/dtype", f"{r['a_dtype']} {_shape(r['a_shape'])} -> "
              f"{r['b_dtype']} {_shape(r['b_shape'])}"] for r in reshaped]
    rows += [[n, "missing", "only in A"] for n in missing]
    rows += [[n, "extra", "only in B"] for n in extra]
    if args.all:
        rows += [[r["name"], "same", ""] for r in unchanged]
    if rows:
        table(rows, ["tensor", "status", "difference"])
    print("identical" if data["identical"] else
          f"{len(changed)} changed, {len(reshaped)} shape/dtype changes, {len(missing)} "
          f"missing from B, {len(extra)} extra in B, {len(unchanged)} unchanged")
    return 0


def cmd_verify(args) -> int:
    from gmeta.checkpoint import BundleReader, data_filename

    prefix = cli.resolve_checkpoint(args.file)
    try:
        bundle = BundleReader(prefix)
    except errors.OpError as e:
        raise CliError(f"{prefix}: the index is corrupt: {one_line(e)}") from e
    bad, checked, total = [], 0, 0
    with bundle:
        for key in bundle.keys():
            entry = None
            try:
                entry = bundle.entry(key)
                if entry.slices:  # a partitioned tensor's full entry: its slices hold the data
                    continue
                bundle.read(key)
            except errors.OpError as e:
                shard = entry.shard_id if entry is not None else 0
                name = key if key.isprintable() else repr(key)
                bad.append({"tensor": name, "file": data_filename(prefix, shard,
                                                                  bundle.num_shards),
                            "error": one_line(e)})
                continue
            checked += 1
            total += entry.size
    data = {"prefix": prefix, "ok": not bad, "tensors": checked + len(bad),
            "verified": checked, "bytes": total, "shards": bundle.num_shards, "corrupt": bad}
    if args.json:
        print_json(data)
    elif not bad:
        print(f"{prefix}: ok: {checked} tensors, {total} bytes in {bundle.num_shards} data "
              "file(s), every CRC matches")
    else:
        table([[b["tensor"], b["file"], b["error"]] for b in bad], ["tensor", "file", "error"])
    if bad:
        first = bad[0]
        raise CliError(f"{prefix}: tensor {first['tensor']!r} in {first['file']} is corrupt"
                       + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                       + f": {first['error']}")
    return 0


def cmd_latest(args) -> int:
    from gmeta.train import get_checkpoint_state

    d = args.file
    if not os.path.isdir(d):
        raise CliError(f"{d}: not a directory" if os.path.exists(d) else f"{d}: no such "
                       "directory")
    try:
        state = get_checkpoint_state(d)
    except (errors.OpError, ValueError) as e:
        raise CliError(f"{d}: {one_line(e)}") from e
    latest = cli.resolve_checkpoint(d)
    data = {"dir": d, "latest": latest,
            "all": list(state.all_model_checkpoint_paths) if state else [latest]}
    if args.json:
        print_json(data)
    else:
        rel = os.path.relpath(latest)
        print(latest if rel.startswith("..") else rel)
    return 0
