"""``Saver``: the save/restore subgraph TF builds, V2 checkpoints, and checkpoint bookkeeping.

The nodes are TensorFlow's (``save/Const``, ``save/SaveV2``, ``save/control_dependency``,
``save/RestoreV2``, ``save/Assign_k``, ``save/restore_all``, and the sharded variant with
``ShardedFilename`` / ``MergeV2Checkpoints``), so a gmeta SaverDef works inside TensorFlow and a
TF SaverDef works in gmeta.

Beyond TF: restore checks keys and shapes before assigning anything and names every missing,
unexpected and mismatched key (with close matches); a Saver started in a directory with a state
file continues its ``max_to_keep`` bookkeeping from it; state files hold relative paths; the
meta graph is written before the state file names the new checkpoint.
"""

from __future__ import annotations

import difflib
import logging
import operator
import os
import time

import numpy as np

from gmeta import dtypes, errors
from gmeta.framework import meta_graph
from gmeta.framework._gc import paused_gc
from gmeta.framework._graph_elements import _new_operation
from gmeta.framework import ops as ops_lib
from gmeta.framework.op_def_library import apply_op
from gmeta.framework.shape_inference import constant_value
from gmeta.ops import array_ops, constant_op, control_flow_ops
from gmeta.ops.variables import Variable
from gmeta.train import checkpoint_management as cm

log = logging.getLogger("gmeta")


class _Saveable:
    """One tensor in the checkpoint: its key, slice spec, the tensor to save and how to restore.

    A ref variable saves its ref and restores with ``Assign``; a resource variable (as TF's
    ResourceVariableSaveable) saves its ``<name>/Read/ReadVariableOp`` and restores with an
    ``Identity`` on its device followed by ``AssignVariableOp``.
    """

    __slots__ = ("name", "slice_spec", "tensor", "var", "device")

    def __init__(self, name, var, slice_spec=""):
        self.name = name
        self.var = var
        self.slice_spec = slice_spec
        if getattr(var, "_is_resource_variable", False):
            self.tensor = var._as_graph_element()
            self.device = var.device
        elif isinstance(var, Variable):
            self.tensor = var._ref()
            self.device = var.device
        else:
            self.tensor = ops_lib.convert_to_tensor(var)
            self.device = self.tensor.device

    @property
    def dtype(self):
        return self.tensor.dtype.base_dtype

    def restore(self, restored):
        var = self.var
        if getattr(var, "_is_resource_variable", False):
            g = ops_lib.get_default_graph()
            with g.device(var.device):
                restored = array_ops.identity(restored)
                var.shape.assert_is_compatible_with(restored.shape)
                return apply_op("AssignVariableOp", resource=var.handle, value=restored)
        if isinstance(var, Variable):
            if var._variable.dtype.base_dtype == dtypes.resource:
                return apply_op("AssignVariableOp", resource=var._variable, value=restored,
                                name="AssignVariableOp")
            return _assign_restored(var._ref(), restored, var.shape.is_fully_defined())
        raise TypeError(f"Cannot restore into {var!r}")


def _assign_restored(ref, value, validate_shape):
    """``save/Assign_k``: an ``Assign`` of the restored ``value`` to ``ref``, colocated with the
    variable."""
    return apply_op("Assign", ref=ref, value=value, validate_shape=validate_shape,
                    name="Assign").op


def _restore_assigns(g, saveables, restored) -> list:
    """``[s.restore(t) for s, t in zip(saveables, restored)]``, node for node. The ``Assign``
    ops of plain ref variables (a Saver over thousands of them is built on every import of a
    MetaGraph without a SaverDef) are made without the generic op builder while the graph has
    no scopes that could change them; from the first saveable that is not such a variable on,
    the rest go through ``restore``."""
    from gmeta.framework import shape_inference
    from gmeta.framework.op_def_library import signature
    from gmeta.proto import AttrValue

    op_def = signature("Assign")
    if (g._finalized or g._control_stack or g._attr_scope_map or g._colocation_stack or
            g._control_flow_context is not None or "Assign" in g._gradient_override_map or
            op_def.proto.is_stateful):
        return [s.restore(t) for s, t in zip(saveables, restored)]
    use_locking = op_def.attr_by_name["use_locking"].default_value
    proto = op_def.proto
    tensor, resource = ops_lib.Tensor, dtypes.resource
    shared: dict = {}  # attrs are replaced, never changed in place: equal ones can be shared
    ops = []
    unique_name = g.unique_name
    for i, (s, value) in enumerate(zip(saveables, restored)):
        var = s.var
        ref = var._variable if var.__class__ is Variable else None
        if ref.__class__ is tensor and value.__class__ is tensor:
            ref_dtype = ref._dtype
            dtype = ref_dtype.base_dtype
            plain = (ref_dtype.is_ref_dtype and dtype != resource and
                     (value._dtype is dtype or value._dtype == dtype) and
                     ref._op._graph is g and value._op._graph is g)
        else:
            plain = False
        if not plain:
            g._add_imported_ops(ops, {})
            return ops + [s.restore(t) for s, t in zip(saveables[i:], restored[i:])]
        var_op = ref._op
        groups = var_op.colocation_groups()
        coloc = AttrValue()
        if len(groups) == 1:
            coloc.list.s.append(groups[0])
        else:
            coloc.list.s.extend(sorted(set(groups)))
        ref_shape = ref.shape
        validate_shape = ref_shape.is_fully_defined()
        key = (ref_dtype, validate_shape)
        common = shared.get(key)
        if common is None:
            common = shared[key] = (AttrValue(type=dtype.as_datatype_enum),
                                    AttrValue(b=validate_shape))
        attrs = {"T": common[0], "validate_shape": common[1], "use_locking": use_locking,
                 "_class": coloc}
        op = _new_operation(g, unique_name("Assign"), "Assign", [ref, value], [ref_dtype], attrs,
                            proto, var_op._device, True)
        try:  # Assign's shape function, inline: the variable's shape (merged with the value's)
            op._outputs[0]._shape = ref_shape.merge_with(value.shape) if validate_shape \
                else value.shape
        except ValueError:
            shape_inference.infer(op)  # raises, naming the node
        ops.append(op)
    g._add_imported_ops(ops, {})
    return ops


def _saveables(var_list):
    if var_list is None:
        var_list = ops_lib.get_collection("variables") + \
            ops_lib.get_collection("saveable_objects")
    if isinstance(var_list, dict):
        items = list(var_list.items())
    else:
        items = []
        for v in var_list:
            if isinstance(v, Variable):
                info = v._get_save_slice_info()
                items.append((info.full_name if info else v.op.name, v))
            elif isinstance(v, ops_lib.Tensor):
                items.append((v.op.name, v))
            elif isinstance(v, (list, tuple)) or hasattr(v, "_variable_list"):
                for part in (v._variable_list if hasattr(v, "_variable_list") else v):
                    info = part._get_save_slice_info()
                    items.append((info.full_name if info else part.op.name, part))
            else:
                raise TypeError(f"Saver var_list entries must be Variables or Tensors, got "
                                f"{v!r}")
    out, seen = [], {}
    for name, v in items:
        info = v._get_save_slice_info() if isinstance(v, Variable) else None
        spec = info.spec if info is not None else ""
        key = (name, spec)
        if key in seen:
            if seen[key] is v:
                continue
            raise ValueError(f"At least two variables have the same name: {name}")
        seen[key] = v
        out.append(_Saveable(name, v, spec))
    return sorted(out, key=_CHECKPOINT_ORDER)


_CHECKPOINT_ORDER = operator.attrgetter("name", "slice_spec")  # a _Saveable's sort key


def _set_cpu0(device: str) -> str:
    from gmeta.devices.spec import DeviceSpec

    spec = DeviceSpec.from_string(device)
    return spec._replace(device_type="CPU", device_index=0).to_string()


class Saver:
    """Saves and restores variables (``tf.compat.v1.train.Saver``)."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=2, pad_step_number=False, save_relative_paths=True,
                 filename=None):
        self._var_list = var_list
        self._reshape = reshape
        self._sharded = sharded
        self._max_to_keep = max_to_keep or 0
        self._keep_every_n_hours = keep_checkpoint_every_n_hours
        self._name = name
        self._restore_sequentially = restore_sequentially
        self.saver_def = saver_def
        self._allow_empty = allow_empty
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._filename = filename
        self._last_checkpoints: list = []
        self._recovered_dirs: set = set()
        self._is_empty = False
        self._graph = ops_lib.get_default_graph()
        self._next_checkpoint_time = time.time() + keep_checkpoint_every_n_hours * 3600
        if saver_def is not None:
            self._init_from_saver_def(saver_def, name)
        elif not defer_build:
            self.build()

    # -- graph construction ------------------------------------------------------------------------
    def _init_from_saver_def(self, saver_def, scope):
        from gmeta.proto import SaverDef

        sd = SaverDef()
        sd.CopyFrom(saver_def)
        if scope:
            for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
                value = getattr(sd, field)
                if not value.startswith(scope.rstrip("/") + "/"):
                    setattr(sd, field, meta_graph.prepend_name_scope(value, scope))
        self.saver_def = sd
        self._max_to_keep = sd.max_to_keep
        self._sharded = sd.sharded
        self._keep_every_n_hours = sd.keep_checkpoint_every_n_hours or 10000.0
        self._next_checkpoint_time = time.time() + self._keep_every_n_hours * 3600

    def build(self):
        if self.saver_def is not None:
            return
        saveables = _saveables(self._var_list)
        if not saveables:
            if self._allow_empty:
                self._is_empty = True
                return
            raise ValueError("No variables to save")
        g = self._graph
        with g.as_default():
            with ops_lib.name_scope_v1(self._name, "save", [s.tensor.op for s in saveables]):
                filename = array_ops.placeholder_with_default(self._filename or "model",
                                                              shape=(), name="filename")
                filename = array_ops.placeholder_with_default(filename, shape=(), name="Const")
                if self._sharded:
                    per_device = self._group_by_device(saveables)
                    save_tensor = self._sharded_save_ops(filename, per_device)
                    restore_op = self._sharded_restore_ops(filename, per_device)
                else:
                    save_tensor = self._save_ops(filename, saveables)
                    restore_op = self._restore_ops(filename, saveables, name="restore_all")
        from gmeta.proto import SaverDef

        self.saver_def = SaverDef(filename_tensor_name=filename.name,
                                  save_tensor_name=save_tensor.name,
                                  restore_op_name=restore_op.name,
                                  max_to_keep=self._max_to_keep, sharded=self._sharded,
                                  keep_checkpoint_every_n_hours=self._keep_every_n_hours,
                                  version=SaverDef.V2)

    @staticmethod
    def _group_by_device(saveables):
        from gmeta.devices.spec import canonical_name

        per_device: dict = {}
        for s in saveables:
            per_device.setdefault(canonical_name(s.device), []).append(s)
        return sorted(per_device.items(), key=lambda t: t[0])

    @staticmethod
    def _save_ops(filename, saveables):
        # object arrays: a string constant of thousands of names converts without a per-element
        # scan for tensors
        names = np.array([s.name for s in saveables], dtype=object)
        slices = np.array([s.slice_spec for s in saveables], dtype=object)
        save = apply_op("SaveV2", prefix=filename, tensor_names=names, shape_and_slices=slices,
                        tensors=[s.tensor for s in saveables], name="SaveV2")
        return control_flow_ops.with_dependencies([save], filename)

    @staticmethod
    def _restore_ops(filename, saveables, name):
        g = ops_lib.get_default_graph()
        with g.device("cpu:0"):
            restored = apply_op("RestoreV2", prefix=filename,
                                tensor_names=np.array([s.name for s in saveables], dtype=object),
                                shape_and_slices=np.array([s.slice_spec for s in saveables],
                                                          dtype=object),
                                dtypes=[s.dtype for s in saveables], name="RestoreV2")
        if not isinstance(restored, list):
            restored = [restored]
        return control_flow_ops.group(*_restore_assigns(g, saveables, restored), name=name)

    def _sharded_save_ops(self, prefix, per_device):
        g = ops_lib.get_default_graph()
        with g.device("CPU"):
            is_s3 = apply_op("StaticRegexFullMatch", input=prefix, pattern="^s3://.*")
            suffix = array_ops.where(is_s3, constant_op.constant(".part"),
                                     constant_op.constant(os.path.normpath("_temp/part")))
            tmp_prefix = apply_op("StringJoin", inputs=[prefix, suffix])
        num_shards = constant_op.constant(len(per_device), name="num_shards")
        saves, prefixes = [], []
        last_device = None
        for shard, (device, saveables) in enumerate(per_device):
            last_device = device
            with g.device(_set_cpu0(device)):
                fname = apply_op("ShardedFilename", basename=tmp_prefix, shard=shard,
                                 num_shards=num_shards)
                prefixes.append(fname)
                saves.append(self._save_ops(fname, saveables))
        with g.control_dependencies([x.op for x in saves]):
            with g.device(_set_cpu0(last_device)):
                merge = apply_op("MergeV2Checkpoints", checkpoint_prefixes=prefixes,
                                 destination_prefix=prefix, delete_old_dirs=True)
                with g.control_dependencies([merge]):
                    return array_ops.identity(prefix)

    def _sharded_restore_ops(self, filename, per_device):
        g = ops_lib.get_default_graph()
        restores = []
        for device, saveables in per_device:
            with g.device(device):
                restores.append(self._restore_ops(filename, saveables, name="restore_shard"))
        return control_flow_ops.group(*restores, name="restore_all")

    # -- properties --------------------------------------------------------------------------------
    @property
    def last_checkpoints(self) -> list:
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        self._last_checkpoints = list(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths):
        """Takes over ``checkpoint_paths`` (e.g. ``get_checkpoint_state(...).
        all_model_checkpoint_paths``) for max_to_keep bookkeeping; missing ones are skipped."""
        found = [(p, os.path.getmtime(p + ".index")) for p in checkpoint_paths
                 if cm.checkpoint_exists(p)]
        self.set_last_checkpoints_with_time(found)

    def to_proto(self, export_scope=None):
        if self.saver_def is None:
            return None
        if export_scope and not all(meta_graph._in_scope(getattr(self.saver_def, f),
                                                         export_scope)
                                    for f in ("filename_tensor_name", "save_tensor_name",
                                              "restore_op_name")):
            return None
        from gmeta.proto import SaverDef

        sd = SaverDef()
        sd.CopyFrom(self.saver_def)
        for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            setattr(sd, field, meta_graph.strip_name_scope(getattr(sd, field), export_scope))
        return sd

    @staticmethod
    def from_proto(saver_def, import_scope=None):
        return Saver(saver_def=saver_def, name=import_scope)

    # -- save --------------------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Writes a checkpoint; returns its prefix (``save_path-<step>`` with a global step)."""
        if self.saver_def is None and not self._is_empty:
            self.build()
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        save_path = os.fspath(save_path)
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = int(sess.run(global_step))
            fmt = "{}-{:08d}" if self._pad_step_number else "{}-{:d}"
            checkpoint_file = fmt.format(save_path, int(global_step))
        else:
            checkpoint_file = save_path
            if os.path.basename(save_path) == latest_filename and not self._sharded:
                raise ValueError(f"'latest_filename' collides with 'save_path': "
                                 f"'{latest_filename}' and '{save_path}'")
        parent = os.path.dirname(save_path)
        if parent and not os.path.isdir(parent):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        model_checkpoint_path = None
        if not self._is_empty:
            result = sess.run(self.saver_def.save_tensor_name,
                              {self.saver_def.filename_tensor_name: checkpoint_file})
            model_checkpoint_path = result.decode() if isinstance(result, bytes) else str(result)
        if write_meta_graph:
            meta_file = cm.meta_graph_filename(checkpoint_file, meta_graph_suffix)
            with sess.graph.as_default():
                self.export_meta_graph(meta_file, strip_default_attrs=strip_default_attrs)
        if model_checkpoint_path is not None and write_state:
            save_dir = parent or "."
            self._maybe_recover(save_dir, latest_filename)
            doomed = self._record(model_checkpoint_path)
            cm.update_checkpoint_state(
                save_dir, model_checkpoint_path, self.last_checkpoints, latest_filename,
                all_model_checkpoint_timestamps=[t for _, t in self._last_checkpoints],
                save_relative_paths=self._save_relative_paths)
            for path in doomed:  # only once the new checkpoint and the state file are in place
                cm.remove_checkpoint(path, meta_graph_suffix)
        return model_checkpoint_path

    def _maybe_recover(self, save_dir, latest_filename):
        """Continue bookkeeping from an existing state file (TF starts empty on restart and
        never deletes the older files)."""
        key = (os.path.abspath(save_dir), latest_filename)
        if key in self._recovered_dirs or self._last_checkpoints or not self._max_to_keep:
            self._recovered_dirs.add(key)
            return
        self._recovered_dirs.add(key)
        try:
            state = cm.get_checkpoint_state(save_dir, latest_filename)
        except (errors.DataLossError, ValueError):
            return
        if state is None:
            return
        stamps = list(state.all_model_checkpoint_timestamps)
        paths = list(state.all_model_checkpoint_paths)
        found = []
        for i, p in enumerate(paths):
            if cm.checkpoint_exists(p):
                t = stamps[i] if len(stamps) == len(paths) else os.path.getmtime(p + ".index")
                found.append((p, t))
        self._last_checkpoints = found

    def _record(self, path) -> list:
        """Appends ``path`` to the kept checkpoints; returns the ones to delete (TF's
        ``max_to_keep`` and ``keep_checkpoint_every_n_hours`` rules)."""
        if not self._max_to_keep:
            self._last_checkpoints = [(path, time.time())]
            return []
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if p != path]
        self._last_checkpoints.append((path, time.time()))
        doomed = []
        while len(self._last_checkpoints) > self._max_to_keep:
            old, stamp = self._last_checkpoints.pop(0)
            if stamp > self._next_checkpoint_time:
                self._next_checkpoint_time += self._keep_every_n_hours * 3600
                continue  # kept on disk, no longer listed
            doomed.append(old)
        return doomed

    # -- restore -----------------------------------------------------------------------------------
    def restore(self, sess, save_path):
        """Restores every saved variable from the checkpoint at ``save_path``.

        Keys and shapes are checked first: nothing is assigned unless everything matches.

        Raises:
            ValueError: ``save_path`` is None or not a checkpoint.
            NotFoundError: keys missing from the checkpoint (all listed, with close matches).
            InvalidArgumentError: shapes or dtypes that differ (all listed).
        """
        if self._is_empty:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        if not cm.checkpoint_exists(save_path):
            raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}")
        self._check_against(sess.graph, save_path)
        sess.run(self.saver_def.restore_op_name,
                 {self.saver_def.filename_tensor_name: save_path})

    def _restore_requests(self, graph):
        """(key, slice spec, dtype, static shape of the target) of each tensor restored."""
        restore_op = graph.as_graph_element(self.saver_def.restore_op_name)
        seen, stack, out = set(), [restore_op], []
        while stack:
            op = stack.pop()
            if op in seen:
                continue
            seen.add(op)
            if op.type == "RestoreV2":
                names = constant_value(op.inputs[1])
                slices = constant_value(op.inputs[2])
                if names is None:
                    return None
                targets = {}
                for t in op.outputs:
                    for consumer in t.consumers():
                        if consumer.type in ("Assign", "AssignVariableOp"):
                            ref = consumer.inputs[0]
                            shape = ref.shape if consumer.type == "Assign" else None
                            targets[t.value_index] = (shape, consumer)
                for i, (n, s) in enumerate(zip(names.ravel(), slices.ravel())):
                    shape, consumer = targets.get(i, (None, None))
                    out.append((n.decode(), s.decode(), op.outputs[i].dtype, shape, consumer))
                continue
            stack.extend(op.control_inputs)
            stack.extend(t.op for t in op.inputs)
        return out

    def _check_against(self, graph, save_path):
        from gmeta.checkpoint import BundleReader

        requests = self._restore_requests(graph)
        if requests is None:
            return
        with BundleReader(save_path) as reader:
            keys = set(reader.keys())
            missing = sorted({r[0] for r in requests if r[0] not in keys})
            wanted = {r[0] for r in requests}
            if missing:
                unexpected = sorted(keys - wanted)
                lines = []
                for m in missing:
                    close = difflib.get_close_matches(m, unexpected, n=2, cutoff=0.6)
                    hint = f" (checkpoint has {', '.join(close)})" if close else ""
                    lines.append(f"  {m}{hint}")
                extra = f"\nIn the checkpoint but not in the graph: {', '.join(unexpected)}" \
                    if unexpected else ""
                raise errors.NotFoundError(
                    None, None, f"Restoring from checkpoint {save_path} failed: "
                                f"{len(missing)} key(s) of the graph are not in the checkpoint:\n"
                                + "\n".join(lines) + extra +
                                "\nMap names with Saver(var_list={checkpoint_name: variable}).")
            bad = []
            for name, spec, dtype, shape, _ in requests:
                if spec:
                    continue
                got_shape, got_dtype = reader.shape_and_dtype(name)
                if got_dtype != dtype.base_dtype:
                    bad.append(f"  {name}: checkpoint has {got_dtype.name}, graph expects "
                               f"{dtype.base_dtype.name}")
                elif shape is not None and shape.ndims is not None and \
                        not shape.is_compatible_with(got_shape) and not self._reshape:
                    bad.append(f"  {name}: checkpoint has shape {list(got_shape)}, the variable "
                               f"has {shape}")
            if bad:
                raise errors.InvalidArgumentError(
                    None, None, f"Restoring from checkpoint {save_path} failed (nothing was "
                                f"restored): the checkpoint does not fit the graph:\n"
                                + "\n".join(bad))

    # -- meta graph --------------------------------------------------------------------------------
    def export_meta_graph(self, filename=None, collection_list=None, as_text=False,
                          export_scope=None, clear_devices=False, clear_extraneous_savers=False,
                          strip_default_attrs=False, save_debug_info=False):
        graph = ops_lib.get_default_graph()
        return export_meta_graph(filename=filename, saver_def=self.saver_def,
                                 collection_list=collection_list, as_text=as_text,
                                 export_scope=export_scope, clear_devices=clear_devices,
                                 clear_extraneous_savers=clear_extraneous_savers,
                                 strip_default_attrs=strip_default_attrs, graph=graph)


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False,
                      strip_default_attrs=False, save_debug_info=False, **kwargs):
    """Returns the MetaGraphDef of ``graph`` (default graph), written to ``filename`` if given.

    As in TF, the module-level function writes no SaverDef unless ``saver_def`` is passed
    (``Saver.export_meta_graph`` and ``Saver.save`` pass theirs).
    """
    mgd, _ = meta_graph.export_scoped_meta_graph(
        filename=filename, meta_info_def=meta_info_def, graph_def=graph_def, graph=graph,
        export_scope=export_scope, as_text=as_text, clear_devices=clear_devices,
        saver_def=saver_def, clear_extraneous_savers=clear_extraneous_savers,
        strip_default_attrs=strip_default_attrs, collection_list=collection_list, **kwargs)
    return mgd


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None,
                      input_map=None, return_elements=None, device_map=None, graph=None,
                      **kwargs):
    """Imports a MetaGraph (file or proto) into ``graph`` (default graph).

    Args:
        meta_graph_or_file: a path to a binary or text .meta file, or a MetaGraphDef.
        clear_devices: blank every requested device.
        import_scope: prefix for every imported name.
        input_map: ``{"name:0": Tensor}`` replacing inputs (required for unbound inputs).
        return_elements: names to look up after import (see Returns).
        device_map: gmeta's remapping of recorded devices before anything is placed: rules
            ``{pattern: target}`` (partial device specs or globs, first match wins) or a
            callable(NodeDef) -> device string.

    Returns:
        A Saver built from the file's SaverDef; a new Saver over the imported variables when the
        file has variables but no SaverDef; None when it has neither. With ``return_elements``,
        ``(saver, elements)``.
    """
    with paused_gc():
        return _import_meta_graph(meta_graph_or_file, clear_devices, import_scope, input_map,
                                  return_elements, device_map, graph, **kwargs)


def _import_meta_graph(meta_graph_or_file, clear_devices, import_scope, input_map,
                       return_elements, device_map, graph, **kwargs):
    from gmeta.proto import MetaGraphDef

    graph = graph or ops_lib.get_default_graph()
    owned = not isinstance(meta_graph_or_file, MetaGraphDef)
    if owned:
        mgd = meta_graph.read_meta_graph_file(os.fspath(meta_graph_or_file))
    else:
        mgd = meta_graph_or_file
    with graph.as_default():
        imported_vars, elements = meta_graph.import_scoped_meta_graph_with_return_elements(
            mgd, clear_devices=clear_devices, graph=graph, import_scope=import_scope,
            input_map=input_map, return_elements=return_elements, device_map=device_map,
            _owned=owned, **kwargs)
        renames = getattr(graph, "_last_import_renames", {})
        if mgd.HasField("saver_def") and mgd.saver_def.restore_op_name:
            from gmeta.proto import SaverDef

            sd = SaverDef()
            sd.CopyFrom(mgd.saver_def)
            scope = graph._last_import_prefix.rstrip("/")
            for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
                setattr(sd, field, meta_graph._rename(getattr(sd, field), renames, scope))
            saver = Saver(saver_def=sd)
        elif graph.get_collection("variables", scope=import_scope):
            saver = Saver(var_list=list(imported_vars.values()) or None)
        else:
            log.info("Saver not created because there are no variables in the graph to "
                     "restore")
            saver = None
    if return_elements is not None:
        return saver, elements
    return saver


def _register():
    from gmeta.proto import SaverDef

    meta_graph.register_proto_function("savers", proto_type=SaverDef,
                                       to_proto=lambda s, export_scope=None:
                                       s.to_proto(export_scope),
                                       from_proto=Saver.from_proto)


_register()
