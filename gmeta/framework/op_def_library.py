"""Creating ops from their OpDef: input conversion, type-attr inference and default attrs.

``apply_op("MatMul", a=x, b=w, transpose_a=True, name="mm")`` converts the inputs to tensors,
infers ``T`` from them, fills every attr TF's OpDef declares (with its default), checks allowed
types, and adds a complete NodeDef-shaped Operation to the graph — the same node TF's generated
``gen_*_ops`` wrappers and C API build.
"""

from __future__ import annotations

import contextlib

from gmeta import dtypes
from gmeta.framework import attr_value as attr_lib
from gmeta.framework import op_def_registry
from gmeta.framework import ops as ops_lib


class _Arg:
    """An OpDef arg as plain Python (reading the protos field by field costs microseconds)."""

    __slots__ = ("name", "type", "type_attr", "number_attr", "type_list_attr", "is_ref")

    def __init__(self, arg):
        self.name, self.type, self.type_attr = arg.name, arg.type, arg.type_attr
        self.number_attr, self.type_list_attr, self.is_ref = (arg.number_attr,
                                                               arg.type_list_attr, arg.is_ref)


class _Attr:
    __slots__ = ("name", "type", "default_value", "allowed", "has_minimum", "minimum")

    def __init__(self, attr):
        self.name, self.type = attr.name, attr.type
        self.default_value = attr.default_value if attr.HasField("default_value") else None
        allowed = attr.allowed_values.list.type if attr.HasField("allowed_values") else ()
        self.allowed = tuple(allowed) or None  # in the OpDef's order, as TF's errors list them
        self.has_minimum, self.minimum = attr.has_minimum, attr.minimum

    def HasField(self, field: str) -> bool:  # noqa: N802 - the proto spelling callers use
        return getattr(self, field) is not None


class _OpSignature:
    """What building a node needs of an OpDef, decoded once per op type."""

    __slots__ = ("proto", "name", "input_arg", "output_arg", "attr", "attr_by_name", "defaults")

    def __init__(self, op_def):
        self.proto = op_def
        self.name = op_def.name
        self.input_arg = [_Arg(a) for a in op_def.input_arg]
        self.output_arg = [_Arg(a) for a in op_def.output_arg]
        self.attr = [_Attr(a) for a in op_def.attr]
        self.attr_by_name = {a.name: a for a in self.attr}
        self.defaults = tuple((a.name, a.default_value) for a in self.attr
                              if a.default_value is not None)


_SIGNATURES: dict = {}


def signature(op_type: str):
    """The decoded OpDef of ``op_type`` (``.proto`` is the OpDef itself), or None."""
    sig = _SIGNATURES.get(op_type)
    if sig is None:
        op_def = op_def_registry.get(op_type)
        if op_def is None:
            return None
        sig = _SIGNATURES[op_type] = _OpSignature(op_def)
    return sig


def _as_type(value, op_type, attr_name) -> dtypes.DType:
    try:
        return dtypes.as_dtype(value)
    except TypeError:
        raise TypeError(f"Expected DataType for argument '{attr_name}' of op '{op_type}', not "
                        f"{value!r}.") from None


def _check_allowed(op_def, attr_name, dtype, arg_name):
    attr = op_def.attr_by_name.get(attr_name)
    allowed = attr.allowed if attr is not None else None
    if allowed and dtype.as_datatype_enum not in allowed:
        names = ", ".join(dtypes.as_dtype(t).name for t in allowed)
        raise TypeError(f"Value passed to parameter '{arg_name}' has DataType "
                        f"{dtype.name} not in list of allowed values: {names}")


def _convert(value, dtype, name, as_ref, preferred, op_type, arg_name):
    try:
        return ops_lib.convert_to_tensor(value, dtype=dtype, name=name, as_ref=as_ref,
                                         preferred_dtype=preferred)
    except (TypeError, ValueError) as e:
        want = f" of type {dtype.name}" if dtype is not None else ""
        raise type(e)(f"Input '{arg_name}' of '{op_type}' Op{want} could not be converted: {e}") \
            from None


def apply_op(op_type: str, name=None, **keywords):
    """Adds an ``op_type`` node built from keyword inputs and attrs; returns its outputs.

    Returns the Operation when the op has no outputs, the Tensor when it has one output, else
    the list of outputs.
    """
    op = create_op_from_def(op_type, name, keywords)
    outs = op._outputs
    if not outs:
        return op
    out_args = signature(op_type).output_arg
    if len(out_args) == 1 and len(outs) == 1 and not (out_args[0].number_attr or
                                                      out_args[0].type_list_attr):
        return outs[0]
    return outs


def create_op_from_def(op_type: str, name, keywords: dict):
    op_def = signature(op_type)
    if op_def is None:
        raise ValueError(f"Unknown op type {op_type!r}: no OpDef is registered for it")
    keywords = dict(keywords)
    g = _graph_for(keywords, op_def)
    with g.as_default(), g.name_scope(name or op_type) as scope:
        inferred: dict[str, object] = {}
        inputs: list = []
        ref_args: list = []  # inputs whose OpDef arg is a ref
        for arg in op_def.input_arg:
            if arg.name not in keywords:
                raise TypeError(f"{op_type} missing required input argument '{arg.name}'")
            value = keywords.pop(arg.name)
            if arg.number_attr:
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"Expected list for '{arg.name}' argument to '{op_type}' Op, "
                                    f"not {value!r}.")
                inferred[arg.number_attr] = len(value)
                dtype = _known_type(arg, inferred, keywords, op_type)
                if dtype is None:
                    tensors = []
                    for i, v in enumerate(value):
                        t = _convert(v, None, f"{arg.name}_{i}", arg.is_ref, None, op_type,
                                     arg.name)
                        tensors.append(t)
                        if dtype is None:
                            dtype = t.dtype.base_dtype
                    if any(isinstance(v, ops_lib.Tensor) and t.dtype.base_dtype != dtype
                           for v, t in zip(value, tensors)):
                        names = ", ".join(t.dtype.base_dtype.name for t in tensors)
                        raise TypeError(f"Tensors in list passed to '{arg.name}' of "
                                        f"'{op_type}' Op have types [{names}] that don't all "
                                        "match.")
                    tensors = [t if t.dtype.base_dtype == dtype else
                               _convert(t, dtype, None, arg.is_ref, None, op_type, arg.name)
                               for t in tensors]
                else:
                    tensors = [_convert(v, dtype, f"{arg.name}_{i}", arg.is_ref, None, op_type,
                                        arg.name) for i, v in enumerate(value)]
                if arg.type_attr and tensors:
                    inferred[arg.type_attr] = tensors[0].dtype.base_dtype
                inputs.extend(tensors)
                if arg.is_ref:
                    ref_args.extend(tensors)
            elif arg.type_list_attr:
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"Expected list for '{arg.name}' argument to '{op_type}' Op, "
                                    f"not {value!r}.")
                given = keywords.get(arg.type_list_attr, inferred.get(arg.type_list_attr))
                tensors = [_convert(v, None if given is None else given[i], f"{arg.name}_{i}",
                                    arg.is_ref,
                                    None, op_type, arg.name) for i, v in enumerate(value)]
                inferred[arg.type_list_attr] = [t.dtype.base_dtype for t in tensors]
                inputs.extend(tensors)
            else:
                dtype = _known_type(arg, inferred, keywords, op_type)
                if dtype is not None and isinstance(value, ops_lib.Tensor) and \
                        value.dtype.base_dtype != dtype:
                    earlier = f"type {dtype.name} of argument '{_source_of(arg, op_def)}'" \
                        if arg.type_attr else f"expected type of {dtype.name}"
                    raise TypeError(f"Input '{arg.name}' of '{op_type}' Op has type "
                                    f"{value.dtype.base_dtype.name} that does not match "
                                    f"{earlier}.")
                t = None
                if dtype is None and arg.type_attr:
                    preferred = _attr_default_type(op_def, arg.type_attr)
                    allowed = _allowed_types(op_def, arg.type_attr)
                    if allowed and not isinstance(value, ops_lib.Tensor):
                        # TF converts without a dtype first and keeps the result when its type
                        # is allowed; otherwise it converts again with the attr's default.
                        try:
                            t = ops_lib.convert_to_tensor(value, name=arg.name)
                        except (TypeError, ValueError):
                            t = None
                        if t is not None and t.dtype.base_dtype.as_datatype_enum not in allowed:
                            t = None
                    if t is None:
                        t = _convert(value, None, arg.name, arg.is_ref, preferred, op_type,
                                     arg.name)
                else:
                    t = _convert(value, dtype, arg.name, arg.is_ref, None, op_type, arg.name)
                if arg.is_ref and not t.dtype.is_ref_dtype:
                    raise TypeError(f"'{op_type}' Op requires that input '{arg.name}' be a "
                                    f"mutable tensor (e.g. a ref Variable): {t.name} is not")
                if arg.type_attr and arg.type_attr not in inferred:
                    inferred[arg.type_attr] = t.dtype.base_dtype
                elif arg.type_attr and t.dtype.base_dtype != inferred[arg.type_attr]:
                    raise TypeError(f"Input '{arg.name}' of '{op_type}' Op has type "
                                    f"{t.dtype.base_dtype.name} that does not match type "
                                    f"{dtypes.as_dtype(inferred[arg.type_attr]).name} of "
                                    f"argument '{_source_of(arg, op_def)}'.")
                if arg.type and t.dtype.base_dtype.as_datatype_enum != arg.type:
                    raise TypeError(f"Input '{arg.name}' of '{op_type}' Op has type "
                                    f"{t.dtype.base_dtype.name} that does not match expected "
                                    f"type of {dtypes.as_dtype(arg.type).name}.")
                inputs.append(t)
                if arg.is_ref:
                    ref_args.append(t)
            if arg.type_attr and arg.type_attr in inferred:
                _check_allowed(op_def, arg.type_attr, dtypes.as_dtype(inferred[arg.type_attr]),
                               arg.name)

        attrs = {}
        for attr in op_def.attr:
            if attr.name in inferred:
                value = inferred[attr.name]
                keywords.pop(attr.name, None)
            elif attr.name in keywords:
                value = keywords.pop(attr.name)
                if value is None and attr.HasField("default_value"):
                    attrs[attr.name] = attr.default_value
                    continue
            elif attr.HasField("default_value"):
                attrs[attr.name] = attr.default_value
                continue
            else:
                raise TypeError(f"No argument for attr {attr.name} of op {op_type}")
            if attr.type == "type":
                value = _as_type(value, op_type, attr.name)
                _check_allowed(op_def, attr.name, value, attr.name)
            try:
                attrs[attr.name] = attr_lib.make_attr_value(attr.type, value)
            except (TypeError, ValueError) as e:
                raise TypeError(f"Attr '{attr.name}' of op '{op_type}' expects {attr.type}, got "
                                f"{value!r}: {e}") from None
            if attr.type == "int" and attr.has_minimum and value < attr.minimum:
                raise ValueError(f"Attr '{attr.name}' of '{op_type}' Op passed {value} less than "
                                 f"minimum {attr.minimum}.")
        if keywords:
            raise TypeError(f"{op_type} got unexpected keyword arguments: "
                            f"{', '.join(sorted(keywords))}")

        output_types = output_types_for(op_def, attrs)
        ref_inputs = [t.op for t in ref_args]
        if ref_inputs:
            # Ops that take a ref are colocated with the variable (TF's _MaybeColocateWith).
            with contextlib.ExitStack() as stack:
                for ref_op in ref_inputs:
                    stack.enter_context(g.colocate_with(ref_op))
                return g._create_op_internal(op_type, inputs, output_types, name=scope,
                                             attrs=attrs, op_def=op_def.proto)
        return g._create_op_internal(op_type, inputs, output_types, name=scope, attrs=attrs,
                                     op_def=op_def.proto)


def output_types_for(op_def, attrs) -> list:
    """The output dtypes of a node of ``op_def`` with ``attrs`` (AttrValue protos).

    Raises:
        KeyError: an attr the outputs depend on is missing.
    """
    out = []
    for arg in op_def.output_arg:
        if arg.number_attr:
            n = attrs[arg.number_attr].i
            out.extend([_output_type(arg, attrs)] * n)
        elif arg.type_list_attr:
            out.extend(dtypes.as_dtype(t) for t in attrs[arg.type_list_attr].list.type)
        else:
            out.append(_output_type(arg, attrs))
    return out


def input_count_for(op_def, attrs) -> int:
    """How many data inputs a node of ``op_def`` with ``attrs`` takes."""
    n = 0
    for arg in op_def.input_arg:
        if arg.number_attr:
            n += attrs[arg.number_attr].i
        elif arg.type_list_attr:
            n += len(attrs[arg.type_list_attr].list.type)
        else:
            n += 1
    return n


def _output_type(arg, attrs) -> dtypes.DType:
    if arg.type:
        t = dtypes.as_dtype(arg.type)
    else:
        t = dtypes.as_dtype(attrs[arg.type_attr].type)
    return t._as_ref if arg.is_ref else t


def _known_type(arg, inferred, keywords, op_type):
    if arg.type:
        return dtypes.as_dtype(arg.type)
    if arg.type_attr in inferred:
        return dtypes.as_dtype(inferred[arg.type_attr])
    if arg.type_attr and keywords.get(arg.type_attr) is not None:
        return _as_type(keywords[arg.type_attr], op_type, arg.type_attr)
    return None


def _allowed_types(op_def, attr_name):
    attr = op_def.attr_by_name.get(attr_name)
    return attr.allowed if attr is not None else None


def _source_of(arg, op_def) -> str:
    """The first input argument that sets ``arg``'s type attr (TF names it in type errors)."""
    for other in op_def.input_arg:
        if other.type_attr == arg.type_attr:
            return other.name
    return arg.name


def _attr_default_type(op_def, attr_name):
    attr = op_def.attr_by_name.get(attr_name)
    if attr is None or attr.default_value is None:
        return None
    return dtypes.as_dtype(attr.default_value.type)


def _graph_for(keywords, op_def):
    for arg in op_def.input_arg:
        value = keywords.get(arg.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            g = getattr(v, "graph", None)
            if isinstance(g, ops_lib.Graph):
                return g
    return ops_lib.get_default_graph()
