"""MetaGraphDef export and import: graph, collections, SaverDef, scopes, devices.

Follows TF's ``meta_graph.py`` semantics (see shared/reference/tf_anchor.md §1), with three
changes users asked TF for: collections follow nodes that import renamed (``w`` -> ``w_1``),
collections gmeta cannot convert are kept and written back unchanged instead of dropped, and
``device_map`` remaps requested devices on import.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, NamedTuple, Optional

from google.protobuf import message as _pb_message

from gmeta import errors
from gmeta.framework import op_def_registry
from gmeta.framework import ops as ops_lib
from gmeta.framework.importer import import_graph_def

log = logging.getLogger("gmeta")

TF_VERSION = "2.21.0"  # the file format gmeta writes is TF 2.21's
GIT_VERSION = "gmeta-0.1.0"
_UNBOUND = "$unbound_inputs_"


class _ProtoFunctions(NamedTuple):
    proto_type: object
    to_proto: Optional[Callable]
    from_proto: Optional[Callable]


_PROTO_FUNCTIONS: dict[str, _ProtoFunctions] = {}


def register_proto_function(collection_name, proto_type=None, to_proto=None, from_proto=None):
    """Registers how items of a collection become protos in a MetaGraphDef and back.

    Args:
        collection_name: the collection key.
        proto_type: the protobuf message class of its bytes_list items.
        to_proto: ``f(item, export_scope=None) -> proto or None`` (None skips the item).
        from_proto: ``f(proto, import_scope=None) -> item``.
    """
    _PROTO_FUNCTIONS[collection_name] = _ProtoFunctions(proto_type, to_proto, from_proto)


def get_collection_proto_type(name):
    entry = _PROTO_FUNCTIONS.get(name)
    return entry.proto_type if entry else None


def get_to_proto_function(name):
    entry = _PROTO_FUNCTIONS.get(name)
    return entry.to_proto if entry else None


def get_from_proto_function(name):
    entry = _PROTO_FUNCTIONS.get(name)
    return entry.from_proto if entry else None


# -- scope helpers ---------------------------------------------------------------------------------
def strip_name_scope(name: str, export_scope) -> str:
    """``export_scope/x`` -> ``x`` (also for ``^`` inputs and ``loc:@`` values)."""
    if not export_scope:
        return name
    scope = export_scope if export_scope.endswith("/") else export_scope + "/"
    for lead in ("^", "loc:@", ""):
        if name.startswith(lead + scope):
            return lead + name[len(lead) + len(scope):]
    return name


def prepend_name_scope(name: str, import_scope) -> str:
    if not import_scope:
        return name
    scope = import_scope.rstrip("/")
    for lead in ("^", "loc:@"):
        if name.startswith(lead):
            return f"{lead}{scope}/{name[len(lead):]}"
    return f"{scope}/{name}"


def _in_scope(name: str, export_scope) -> bool:
    if not export_scope:
        return True
    bare = name[1:] if name.startswith("^") else name
    if bare.startswith(_UNBOUND):
        return True
    scope = export_scope.rstrip("/") + "/"
    return bare.startswith(scope)


# -- export ----------------------------------------------------------------------------------------
def _stripped_op_list(graph_def, graph=None):
    """The OpDefs of the op types ``graph_def`` uses (``graph``: the graph it was just written
    from, whose ops tell the types faster)."""
    from gmeta.proto import OpList

    if graph is not None:
        used = {op._type for op in graph._nodes}
    else:
        used = {n.op for n in graph_def.node}
    for fn in graph_def.library.function:
        used.update(n.op for n in fn.node_def)
    op_list = OpList()
    for name in sorted(used):
        op_def = op_def_registry.get(name)
        if op_def is not None:
            op_list.op.add().CopyFrom(op_def)
    return op_list


def _strip_default_attrs(graph_def) -> None:
    for node in graph_def.node:
        op_def = op_def_registry.get(node.op)
        if op_def is None:
            continue
        for a in op_def.attr:
            if a.HasField("default_value") and a.name in node.attr and \
                    node.attr[a.name] == a.default_value:
                del node.attr[a.name]


def _collection_kind(value) -> Optional[str]:
    from gmeta.proto import Any

    if isinstance(value, (bytes, str)):
        return "bytes_list"
    if isinstance(value, bool):
        return None  # TF drops bool collections (protobuf refuses bools in int64_list)
    if isinstance(value, int):
        return "int64_list"
    if isinstance(value, float):
        return "float_list"
    if isinstance(value, Any):
        return "any_list"
    if isinstance(value, (ops_lib.Tensor, ops_lib.Operation)) or hasattr(value, "name"):
        return "node_list"
    return None


def add_collection_def(meta_graph_def, key, graph, export_scope=None, exclude_nodes=None,
                       _memo=None):
    """Serialises collection ``key`` of ``graph`` into ``meta_graph_def`` (TF's rules).

    A collection that cannot be serialised is skipped with a warning naming the key and the
    offending item's type (TF drops it with a generic warning). ``_memo`` (one export's
    ``{(id(item), to_proto): (item, bytes)}``) serialises an item in several collections (a
    Variable in ``variables`` and ``trainable_variables``) once.
    """
    if not isinstance(key, (str, bytes)):
        log.warning("Only collections with string keys are exported to a MetaGraphDef; "
                    "skipping collection %r", key)
        return
    key = key.decode() if isinstance(key, bytes) else key
    raw = getattr(graph, "_unconverted_collections", {}).get(key)
    items = graph.get_collection(key)
    if raw is not None and not items:
        meta_graph_def.collection_def[key].CopyFrom(raw)
        return
    items = [x for x in items if _should_include(x, export_scope, exclude_nodes)]
    if not items:
        return
    col = meta_graph_def.collection_def[key]
    to_proto = get_to_proto_function(key)
    try:
        if to_proto is not None:
            values = []
            memo = {} if _memo is None else _memo
            for x in items:
                hit = memo.get((id(x), to_proto))
                if hit is not None and hit[0] is x:
                    if hit[1] is not None:
                        values.append(hit[1])
                    continue
                proto = to_proto(x, export_scope=export_scope)
                data = None if proto is None else proto.SerializeToString(deterministic=True)
                memo[(id(x), to_proto)] = (x, data)
                if data is not None:
                    values.append(data)
            if values:
                col.bytes_list.value.extend(values)
            else:
                del meta_graph_def.collection_def[key]
            return
        kind = _collection_kind(items[0])
        if kind is None:
            raise TypeError(f"items of type {type(items[0]).__name__}")
        for x in items:
            if _collection_kind(x) != kind:
                raise TypeError(f"mixed item types {type(items[0]).__name__} and "
                                f"{type(x).__name__}")
        if kind == "bytes_list":
            col.bytes_list.value.extend(
                strip_name_scope(x, export_scope).encode() if isinstance(x, str) else x
                for x in items)
        elif kind == "int64_list":
            col.int64_list.value.extend(items)
        elif kind == "float_list":
            col.float_list.value.extend(items)
        elif kind == "any_list":
            col.any_list.value.extend(items)
        else:
            col.node_list.value.extend(strip_name_scope(x.name, export_scope) for x in items)
    except (TypeError, ValueError, _pb_message.EncodeError) as e:
        log.warning("Collection %r was not exported to the MetaGraphDef: it holds %s, which a "
                    "CollectionDef cannot store (strings, ints, floats, Any protos, graph "
                    "elements, or a type registered with register_proto_function)", key, e)
        meta_graph_def.collection_def.pop(key, None)


def _should_include(item, export_scope, exclude_nodes):
    name = getattr(item, "name", None)
    if isinstance(item, (str, bytes)) or not isinstance(name, str):
        return True
    if exclude_nodes and name.split(":")[0] in exclude_nodes:
        return False
    return _in_scope(name, export_scope)


def _node_def_for_export(node, export_scope, unbound, clear_devices):
    from gmeta.proto import NodeDef

    out = NodeDef()
    out.CopyFrom(node)
    out.name = strip_name_scope(node.name, export_scope)
    del out.input[:]
    for inp in node.input:
        if export_scope and not _in_scope(inp, export_scope):
            ctrl = inp.startswith("^")
            bare = inp[1:] if ctrl else inp
            new = _UNBOUND + bare
            unbound.append(new)
            out.input.append(("^" if ctrl else "") + new)
        else:
            out.input.append(strip_name_scope(inp, export_scope))
    if "_class" in out.attr and export_scope:
        kept = [strip_name_scope(s.decode(), export_scope).encode()
                for s in out.attr["_class"].list.s
                if not s.startswith(b"loc:@") or _in_scope(s[5:].decode(), export_scope)]
        del out.attr["_class"].list.s[:]
        out.attr["_class"].list.s.extend(kept)
    if out.op in ("Enter", "RefEnter") and "frame_name" in out.attr and export_scope:
        out.attr["frame_name"].s = strip_name_scope(
            out.attr["frame_name"].s.decode(), export_scope).encode()
    if clear_devices:
        out.device = ""
    return out


def create_meta_graph_def(meta_info_def=None, graph_def=None, saver_def=None,
                          collection_list=None, graph=None, export_scope=None,
                          exclude_nodes=None, strip_default_attrs=False):
    from gmeta.proto import MetaGraphDef

    graph = graph or ops_lib.get_default_graph()
    mgd = MetaGraphDef()
    if meta_info_def is not None:
        mgd.meta_info_def.MergeFrom(meta_info_def)
    written_from_graph = graph_def is None
    if written_from_graph:
        graph._write_graph_def(mgd.graph_def, add_shapes=True)
    else:
        mgd.graph_def.MergeFrom(graph_def)
    graph_def = mgd.graph_def
    if strip_default_attrs:
        _strip_default_attrs(mgd.graph_def)
        mgd.meta_info_def.stripped_default_attrs = True
    if not mgd.meta_info_def.stripped_op_list.op:
        mgd.meta_info_def.stripped_op_list.MergeFrom(_stripped_op_list(
            graph_def, graph if written_from_graph else None))
    mgd.meta_info_def.tensorflow_version = TF_VERSION
    mgd.meta_info_def.tensorflow_git_version = GIT_VERSION
    if saver_def is not None:
        mgd.saver_def.MergeFrom(saver_def)
    keys = graph.get_all_collection_keys() if collection_list is None else collection_list
    keys = list(keys) + [k for k in getattr(graph, "_unconverted_collections", {})
                         if collection_list is None and k not in keys]
    memo: dict = {}
    for key in keys:
        add_collection_def(mgd, key, graph, export_scope, exclude_nodes, _memo=memo)
    return mgd


def export_scoped_meta_graph(filename=None, graph_def=None, graph=None, export_scope=None,
                             as_text=False, unbound_inputs_col_name="unbound_inputs",
                             clear_devices=False, saver_def=None, clear_extraneous_savers=False,
                             strip_default_attrs=False, meta_info_def=None,
                             collection_list=None, **kwargs):
    """Builds (and writes, when ``filename`` is given) a MetaGraphDef; returns
    ``(meta_graph_def, var_list)`` as TF's function does."""
    from gmeta.proto import GraphDef

    graph = graph or ops_lib.get_default_graph()
    exclude_nodes = None
    unbound: list = []
    if export_scope or clear_devices or clear_extraneous_savers:
        source = graph_def if graph_def is not None else graph.as_graph_def(add_shapes=True)
        if clear_extraneous_savers:
            exclude_nodes = _find_extraneous_saver_nodes(source, saver_def)
        new = GraphDef()
        new.versions.CopyFrom(source.versions)
        new.library.CopyFrom(source.library)
        for node in source.node:
            if exclude_nodes and node.name in exclude_nodes:
                continue
            if _in_scope(node.name, export_scope):
                new.node.append(_node_def_for_export(node, export_scope, unbound,
                                                     clear_devices))
        graph_def = new
    mgd = create_meta_graph_def(meta_info_def=meta_info_def, graph_def=graph_def,
                                graph=graph, export_scope=export_scope,
                                exclude_nodes=exclude_nodes, collection_list=collection_list,
                                strip_default_attrs=strip_default_attrs)
    if saver_def is not None and (not export_scope or _in_scope(saver_def.save_tensor_name,
                                                                export_scope)):
        sd = mgd.saver_def
        sd.CopyFrom(saver_def)
        for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            setattr(sd, field, strip_name_scope(getattr(sd, field), export_scope))
    if unbound:
        col = mgd.collection_def[unbound_inputs_col_name]
        del col.bytes_list.value[:]
        col.bytes_list.value.extend(sorted(set(u.encode() for u in unbound)))
    if clear_extraneous_savers and saver_def is not None:
        col = mgd.collection_def["savers"]
        del col.bytes_list.value[:]
        col.bytes_list.value.append(saver_def.SerializeToString(deterministic=True))
    data = None
    if filename and not as_text:
        try:  # the bytes to write tell the size; no separate ByteSize pass
            data = mgd.SerializeToString(deterministic=True)
        except (ValueError, _pb_message.EncodeError):
            data = None
    size = len(data) if data is not None else mgd.ByteSize()
    if size >= 2 ** 31:
        raise ValueError(_too_large_message(mgd))
    if filename:
        write_meta_graph(mgd, filename, as_text, _data=data)
    var_list = {v.op.name: v for v in graph.get_collection("variables")
                if _in_scope(v.name, export_scope)}
    return mgd, var_list


def _too_large_message(mgd) -> str:
    consts = sorted(((n.attr["value"].tensor.ByteSize(), n.name) for n in mgd.graph_def.node
                     if n.op == "Const"), reverse=True)[:5]
    big = ", ".join(f"{name} ({size / 2**20:.0f} MiB)" for size, name in consts)
    return (f"MetaGraphDef is {mgd.ByteSize() / 2**30:.2f} GiB, over protobuf's 2 GiB limit. "
            f"Largest constants: {big}. Keep large values out of the graph: create variables "
            "from a placeholder or an initializer and restore them from a checkpoint.")


def _find_extraneous_saver_nodes(graph_def, saver_def):
    save_types = {"SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice",
                  "MergeV2Checkpoints"}
    scopes = {n.name.rsplit("/", 1)[0] for n in graph_def.node
              if n.op in save_types and "/" in n.name}
    keep = set()
    if saver_def is not None:
        keep = {saver_def.save_tensor_name.split("/")[0],
                saver_def.restore_op_name.split("/")[0]}
    drop_scopes = {s.split("/")[0] for s in scopes} - keep
    return {n.name for n in graph_def.node if n.name.split("/")[0] in drop_scopes}


def write_meta_graph(mgd, filename, as_text=False, _data=None) -> None:
    """Writes atomically (temporary file, fsync, rename), creating missing directories.
    ``_data``: ``mgd`` already serialized (binary)."""
    from gmeta.framework.fileio import atomic_write
    from gmeta.proto import message_to_text

    if _data is not None:
        data = _data
    else:
        data = (message_to_text(mgd).encode() if as_text else
                mgd.SerializeToString(deterministic=True))
    atomic_write(filename, data, make_dirs=True)


# -- import ----------------------------------------------------------------------------------------
class MetaGraphFileError(errors.DataLossError, IOError):
    """A .meta file that parses neither as binary nor as text."""


class MetaGraphNotFound(errors.NotFoundError, FileNotFoundError):
    """A .meta path that does not exist."""


def read_meta_graph_file(filename):
    """Reads a MetaGraphDef from a binary or text file (binary tried first, as TF does)."""
    from gmeta.proto import MetaGraphDef, parse_text

    if not os.path.exists(filename):
        raise MetaGraphNotFound(None, None, f"File does not exist: {filename!r} (expected a "
                                            "MetaGraphDef .meta file)")
    with open(filename, "rb") as f:
        data = f.read()
    mgd = MetaGraphDef()
    binary_error = text_error = None
    try:
        mgd.ParseFromString(data)
        if data and not mgd.ListFields():
            raise _pb_message.DecodeError("no MetaGraphDef fields")
        return mgd
    except _pb_message.DecodeError as e:
        binary_error = e
    try:
        mgd = MetaGraphDef()
        parse_text(data.decode("utf-8"), mgd)
        return mgd
    except Exception as e:  # text_format.ParseError, UnicodeDecodeError
        text_error = e
    raise MetaGraphFileError(None, None, f"Cannot parse {filename!r} as a MetaGraphDef "
                                         f"({len(data)} bytes): not binary ({binary_error}), "
                                         f"not text ({str(text_error)[:200]}). The file may be "
                                         "truncated or corrupt.")


def _rename(name: str, renames: dict, scope) -> str:
    """A node or tensor name from the file, as it is called in the graph after import."""
    lead = ""
    for prefix in ("^", "loc:@"):
        if name.startswith(prefix):
            lead, name = prefix, name[len(prefix):]
    op_name, sep, idx = name.partition(":")
    new = renames.get(op_name)
    if new is None:
        new = prepend_name_scope(op_name, scope)
    return lead + new + sep + idx


def import_scoped_meta_graph_with_return_elements(
        meta_graph_or_file, clear_devices=False, graph=None, import_scope=None, input_map=None,
        unbound_inputs_col_name="unbound_inputs", restore_collections_predicate=(lambda k: True),
        return_elements=None, device_map=None, _owned=False):
    """Imports a MetaGraphDef into ``graph``; returns ``(var_list, imported_return_elements)``.

    ``_owned``: the MetaGraphDef was parsed for this import alone, so the imported operations
    may keep references into it instead of a copy.
    """
    from gmeta.proto import MetaGraphDef

    if isinstance(meta_graph_or_file, MetaGraphDef):
        mgd = meta_graph_or_file
    else:
        mgd = read_meta_graph_file(meta_graph_or_file)
        _owned = True
    graph = graph or ops_lib.get_default_graph()
    unbound = mgd.collection_def.get(unbound_inputs_col_name) \
        if unbound_inputs_col_name in mgd.collection_def else None
    if unbound is not None and unbound.bytes_list.value:
        names = sorted(v.decode() for v in unbound.bytes_list.value)
        if not input_map or sorted(str(k) for k in input_map) != names:
            raise ValueError(f"Graph contains unbound inputs: {', '.join(names)}. Must provide "
                             "these inputs through input_map.")
    device_fn = _device_map_function(device_map)
    renames: dict = {}
    with graph.as_default():
        prefix = graph.unique_name(import_scope or "", mark_as_used=False)
        prefix = prefix + "/" if prefix else ""
        imported = import_graph_def(mgd.graph_def, input_map=input_map,
                                    return_elements=return_elements, graph=graph,
                                    clear_devices=clear_devices, device_map=device_fn,
                                    _prefix=prefix, _rename_map=renames, _owned=_owned)
        graph._last_import_renames = renames
        graph._last_import_prefix = prefix
        scope = prefix.rstrip("/")
        if not scope and all(k == v for k, v in renames.items()):
            renames = None  # every name as in the file: collection protos need no rewriting
        var_objects: dict = {}
        keys = sorted(mgd.collection_def)
        if "trainable_variables" in keys:
            keys.remove("trainable_variables")
            keys.insert(0, "trainable_variables")
        for key in keys:
            if key == unbound_inputs_col_name or not restore_collections_predicate(key):
                continue
            _restore_collection(graph, key, mgd.collection_def[key], scope, renames,
                                var_objects)
    var_list = {v.op.name: v for v in var_objects.values()}
    return var_list, imported


_VARIABLE_KEYS = {"variables", "trainable_variables", "local_variables", "model_variables",
                  "moving_average_variables", "metric_variables", "global_step",
                  "concatenated_variables", "trainable_resource_variables"}


def _restore_collection(graph, key, col, scope, renames, var_objects):
    kind = col.WhichOneof("kind")
    if kind is None:
        log.warning("Cannot identify data type for collection %s. Skipping.", key)
        return
    from_proto = get_from_proto_function(key)
    if key == "metric_variables":
        from_proto = get_from_proto_function("variables")
    values = getattr(col, kind).value
    items = []
    try:
        if kind == "bytes_list" and from_proto is not None:
            proto_type = get_collection_proto_type(key if key != "metric_variables"
                                                   else "variables")
            seen = var_objects if key in _VARIABLE_KEYS else None  # one object a variable
            for raw in values:
                if seen is not None:
                    item = seen.get(raw, seen)
                    if item is not seen:
                        items.append(item)
                        continue
                proto = proto_type()
                proto.ParseFromString(raw)
                if renames is not None:
                    _rename_proto(proto, renames, scope)
                item = from_proto(proto, import_scope=None)
                if seen is not None:
                    seen[raw] = item
                items.append(item)
        elif kind == "node_list":
            for v in values:
                items.append(graph.as_graph_element(v if renames is None else
                                                    _rename(v, renames, scope)))
        elif kind == "bytes_list":
            for v in values:
                items.append(v if not scope else prepend_name_scope(v.decode("utf-8", "replace"),
                                                                    scope))
        elif kind == "int64_list":
            items = [int(v) for v in values]
        elif kind == "float_list":
            items = [float(v) for v in values]
        else:  # any_list
            items = list(values)
    except (KeyError, ValueError, TypeError, _pb_message.DecodeError) as e:
        log.warning("Collection %r could not be converted on import (%s); it is kept as it is "
                    "in the file and will be exported unchanged.", key, e)
        if not hasattr(graph, "_unconverted_collections"):
            graph._unconverted_collections = {}
        graph._unconverted_collections[key] = col
        return
    ref = graph.get_collection_ref(key)
    ref.extend(items)


def _rename_proto(proto, renames, scope):
    """Rewrites the graph-element name fields of a collection proto (VariableDef, SaverDef,
    QueueRunnerDef, Cond/WhileContextDef: every ``*_name`` and repeated string field, nested
    messages included) to the names the import gave those elements. Protos of other types
    (registered by users) are left as they are."""
    if proto.DESCRIPTOR.name in _RENAMED_PROTOS:
        _map_names(proto, lambda n: _rename(n, renames, scope))


_RENAMED_PROTOS = frozenset(["VariableDef", "SaverDef", "QueueRunnerDef", "CondContextDef",
                             "WhileContextDef"])


# -- device_map ------------------------------------------------------------------------------------
def _device_map_function(device_map):
    """A ``device_map`` (callable, or rules ``{pattern: target}``) as f(NodeDef) -> device.

    Rules are tried in order; a pattern is a device spec (partial specs match every device that
    agrees on the fields they set: ``/job:worker`` matches ``/job:worker/task:3/device:GPU:2``;
    ``/device:GPU:*`` any GPU) or a glob over device strings (``*GPU:1``); the target is merged
    over the recorded device, so ``{"/device:GPU:1": "/device:GPU:0"}`` moves only the type/index.
    A rule that never matches is logged as a warning after import.
    """
    if device_map is None:
        return None
    if callable(device_map):
        return device_map
    import fnmatch

    from gmeta.devices.spec import DeviceSpec, canonical_name

    rules = list(device_map.items()) if isinstance(device_map, dict) else list(device_map)
    compiled = []
    for pattern, target in rules:
        if any(c in pattern for c in "*?[") and not pattern.endswith(":*"):
            compiled.append((pattern, None, target))
        else:
            compiled.append((pattern, DeviceSpec.from_string(pattern), target))

    def matches(spec, device):
        if spec is None:
            return False
        got = DeviceSpec.from_string(device)
        for field in ("job", "replica", "task", "device_type"):
            want = getattr(spec, field)
            if want is not None and getattr(got, field) != want:
                return False
        return spec.device_index is None or spec.device_index == got.device_index

    def apply(node):
        device = node.device
        canon = canonical_name(device) if device else ""
        for pattern, spec, target in compiled:
            hit = fnmatch.fnmatchcase(canon, pattern) or fnmatch.fnmatchcase(device, pattern) \
                if spec is None else (device != "" and matches(spec, canon))
            if hit:
                if callable(target):
                    return target(node)
                merged = DeviceSpec.from_string(canon).make_merged_spec(
                    DeviceSpec.from_string(target))
                if spec is not None:
                    # fields the pattern fixed but the target leaves unset are dropped
                    merged = merged._replace(**{f: None for f in ("job", "replica", "task")
                                                if getattr(spec, f) is not None and
                                                getattr(DeviceSpec.from_string(target), f) is None})
                return merged.to_string()
        return device

    return apply



# -- collections of protos gmeta keeps as they are (queue runners, control-flow contexts) --------
class ProtoCollectionItem:
    """A collection entry that round-trips as its proto (``QueueRunnerDef``, ``CondContextDef``,
    ``WhileContextDef``): names follow ``import_scope`` / renames on import and lose
    ``export_scope`` on export; nothing else is interpreted (the control-flow issue builds on
    these)."""

    def __init__(self, proto):
        self.proto = proto

    @property
    def name(self) -> str:
        p = self.proto
        return getattr(p, "context_name", "") or getattr(p, "queue_name", "")

    def to_proto(self, export_scope=None):
        if export_scope and not _in_scope(self.name, export_scope):
            return None
        out = type(self.proto)()
        out.CopyFrom(self.proto)
        if export_scope:
            _map_names(out, lambda n: strip_name_scope(n, export_scope))
        return out

    @classmethod
    def from_proto(cls, proto, import_scope=None):
        if import_scope:
            _map_names(proto, lambda n: prepend_name_scope(n, import_scope))
        return cls(proto)

    def __repr__(self):
        return f"<{type(self.proto).__name__} {self.name!r}>"


def _map_names(proto, fn) -> None:
    """Applies ``fn`` to every graph-element name field of a collection proto, recursively."""
    for field, value in proto.ListFields():
        if field.type == field.TYPE_STRING:
            if field.is_repeated:
                new = [fn(v) for v in value]
                del value[:]
                value.extend(new)
            elif field.name.endswith("_name"):
                setattr(proto, field.name, fn(value))
        elif field.type == field.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                items = [(fn(k), fn(v)) for k, v in value.items()]
                value.clear()
                value.update(items)
            elif field.is_repeated:
                for sub in value:
                    _map_names(sub, fn)
            else:
                _map_names(value, fn)


def _register_proto_collections():
    from gmeta.proto import CondContextDef, QueueRunnerDef, WhileContextDef

    for key, proto_type in (("queue_runners", QueueRunnerDef), ("cond_context", CondContextDef),
                            ("while_context", WhileContextDef)):
        register_proto_function(key, proto_type=proto_type,
                                to_proto=lambda item, export_scope=None:
                                item.to_proto(export_scope),
                                from_proto=ProtoCollectionItem.from_proto)


_register_proto_collections()
