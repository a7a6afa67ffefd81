"""``import_graph_def``: GraphDef nodes into a Graph, losslessly, in any node order.

Every node keeps its attrs as they are in the file (the AttrValue protos, plus the defaults TF's
importer adds for attrs its OpDef declares), its inputs and its device string; ops gmeta cannot
run import and export intact. Cycles (while loops' NextIteration -> Merge) are fine: operations
are created first and linked afterwards.

Beyond TF: names that clash with existing nodes are made unique (``w`` -> ``w_1``) and the
returned rename map lets callers (import_meta_graph) make collections follow the new names.
"""

from __future__ import annotations


from gmeta import dtypes
from gmeta.devices import spec as device_spec
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework._gc import paused_gc
from gmeta.framework._graph_elements import Operation


def _parse_input(s: str):
    """'^x' -> ('x', -1); 'x:2' -> ('x', 2); 'x' -> ('x', 0)."""
    if s.startswith("^"):
        return s[1:], -1
    name, sep, idx = s.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return s, 0


def _copy_attr(av):
    from gmeta.proto import AttrValue

    out = AttrValue()
    out.CopyFrom(av)
    return out


def _renamed_prefix(name: str, renames: dict, prefix: str) -> str:
    """``prefix + name``, with its longest enclosing scope that was renamed on import replaced,
    so a uniquified ``w`` -> ``w_1`` takes ``w/read`` -> ``w_1/read`` along (as TF's importer)."""
    cut = name.rfind("/")
    while cut > 0:
        head = name[:cut]
        new_head = renames.get(head)
        if new_head is not None and new_head != prefix + head:
            return new_head + name[cut:]
        cut = name.rfind("/", 0, cut)
    return prefix + name


def _unique(g, name: str, taken: set) -> str:
    def exists(n):
        return n in g._nodes_by_name or n in taken or n.lower() in g._names_in_use

    if not exists(name):
        return name
    i = 1
    while exists(f"{name}_{i}"):
        i += 1
    return f"{name}_{i}"


def _unknown_output_types(attrs, max_index):
    # An op type TF's registry does not know: keep it intact, infer what we can.
    shapes = attrs.get("_output_shapes")
    n = max(max_index + 1, len(shapes.list.shape) if shapes is not None else 0)
    types = attrs.get("_output_types")
    if types is not None and len(types.list.type) >= n:
        return [dtypes.as_dtype(t) for t in types.list.type]
    guess = attrs.get("T") or attrs.get("dtype")
    t = dtypes.as_dtype(guess.type) if guess is not None and guess.type else dtypes.float32
    return [t] * n


def import_graph_def(graph_def, input_map=None, return_elements=None, name=None,
                     op_dict=None, producer_op_list=None, graph=None, clear_devices=False,
                     device_map=None, _prefix=None, _rename_map=None, _owned=False):
    """Imports ``graph_def`` into ``graph`` (default: the default graph).

    Args:
        graph_def: a ``GraphDef`` proto.
        input_map: ``{"name:i" | "name" | "^name": Tensor | Operation}`` replacing inputs.
        return_elements: names ("op" or "op:i") of elements to return.
        name: prefix for imported names (TF's default "import"; "" for none).
        clear_devices: blank every node's requested device.
        device_map: callable(NodeDef) -> device string, applied to each requested device
            (gmeta's remapping; see gm.train.import_meta_graph).

    Returns:
        The elements named in ``return_elements`` (None when it is None).

    Raises:
        ValueError: an input refers to a node that does not exist, an input_map key is never
            used, a node has the wrong number of inputs for its OpDef.
    """
    with paused_gc():
        return _import_graph_def(graph_def, input_map, return_elements, name, graph,
                                 clear_devices, device_map, _prefix, _rename_map, _owned)


_DTYPES = dict(dtypes._BY_ENUM)  # DataType enum -> DType


class _OpInfo:
    """What the importer needs of one op type, looked up once per import."""

    __slots__ = ("sig", "op_def", "fixed_types", "type_attr", "ref", "defaults", "input_count")

    def __init__(self, op_type):
        sig = op_def_library.signature(op_type)
        self.sig = sig
        self.op_def = None if sig is None else sig.proto
        self.fixed_types = None  # output dtypes when no attr decides them
        self.type_attr = None  # the attr that alone decides the single output's dtype
        self.ref = False
        self.defaults = ()
        self.input_count = None  # data inputs when no attr decides how many
        if sig is None:
            return
        self.defaults = sig.defaults
        outs = sig.output_arg
        if not any(a.number_attr or a.type_list_attr or a.type_attr for a in outs):
            self.fixed_types = op_def_library.output_types_for(sig, {})
        elif len(outs) == 1 and outs[0].type_attr and not (outs[0].number_attr or
                                                           outs[0].type_list_attr):
            self.type_attr = outs[0].type_attr
            self.ref = outs[0].is_ref
        if not any(a.number_attr or a.type_list_attr for a in sig.input_arg):
            self.input_count = len(sig.input_arg)

    def output_types(self, name, op_type, attrs) -> list:
        try:
            if self.type_attr is not None:
                enum = attrs[self.type_attr].type
                dtype = _DTYPES.get(enum) or dtypes.as_dtype(enum)
                return [dtype._as_ref if self.ref else dtype]
            return op_def_library.output_types_for(self.sig, attrs)
        except KeyError as e:
            raise ValueError(f"Node '{name}' ({op_type}) lacks attr {e.args[0]!r}, which its "
                             "OpDef needs to know its output types") from None


def _import_graph_def(graph_def, input_map, return_elements, name, graph, clear_devices,
                      device_map, _prefix, _rename_map, _owned=False):
    g = graph or ops_lib.get_default_graph()
    input_map = dict(input_map or {})
    if _prefix is None:
        if name is None:
            name = "import"
        with g.name_scope(name) as scope:
            prefix = scope
    else:
        prefix = _prefix
    if g._finalized:
        raise RuntimeError("Graph is finalized and cannot be modified.")

    norm_map = {}
    for key, value in input_map.items():
        k = key.name if isinstance(key, ops_lib.Tensor) else str(key)
        if not k.startswith("^") and ":" not in k:
            k += ":0"
        norm_map[k] = value
    used_keys = set()

    # -- pass 1: create operations ----------------------------------------------------------------
    if _owned:
        own = graph_def  # the caller's own parse, which nothing else holds
    else:
        from gmeta.proto import GraphDef

        own = GraphDef()
        own.CopyFrom(graph_def)  # operations keep references to its attr maps
    nodes = own.node
    max_index = None  # highest output index each node is read at (only for unknown op types)
    infos: dict = {}
    new_ops: dict = {}
    renames: dict = {}
    renamed_any = False
    created = []
    colocated = []  # (op, its _class attr, its requested device)
    taken: set = set()
    recorded_shapes: dict = {}
    controls: dict = {}  # op -> its control inputs
    deferred = []  # (node, op) linked in pass 2
    nodes_by_name = g._nodes_by_name
    used = g._names_in_use
    stack_devices = bool(g._device_stack) and not clear_devices
    # a fresh graph (names in use: at most the import scope) cannot clash with imported names
    empty_graph = not nodes_by_name and all(k == prefix[:-1].lower() for k in used)
    for node in nodes:
        name, op_type = node.name, node.op
        info = infos.get(op_type)
        if info is None:
            info = infos[op_type] = _OpInfo(op_type)
        attrs = node.attr
        missing = [(k, v) for k, v in info.defaults if k not in attrs]
        if missing:  # TF's importer adds the attrs a file left out (strip_default_attrs)
            attrs = dict(attrs.items())
            attrs.update(missing)
        recorded = "_output_shapes" in attrs  # TF's shapes; decoded lazily (Tensor.shape)
        out_types = info.fixed_types
        if out_types is None:
            if info.sig is not None:
                out_types = info.output_types(name, op_type, attrs)
            else:
                if max_index is None:
                    max_index = _max_output_index(nodes)
                out_types = _unknown_output_types(attrs, max_index.get(name, 0))
        plain = prefix + name
        new_name = _renamed_prefix(name, renames, prefix) if renamed_any else plain
        if new_name in taken or (not empty_graph and (new_name in nodes_by_name or
                                                      new_name.lower() in used)):
            new_name = _unique(g, new_name, taken)
        if new_name != plain:
            renamed_any = True
        taken.add(new_name)
        renames[name] = new_name
        if clear_devices:
            device = ""
        elif device_map is not None:
            device = device_map(node) or ""
        else:
            device = node.device
        op = Operation(g, new_name, op_type, (), out_types, attrs, info.op_def, device,
                       recorded)
        if prefix and op_type in ("Enter", "RefEnter") and "frame_name" in attrs:
            frame = _copy_attr(attrs["frame_name"])
            frame.s = prefix.encode() + frame.s  # as TF's importer prefixes loop frames
            op._set_attr("frame_name", frame)
        if recorded:
            recorded_shapes[op] = True
        if node.HasField("experimental_type"):
            op._full_type = node.experimental_type
        if stack_devices:
            g._apply_device_functions(op)
        cls = attrs.get("_class")
        if cls is not None:
            colocated.append((op, cls, device))
        new_ops[name] = op
        created.append((node, op))
        # link now when every input is already made (files are usually in topological order);
        # anything else (forward edges, input_map, errors) is left to pass 2
        inputs = []
        ctrl = None
        for inp in node.input:
            if inp[0] == "^":
                src_op = new_ops.get(inp[1:])
                if src_op is None or norm_map:
                    break
                if ctrl is None:
                    ctrl = [src_op]
                else:
                    ctrl.append(src_op)
                continue
            if ":" in inp:
                src, idx = _parse_input(inp)
            else:
                src, idx = inp, 0
            src_op = new_ops.get(src)
            if src_op is None or norm_map or idx >= len(src_op._outputs):
                break
            inputs.append(src_op._outputs[idx])
        else:
            want = info.input_count
            if want is None and info.sig is not None:
                want = op_def_library.input_count_for(info.sig, op._attrs)
            if want is None or want == len(inputs):
                op._inputs = inputs
                if ctrl is not None:
                    controls[op] = ctrl
                continue
        deferred.append((node, op))

    # -- pass 2: link inputs -----------------------------------------------------------------------
    for node, op in deferred:
        inputs, ctrl = [], []
        for inp in node.input:
            if inp[0] == "^":
                src, idx = inp[1:], -1
            elif ":" in inp:
                src, idx = _parse_input(inp)
            else:
                src, idx = inp, 0
            if norm_map:
                key = f"^{src}" if idx < 0 else f"{src}:{idx}"
                if key in norm_map:
                    used_keys.add(key)
                    mapped = norm_map[key]
                    if idx < 0:
                        ctrl.append(ops_lib._as_operation(mapped))
                    else:
                        inputs.append(ops_lib.convert_to_tensor(mapped))
                    continue
            src_op = new_ops.get(src)
            if src_op is None:
                raise ValueError(f"Node '{node.name}' ({node.op}) has input '{inp}', but no node "
                                 f"named '{src}' is in the GraphDef (and no input_map entry "
                                 "replaces it)")
            if idx < 0:
                ctrl.append(src_op)
            else:
                if idx >= len(src_op._outputs):
                    raise ValueError(f"Node '{node.name}' has input '{inp}', but '{src}' "
                                     f"({src_op._type}) has only {len(src_op._outputs)} outputs")
                inputs.append(src_op._outputs[idx])
        info = infos[op._type]
        if info.sig is not None:
            want = info.input_count
            if want is None:
                want = op_def_library.input_count_for(info.sig, op._attrs)
            if want != len(inputs):
                raise ValueError(f"Node '{node.name}' ({node.op}) has {len(inputs)} data inputs "
                                 f"but its OpDef takes {want}")
        op._inputs = inputs
        if ctrl:
            controls[op] = ctrl

    unused = sorted(set(norm_map) - used_keys)
    if unused:
        raise ValueError(f"Attempted to map inputs that were not found in graph_def: "
                         f"[{', '.join(unused)}]")

    # -- pass 3: colocation devices, add to the graph, shapes --------------------------------------
    if colocated:
        _colocate(g, colocated, renames if renamed_any or prefix else None, new_ops,
                  clear_devices)
    if stack_devices or device_map is not None:
        for node, op in created:
            if op._device and op._device != node.device:
                op._device = device_spec.canonical_name(op._device)
    g._add_imported_ops([op for _, op in created], controls)
    _mark_all_used(g, [op._name for _, op in created])
    if len(recorded_shapes) < len(created):
        _infer_shapes(created, recorded_shapes)

    if _rename_map is not None:
        _rename_map.update(renames)
    if return_elements is None:
        return None
    out = []
    for el in return_elements:
        src, idx = _parse_input(el)
        op = new_ops.get(src)
        if op is None:
            raise ValueError(f"Requested return_element {el!r} not found in graph_def.")
        if ":" in el:
            out.append(op._outputs[idx])
        else:
            out.append(op)
    return out


def _max_output_index(nodes) -> dict:
    max_index: dict = {}
    for node in nodes:
        for inp in node.input:
            if inp[0] != "^":
                src, idx = _parse_input(inp)
                if idx > max_index.get(src, 0):
                    max_index[src] = idx
    return max_index


def _colocate(g, colocated, renames, new_ops, clear_devices) -> None:
    """Each ``(op, _class attr, requested device)``: ``loc:@x`` is pointed at x's imported name
    (``renames``: None when every name is as in the file) and the op takes x's device."""
    nodes_by_name = g._nodes_by_name
    for op, cls, device in colocated:
        groups = cls.list.s
        if not groups:
            continue
        renamed = []
        changed = False
        target_device = None
        for s in groups:
            if s.startswith(b"loc:@"):
                target = s[5:].decode()
                top = new_ops.get(target)
                new_target = target if renames is None or top is None else renames[target]
                if top is None:
                    top = nodes_by_name.get(target)
                    if top is None:
                        raise ValueError(f"Specified colocation to an op that does not exist "
                                         f"during import: {target} in {op.name}")
                if target_device is None and top._device:
                    target_device = top._device
                if new_target != target:
                    changed = True
                    s = b"loc:@" + new_target.encode()
            renamed.append(s)
        if changed:
            from gmeta.proto import AttrValue

            av = AttrValue()
            av.list.s.extend(renamed)
            op._set_attr("_class", av)
        if not clear_devices and target_device and target_device != op._device:
            op._device = target_device
        if op._device and op._device != device:
            op._device = device_spec.canonical_name(op._device)


def _mark_all_used(g, names) -> None:
    """Marks each name and its enclosing scopes as used, so later ops and scopes built with the
    same names get ``_1`` suffixes instead of clashing."""
    used = g._names_in_use
    done: set = set()  # scopes whose enclosing scopes are all marked
    for name in names:
        key = name.lower()
        if key not in used:
            used[key] = 1
        cut = key.rfind("/")
        while cut > 0:
            head = key[:cut]
            if head in done:
                break
            done.add(head)
            if head not in used:
                used[head] = 1
            cut = key.rfind("/", 0, cut)


def _infer_shapes(created, recorded_shapes) -> None:
    """Static shapes: the file's ``_output_shapes`` where present (what TF inferred when it
    wrote the file), else shape inference run in dependency order (back edges of loops see what
    is known so far)."""
    from gmeta.framework import shape_inference

    done = set()
    pending = {op: [t._op for t in op._inputs] for _, op in created}
    order = []
    visiting = set()

    def visit(op):
        stack = [(op, iter(pending.get(op, ())))]
        visiting.add(op)
        while stack:
            cur, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                visiting.discard(cur)
                if cur not in done:
                    done.add(cur)
                    order.append(cur)
                continue
            if nxt in done or nxt in visiting or nxt not in pending:
                continue
            visiting.add(nxt)
            stack.append((nxt, iter(pending[nxt])))

    for _, op in created:
        if op not in done:
            visit(op)
    for op in order:
        if op in recorded_shapes:
            continue  # decoded on first use
        try:
            shape_inference.infer(op)
        except ValueError:
            pass  # shapes stay unknown, as TF leaves them when its shape function fails
