#!/usr/bin/env python3
"""Regenerate gmeta/proto/*_pb2.py from protos/gmeta/proto/*.proto.

Usage:
    python tools/gen_protos.py            # rewrite gmeta/proto/*_pb2.py
    python tools/gen_protos.py --check    # exit 1, listing stale files, if regenerating would
                                          # change anything

Runs ``python -m grpc_tools.protoc -I protos --python_out=...`` and then rewrites each module to
register its file into the private pool ``gmeta.proto._pool.POOL`` instead of protobuf's default
pool, so that gmeta and TensorFlow (which registers the same ``tensorflow.*`` names) can share a
process. The output depends only on the .proto files and the protoc version, so pin grpcio-tools:
the committed files were made with GRPCIO_TOOLS_VERSION below.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO_DIR = PROTO_ROOT / "gmeta" / "proto"
OUT_DIR = ROOT / "gmeta" / "proto"
GRPCIO_TOOLS_VERSION = "1.85.1"

# (text protoc writes, replacement); each must occur exactly once in every generated module.
_REWRITES = (
    (
        "from google.protobuf import descriptor_pool as _descriptor_pool\n",
        "",
    ),
    (
        "from google.protobuf.internal import builder as _builder\n",
        "from google.protobuf.internal import builder as _builder\nfrom gmeta.proto import _pool\n",
    ),
    (
        "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(",
        "DESCRIPTOR = _pool.POOL.AddSerializedFile(",
    ),
)
_MARK = "# Post-processed by tools/gen_protos.py: registers into gmeta.proto._pool.POOL.\n"


def _run_protoc(out_dir: Path) -> None:
    protos = sorted(p.relative_to(ROOT).as_posix() for p in PROTO_DIR.glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_DIR}")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I",
        "protos",
        f"--python_out={out_dir}",
        *protos,
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed ({' '.join(cmd)}):\n{result.stdout}{result.stderr}")


def _post_process(name: str, text: str) -> str:
    for old, new in _REWRITES:
        count = text.count(old)
        if count != 1:
            raise SystemExit(
                f"{name}: expected {old!r} once in protoc's output, found it {count} times"
            )
        text = text.replace(old, new)
    head, sep, rest = text.partition('"""Generated protocol buffer code."""\n')
    if not sep:
        raise SystemExit(f"{name}: protoc's module docstring not found")
    return head + _MARK + sep + rest


def generate() -> dict[str, str]:
    """Return {file name: contents} of every post-processed ``*_pb2.py`` module."""
    with tempfile.TemporaryDirectory() as tmp:
        _run_protoc(Path(tmp))
        gen_dir = Path(tmp) / "gmeta" / "proto"
        return {
            p.name: _post_process(p.name, p.read_text()) for p in sorted(gen_dir.glob("*_pb2.py"))
        }


def _grpc_tools_note() -> str:
    try:
        installed = metadata.version("grpcio-tools")
    except metadata.PackageNotFoundError:
        return "grpcio-tools is not installed"
    if installed != GRPCIO_TOOLS_VERSION:
        return (f"note: grpcio-tools {installed} is installed; the files were generated with "
                f"{GRPCIO_TOOLS_VERSION}")
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="report stale files instead of writing them"
    )
    args = parser.parse_args(argv)

    wanted = generate()
    present = {p.name for p in OUT_DIR.glob("*_pb2.py")}
    stale = sorted(
        name
        for name, text in wanted.items()
        if name not in present or (OUT_DIR / name).read_text() != text
    )
    orphans = sorted(present - set(wanted))

    if args.check:
        if not stale and not orphans:
            return 0
        for name in stale:
            print(f"stale: gmeta/proto/{name}")
        for name in orphans:
            print(f"no .proto source: gmeta/proto/{name}")
        print("run: python tools/gen_protos.py")
        note = _grpc_tools_note()
        if note:
            print(note)
        return 1

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (OUT_DIR / name).write_text(wanted[name], newline="\n")
    for name in orphans:
        (OUT_DIR / name).unlink()
    print(f"{len(wanted)} modules: {len(stale)} written, {len(orphans)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
