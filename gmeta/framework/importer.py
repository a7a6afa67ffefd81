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
from gmeta.framework._graph_elements import _new_operation


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


def _renamed_prefix(name: str, new_ops: dict, prefix: str) -> str:
    """``prefix + name``, with its longest enclosing scope that was renamed on import replaced,
    so a uniquified ``w`` -> ``w_1`` takes ``w/read`` -> ``w_1/read`` along (as TF's importer).
    ``new_ops``: the operations imported so far by their names in the file."""
    cut = name.rfind("/")
    while cut > 0:
        head = name[:cut]
        op = new_ops.get(head)
        if op is not None and op._name != prefix + head:
            return op._name + name[cut:]
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

    __slots__ = ("sig", "op_def", "fixed_types", "type_attr", "ref", "defaults", "default_keys",
                 "input_count", "by_enum")

    def __init__(self, op_type):
        sig = op_def_library.signature(op_type)
        self.sig = sig
        self.op_def = None if sig is None else sig.proto
        self.fixed_types = None  # output dtypes when no attr decides them
        self.type_attr = None  # the attr that alone decides the single output's dtype
        self.ref = False
        self.defaults = ()
        self.default_keys = ()
        self.input_count = None  # data inputs when no attr decides how many
        self.by_enum: dict = {}  # type_attr's DataType enum -> output dtypes (shared, read-only)
        if sig is None:
            return
        self.defaults = sig.defaults
        self.default_keys = tuple(k for k, _ in sig.defaults)
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
                out = self.by_enum[enum] = [dtype._as_ref if self.ref else dtype]
                return out
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
    new_ops: dict = {}  # file name -> operation
    renamed_any = False
    created = []
    colocated = []  # (op, its _class attr, its requested device, its device before pass 1
    #                   applied the colocation, or _PENDING when it did not)
    pending = False  # an op's colocation is left to pass 3 (which then does them all)
    early_coloc = not prefix  # colocation in pass 1 while every name is as in the file
    taken = None  # the new names so far, once one differs from prefix + file name
    unrecorded = []  # operations without _output_shapes (shape inference runs for them)
    controls: dict = {}  # op -> its control inputs
    deferred = []  # (node, op) linked in pass 2
    nodes_by_name = g._nodes_by_name
    used = g._names_in_use
    stack_devices = bool(g._device_stack) and not clear_devices
    fix_devices = [] if stack_devices or device_map is not None else None  # (op, file device)
    link_now = not norm_map  # input_map entries are applied in pass 2
    # a fresh graph (names in use: at most the import scope) cannot clash with imported names
    empty_graph = not nodes_by_name and all(k == prefix[:-1].lower() for k in used)
    file_devices = not clear_devices and device_map is None  # devices as the file has them
    specs: dict = {}  # op type -> (its _OpInfo and the fields the loop reads of it)
    new_op = _new_operation
    for node in nodes:
        name = node.name
        op_type = node.op
        spec = specs.get(op_type)
        if spec is None:
            info = infos[op_type] = _OpInfo(op_type)
            spec = specs[op_type] = (op_type, info, info.fixed_types, info.type_attr,
                                     info.by_enum, info.default_keys, info.op_def)
        # (the op type string: one object for all nodes of a type)
        op_type, info, out_types, type_attr, by_enum, default_keys, op_def = spec
        attrs = node.attr
        for key in default_keys:
            if key not in attrs:  # TF's importer adds the attrs a file left out
                attrs = dict(attrs.items())  # (strip_default_attrs)
                attrs.update([(k, v) for k, v in info.defaults if k not in attrs])
                break
        if out_types is None:
            if type_attr is not None:
                av = attrs.get(type_attr)
                if av is not None:
                    out_types = by_enum.get(av.type)
            if out_types is None:
                if info.sig is not None:
                    out_types = info.output_types(name, op_type, attrs)
                else:
                    if max_index is None:
                        max_index = _max_output_index(nodes)
                    out_types = _unknown_output_types(attrs, max_index.get(name, 0))
        new_name = prefix + name if prefix else name
        if renamed_any:
            new_name = _renamed_prefix(name, new_ops, prefix)
            if new_name in taken or (not empty_graph and (new_name in nodes_by_name or
                                                          new_name.lower() in used)):
                new_name = _unique(g, new_name, taken)
            taken.add(new_name)
        elif name in new_ops or (not empty_graph and (new_name in nodes_by_name or
                                                      new_name.lower() in used)):
            taken = {op._name for op in created}
            new_name = _unique(g, new_name, taken)
            taken.add(new_name)
            renamed_any = True
        if file_devices:
            device = node.device
        elif clear_devices:
            device = ""
        else:
            device = device_map(node) or ""
        recorded = "_output_shapes" in attrs  # TF's shapes; decoded lazily (Tensor.shape)
        op = new_op(g, new_name, op_type, [], out_types, attrs, op_def, device, recorded)
        if not recorded:
            unrecorded.append(op)
        if prefix and op_type in ("Enter", "RefEnter") and "frame_name" in attrs:
            frame = _copy_attr(attrs["frame_name"])
            frame.s = prefix.encode() + frame.s  # as TF's importer prefixes loop frames
            op._set_attr("frame_name", frame)
        if node.HasField("experimental_type"):
            op._full_type = node.experimental_type
        if stack_devices:
            g._apply_device_functions(op)
        if fix_devices is not None:
            fix_devices.append((op, node.device))
        cls = attrs.get("_class")
        if cls is not None:
            # colocated with an op imported before (the usual variable -> Assign, read): set
            # now, while both are at hand; _colocate does it in pass 3 for the others
            pre = _PENDING
            if early_coloc and not pending and not renamed_any:
                top = new_ops.get(_single_target(cls))
                if top is not None:
                    pre = op._device
                    if not clear_devices and top._device and top._device != pre:
                        op._device = top._device
                    if op._device and op._device != device:
                        op._device = device_spec.canonical_name(op._device)
            if pre is _PENDING:
                pending = True
            colocated.append((op, cls, device, pre))
        new_ops[name] = op
        created.append(op)
        # link now when every input is already made (files are usually in topological order);
        # anything else (forward edges, input_map, errors) is left to pass 2
        if link_now:
            inputs = op._inputs
            ctrl = None
            for inp in node.input:
                if inp[0] == "^":
                    src_op = new_ops.get(inp[1:])
                    if src_op is None:
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
                if src_op is None or idx >= len(src_op._outputs):
                    break
                inputs.append(src_op._outputs[idx])
            else:
                want = info.input_count
                if want is None and info.sig is not None:
                    want = op_def_library.input_count_for(info.sig, op._attrs)
                if want is None or want == len(inputs):
                    if ctrl is not None:
                        controls[op] = ctrl
                    continue
            inputs.clear()
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
    if colocated and (pending or renamed_any):
        # pass 1 colocated each op as this pass would have, unless one had to wait for its
        # target or a later name changed: then this pass does them all, in order
        for op, _, _, pre in colocated:
            if pre is not _PENDING:
                op._device = pre
        _colocate(g, colocated, new_ops, renamed_any or bool(prefix), clear_devices)
    if fix_devices:
        for op, device in fix_devices:
            if op._device and op._device != device:
                op._device = device_spec.canonical_name(op._device)
    g._add_imported_ops(created, controls, None if renamed_any or prefix else new_ops)
    _mark_all_used(g, [op._name for op in created] if renamed_any or prefix else new_ops)
    if unrecorded:
        _infer_shapes(created, unrecorded)

    if _rename_map is not None and (renamed_any or prefix):
        # left empty when every name is as in the file
        _rename_map.update({n: op._name for n, op in new_ops.items()})
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


def _colocate(g, colocated, new_ops, any_renamed, clear_devices) -> None:
    """Each ``(op, _class attr, requested device, _)``: ``loc:@x`` is pointed at x's imported
    name (``any_renamed``: False when every name is as in the file) and the op takes x's
    device."""
    nodes_by_name = g._nodes_by_name
    for op, cls, device, _ in colocated:
        groups = _list_s(cls)
        if not groups:
            continue
        renamed = [] if any_renamed else None  # the groups, pointed at the imported names
        changed = False
        target_device = None
        for s in groups:
            if s.startswith(b"loc:@"):
                target = s[5:].decode()
                top = new_ops.get(target)
                if top is None:
                    top = nodes_by_name.get(target)
                    if top is None:
                        raise ValueError(f"Specified colocation to an op that does not exist "
                                         f"during import: {target} in {op.name}")
                elif renamed is not None and top._name != target:
                    changed = True
                    s = b"loc:@" + top._name.encode()
                if target_device is None and top._device:
                    target_device = top._device
            if renamed is not None:
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


_PENDING = object()


def _single_target(av):
    """``x`` when the AttrValue ``av`` is exactly ``{list {s: "loc:@x"}}`` (x ASCII, the whole
    short message ``0A n-2 12 n-4 loc:@x``), else None."""
    wire = av.SerializeToString()
    n = len(wire)
    if 9 <= n < 128 and wire[0] == 0x0A and wire[1] == n - 2 and wire[2] == 0x12 and \
            wire[3] == n - 4 and wire.startswith(b"loc:@", 4) and wire.isascii():
        return wire[9:].decode()
    return None


def _list_s(av):
    """``av.list.s`` of an AttrValue; read from its wire bytes when it is the usual single
    short string, ``{list {s: X}}`` (``0A n-2 12 n-4 X``, cheaper than the proto API's
    containers; the bytes decode to nothing else)."""
    wire = av.SerializeToString()
    n = len(wire)
    if 4 <= n < 128 and wire[0] == 0x0A and wire[1] == n - 2 and wire[2] == 0x12 and \
            wire[3] == n - 4:
        return (wire[4:],)
    return av.list.s


def _mark_all_used(g, names) -> None:
    """Marks each name and its enclosing scopes as used, so later ops and scopes built with the
    same names get ``_1`` suffixes instead of clashing (names are compared lowercased)."""
    joined = "\n".join(names)
    keys = joined.lower().split("\n") if joined.isascii() else []
    if len(keys) != len(names):  # non-ASCII names, or names with newlines: one at a time
        keys = [n.lower() for n in names]
    marked = dict.fromkeys(keys, 1)
    # the enclosing scopes, a level at a time ("a/b/c" -> "a/b" -> "a"; "/x" has none)
    level = {k.rpartition("/")[0] for k in keys}
    while level:
        level.discard("")
        level.difference_update(marked)
        marked.update(dict.fromkeys(level, 1))
        level = {k.rpartition("/")[0] for k in level}
    used = g._names_in_use
    if used:  # names already in use keep their counts
        used.update(dict.fromkeys(set(marked).difference(used), 1))
    else:
        g._names_in_use = marked


def _infer_shapes(created, unrecorded) -> None:
    """Static shapes: the file's ``_output_shapes`` where present (what TF inferred when it
    wrote the file), else shape inference run in dependency order (back edges of loops see what
    is known so far)."""
    from gmeta.framework import shape_inference

    done = set()
    pending = {op: [t._op for t in op._inputs] for op in created}
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

    for op in created:
        if op not in done:
            visit(op)
    unrecorded = set(unrecorded)
    for op in order:
        if op not in unrecorded:
            continue  # decoded on first use
        try:
            shape_inference.infer(op)
        except ValueError:
            pass  # shapes stay unknown, as TF leaves them when its shape function fails
