"""Optimizer update kernels (TF's ``training_ops``); ``mutable`` and ``rounds`` serve the
scatter updates of variables too (gmeta/kernels/scatter.py).

One formula per algorithm (a family table, ``_ALGORITHMS``) serves its four op forms:
``Apply<X>`` (ref variables, returns the ``var`` ref), ``ResourceApply<X>`` (resource handles,
no outputs), ``SparseApply<X>`` and ``ResourceSparseApply<X>`` (rows ``indices`` of the variable
and its slots). The formulas are TF's CPU functors, operation for operation, computed in the
variable's dtype (float16 included, rounded per operation as Eigen's half type is).

Which inputs are variables (slots) and which are scalars comes from the OpDef: ref or resource
args are slots, ``grad``/``delta``/``indices`` are the gradient, every other input a scalar.
Shape errors carry TF's messages with the OpDef arg names ("var and delta do not have the same
shape[2,3] [3,2]"). Uninitialised variables raise FailedPreconditionError (:func:`read_ref`).

Sparse updates with duplicate indices are applied one occurrence after the other, as TF's loop
over ``indices`` does (the k-th occurrences of all rows form one vectorised round).

Ref variables (``Apply*``, ``SparseApply*``) are updated in place, as TF's ref
kernels do, when their array is writable and owns its data; otherwise the variable gets a new
array (which later updates then write into). Resource variables are copy-on-write: a
``ReadVariableOp`` value hands out the variable's array itself, so an update writes a new array
and values read before it (fetched, or still to be consumed in the same run) keep theirs, as TF's
resource kernels copy a buffer some reader still holds.

On CuPy, the dense updates of GradientDescent, Momentum, Adam, RMSProp and Adagrad run as one
fused kernel each (gmeta/kernels/cuda_fused.py, :func:`_cuda_dense`): the same formula, written
into a ref variable's and its slots' own arrays, or into new arrays for a resource variable.
"""

from __future__ import annotations

import numpy as np

from gmeta.framework import op_def_registry
from gmeta.kernels import bad_input as _bad, cuda_fused, dims as _dims, kernel
from gmeta.kernels.state import read_ref

_DT_RESOURCE = 20


def _writable(a) -> bool:
    flags = a.flags
    return bool(getattr(flags, "writeable", True)) and bool(getattr(flags, "owndata", False))


def store(xp, ref, value) -> None:
    """Sets the variable's value to ``value``: in place when its array is writable and owned
    (and of the same shape and dtype), else as a new array."""
    cur = ref.value
    if cur is not None and cur.shape == value.shape and cur.dtype == value.dtype and \
            _writable(cur):
        cur[...] = value
    else:
        ref.value = xp.array(value, dtype=cur.dtype if cur is not None else None, copy=True)


def mutable(xp, ref, copy=False):
    """The variable's array for row updates: a new copy when ``copy`` (resource variables) or
    when it is not writable and owned."""
    cur = ref.value
    if copy or not _writable(cur):
        cur = ref.value = xp.array(cur, copy=True)
    return cur


# -- the algorithms: TF's CPU functors -----------------------------------------------------------
# Each takes (xp, s, attrs): ``s`` maps the slot names (var, accum, m, ...) to arrays (whole
# variables, or the rows being updated), scalar names to 0-d arrays of the variable's dtype and
# "grad" to the gradient; it returns the new values of the slots it changes.
def _gradient_descent(xp, s, a):
    return {"var": s["var"] - s["grad"] * s["alpha"]}


def _proximal_shrink(xp, prox, step_l1, denom):
    return xp.sign(prox) * xp.maximum(xp.abs(prox) - step_l1, 0) / denom


def _proximal_gradient_descent(xp, s, a):
    lr, l1, l2 = s["alpha"], s["l1"], s["l2"]
    prox = s["var"] - s["grad"] * lr
    if l1 > 0:
        return {"var": _proximal_shrink(xp, prox, lr * l1, 1 + l2 * lr)}
    return {"var": prox / (1 + l2 * lr)}


def _adadelta(xp, s, a):
    rho, eps, g = s["rho"], s["epsilon"], s["grad"]
    accum = s["accum"] * rho + g * g * (1 - rho)
    update = xp.sqrt(s["accum_update"] + eps) / xp.sqrt(accum + eps) * g
    var = s["var"] - update * s["lr"]
    accum_update = s["accum_update"] * rho + update * update * (1 - rho)
    return {"var": var, "accum": accum, "accum_update": accum_update}


def _adagrad(xp, s, a):
    g = s["grad"]
    accum = s["accum"] + g * g if a.get("update_slots", True) else s["accum"]
    return {"var": s["var"] - g * s["lr"] / xp.sqrt(accum), "accum": accum}


def _adagrad_v2(xp, s, a):
    g = s["grad"]
    accum = s["accum"] + g * g if a.get("update_slots", True) else s["accum"]
    return {"var": s["var"] - g * s["lr"] / (xp.sqrt(accum) + s["epsilon"]), "accum": accum}


def _proximal_adagrad(xp, s, a):
    g, l1, l2 = s["grad"], s["l1"], s["l2"]
    accum = s["accum"] + g * g
    lr = s["lr"] / xp.sqrt(accum)
    prox = s["var"] - g * lr
    if l1 > 0:
        var = _proximal_shrink(xp, prox, lr * l1, 1 + l2 * lr)
    else:
        var = prox / (1 + l2 * lr)
    return {"var": var, "accum": accum}


def _adagrad_da(xp, s, a):
    g, lr, l1, l2 = s["grad"], s["lr"], s["l1"], s["l2"]
    step = s["global_step"]
    acc = s["gradient_accumulator"] + g
    sq = s["gradient_squared_accumulator"] + g * g
    denom = l2 * (step * lr) + xp.sqrt(sq)
    if l1 > 0:
        var = lr * -xp.sign(acc) * xp.maximum(xp.abs(acc) - step * l1, 0) / denom
    else:
        var = lr * acc * -1 / denom
    return {"var": var, "gradient_accumulator": acc, "gradient_squared_accumulator": sq}


def _adam_moments(s):
    g, b1, b2 = s["grad"], s["beta1"], s["beta2"]
    m = s["m"] + (g - s["m"]) * (1 - b1)
    v = s["v"] + (g * g - s["v"]) * (1 - b2)
    alpha = s["lr"] * np.sqrt(1 - s["beta2_power"]) / (1 - s["beta1_power"])
    return m, v, alpha


def _adam(xp, s, a):
    m, v, alpha = _adam_moments(s)
    if a.get("use_nesterov", False):
        b1 = s["beta1"]
        step = (s["grad"] * (1 - b1) + b1 * m) * alpha / (xp.sqrt(v) + s["epsilon"])
    else:
        step = m * alpha / (xp.sqrt(v) + s["epsilon"])
    return {"var": s["var"] - step, "m": m, "v": v}


def _adam_amsgrad(xp, s, a):
    m, v, alpha = _adam_moments(s)
    vhat = xp.maximum(s["vhat"], v)
    return {"var": s["var"] - m * alpha / (xp.sqrt(vhat) + s["epsilon"]), "m": m, "v": v,
            "vhat": vhat}


def _ada_max(xp, s, a):
    g = s["grad"]
    m = s["m"] + (g - s["m"]) * (1 - s["beta1"])
    v = xp.maximum(s["beta2"] * s["v"], xp.abs(g))
    var = s["var"] - s["lr"] / (1 - s["beta1_power"]) * (m / (v + s["epsilon"]))
    return {"var": var, "m": m, "v": v}


def _momentum(xp, s, a):
    lr, mom, g = s["lr"], s["momentum"], s["grad"]
    accum = s["accum"] * mom + g
    if a.get("use_nesterov", False):
        return {"var": s["var"] - (g * lr + accum * mom * lr), "accum": accum}
    return {"var": s["var"] - accum * lr, "accum": accum}


def _keras_momentum(xp, s, a):
    lr, mom, g = s["lr"], s["momentum"], s["grad"]
    accum = s["accum"] * mom - g * lr
    if a.get("use_nesterov", False):
        return {"var": s["var"] + (accum * mom - g * lr), "accum": accum}
    return {"var": s["var"] + accum, "accum": accum}


def _rms_prop(xp, s, a):
    g = s["grad"]
    ms = s["ms"] + (g * g - s["ms"]) * (1 - s["rho"])
    mom = s["mom"] * s["momentum"] + g * s["lr"] / xp.sqrt(ms + s["epsilon"])
    return {"var": s["var"] - mom, "ms": ms, "mom": mom}


def _sparse_rms_prop(xp, s, a):
    g, rho = s["grad"], s["rho"]
    ms = s["ms"] * rho + g * g * (1 - rho)
    mom = s["mom"] * s["momentum"] + 1 / xp.sqrt(ms + s["epsilon"]) * s["lr"] * g
    return {"var": s["var"] - mom, "ms": ms, "mom": mom}


def _centered_rms_prop(xp, s, a):
    g, rho = s["grad"], s["rho"]
    ms = s["ms"] + (g * g - s["ms"]) * (1 - rho)
    mg = s["mg"] + (g - s["mg"]) * (1 - rho)
    denom = (ms - mg * mg) + s["epsilon"]
    mom = s["mom"] * s["momentum"] + g * s["lr"] / xp.sqrt(denom)
    return {"var": s["var"] - mom, "ms": ms, "mg": mg, "mom": mom}


def _sparse_centered_rms_prop(xp, s, a):
    g, rho = s["grad"], s["rho"]
    ms = s["ms"] * rho + g * g * (1 - rho)
    mg = s["mg"] * rho + g * (1 - rho)
    denom = ms - mg * mg + s["epsilon"]
    mom = s["mom"] * s["momentum"] + 1 / xp.sqrt(denom) * s["lr"] * g
    return {"var": s["var"] - mom, "ms": ms, "mg": mg, "mom": mom}


def _ftrl(xp, s, a):
    g, var, accum, linear = s["grad"], s["var"], s["accum"], s["linear"]
    lr, l1, l2, power = s["lr"], s["l1"], s["l2"], s["lr_power"]
    shrunk = g + 2 * s["l2_shrinkage"] * var if "l2_shrinkage" in s else g
    new_accum = accum + g * g
    if power == -0.5:
        grow = xp.sqrt(new_accum) - xp.sqrt(accum)
        base = xp.sqrt(new_accum)
    else:
        grow = new_accum ** -power - accum ** -power
        base = new_accum ** -power
    if a.get("multiply_linear_by_lr", False):
        linear = linear + (shrunk * lr - grow * var)
        l1_adj = l1 * lr
        y = base + 2 * l2 * lr
    else:
        linear = linear + (shrunk - grow / lr * var)
        l1_adj = l1
        y = base / lr + 2 * l2
    x = xp.clip(linear, -l1_adj, l1_adj) - linear
    return {"var": x / y, "accum": new_accum, "linear": linear}


def _add_sign(xp, s, a):
    g, beta = s["grad"], s["beta"]
    m = s["m"] * beta + g * (1 - beta)
    sign_gm = xp.sign(g) * xp.sign(m)
    return {"var": s["var"] - s["lr"] * (s["alpha"] + s["sign_decay"] * sign_gm) * g, "m": m}


def _power_sign(xp, s, a):
    g, beta = s["grad"], s["beta"]
    m = s["m"] * beta + g * (1 - beta)
    sign_gm = xp.sign(g) * xp.sign(m)
    scale = xp.exp(s["logbase"] * s["sign_decay"] * sign_gm)
    return {"var": s["var"] - s["lr"] * scale * g, "m": m}


# algorithm -> (dense formula, sparse formula or None where TF's sparse functor is the same).
_ALGORITHMS = {
    "GradientDescent": (_gradient_descent, None),
    "ProximalGradientDescent": (_proximal_gradient_descent, None),
    "Adadelta": (_adadelta, None),
    "Adagrad": (_adagrad, None),
    "AdagradV2": (_adagrad_v2, None),
    "ProximalAdagrad": (_proximal_adagrad, None),
    "AdagradDA": (_adagrad_da, None),
    "Adam": (_adam, None),
    "AdamWithAmsgrad": (_adam_amsgrad, None),
    "AdaMax": (_ada_max, None),
    "Momentum": (_momentum, None),
    "KerasMomentum": (_keras_momentum, None),
    "RMSProp": (_rms_prop, _sparse_rms_prop),
    "CenteredRMSProp": (_centered_rms_prop, _sparse_centered_rms_prop),
    "Ftrl": (_ftrl, None),
    "FtrlV2": (_ftrl, None),
    "AddSign": (_add_sign, None),
    "PowerSign": (_power_sign, None),
}
_ATTRS = ("use_nesterov", "update_slots", "multiply_linear_by_lr")


class _Signature:
    """Where a training op's inputs sit: slots, scalars, the gradient, the indices."""

    def __init__(self, op_type):
        op_def = op_def_registry.get(op_type)
        self.slots, self.scalars = [], []
        self.grad = self.indices = None
        for i, arg in enumerate(op_def.input_arg):
            if arg.is_ref or arg.type == _DT_RESOURCE:
                self.slots.append((i, arg.name))
            elif arg.name in ("grad", "delta"):
                self.grad = (i, arg.name)
            elif arg.name == "indices":
                self.indices = i
            else:
                self.scalars.append((i, arg.name))


def _check_scalars(ctx, sig, args, dtype):
    out = {}
    for i, name in sig.scalars:
        v = args[i]
        if v.ndim != 0:
            raise _bad(ctx, f"{name} is not a scalar: {_dims(v.shape)}")
        out[name] = v if v.dtype == dtype else v.astype(dtype)
    return out


def _read_slots(ctx, sig, args):
    refs = [args[i] for i, _ in sig.slots]
    values = [read_ref(r, ctx.op) for r in refs]
    var = values[0]
    for (_, name), value in zip(sig.slots[1:], values[1:]):
        if value.shape != var.shape:
            raise _bad(ctx, f"var and {name} do not have the same shape{_dims(var.shape)} "
                            f"{_dims(value.shape)}")
    return refs, values


def _dense_factory(ctx, formula, returns_ref):
    xp = ctx.xp
    sig = _Signature(ctx.type)
    attrs = {k: ctx.attr(k) for k in _ATTRS if ctx.attr(k) is not None}
    names = [name for _, name in sig.slots]
    gi, gname = sig.grad
    in_place_sgd = formula is _gradient_descent

    def run(*args):
        refs, values = _read_slots(ctx, sig, args)
        var = values[0]
        s = _check_scalars(ctx, sig, args, var.dtype)
        grad = args[gi]
        if grad.shape != var.shape:
            raise _bad(ctx, f"var and {gname} do not have the same shape{_dims(var.shape)} "
                            f"{_dims(grad.shape)}")
        if in_place_sgd and returns_ref and grad.dtype == var.dtype and _writable(var):
            xp.subtract(var, grad * s["alpha"], out=var)  # the common case, without a copy
            return refs[0] if returns_ref else None
        s.update(zip(names, values))
        s["grad"] = grad
        for name, value in formula(xp, s, attrs).items():
            ref = refs[names.index(name)]
            if returns_ref:
                store(xp, ref, value.astype(var.dtype, copy=False))
            elif value is not ref.value:  # resource: copy-on-write (formulas make new arrays)
                ref.value = xp.asarray(value).astype(var.dtype, copy=False)
        return refs[0] if returns_ref else None

    if in_place_sgd and returns_ref and sig.slots == [(0, "var")] and sig.grad[0] == 2:
        op = ctx.op

        def sgd(ref, alpha, delta):  # ApplyGradientDescent's common case, checked inline
            var = read_ref(ref, op)
            if alpha.ndim == 0 and delta.shape == var.shape and delta.dtype == var.dtype and \
                    alpha.dtype == var.dtype and _writable(var):
                xp.subtract(var, delta * alpha, out=var)
                return ref
            return run(ref, alpha, delta)

        return sgd
    return run


def rounds(indices):
    """Positions of ``indices`` grouped so that no round repeats an index, in order: round k
    holds the k-th occurrence of every index (numpy int arrays)."""
    idx = np.asarray(indices.get() if hasattr(indices, "get") else indices).astype(np.int64)
    n = idx.shape[0]
    if n == 0:
        return []
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    starts = np.r_[True, sorted_idx[1:] != sorted_idx[:-1]]
    if starts.all():
        return [np.arange(n)]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - group_start
    return [np.nonzero(rank == k)[0] for k in range(int(rank.max()) + 1)]


def _sparse_factory(ctx, formula, returns_ref):
    xp = ctx.xp
    sig = _Signature(ctx.type)
    attrs = {k: ctx.attr(k) for k in _ATTRS if ctx.attr(k) is not None}
    names = [name for _, name in sig.slots]
    gi, gname = sig.grad

    def run(*args):
        refs, values = _read_slots(ctx, sig, args)
        var = values[0]
        if var.ndim < 1:
            raise _bad(ctx, "var must be at least 1 dimensional")
        indices, grad = args[sig.indices], args[gi]
        if indices.ndim != 1:
            raise _bad(ctx, "indices must be one-dimensional")
        s = _check_scalars(ctx, sig, args, var.dtype)
        if grad.ndim != var.ndim:
            raise _bad(ctx, f"var and {gname} do not have the same shape{_dims(var.shape)} "
                            f"{_dims(grad.shape)}")
        for d in range(1, var.ndim):
            if var.shape[d] != grad.shape[d]:
                raise _bad(ctx, f"var and {gname} must match in dimension {d}")
        n = indices.shape[0]
        if grad.shape[0] != n:
            raise _bad(ctx, f"{gname} must be the same size as indices in the first dimension.")
        rows = var.shape[0]
        bad = (indices < 0) | (indices >= rows)
        if n and bool(xp.any(bad)):
            at = int(xp.argmax(bad))
            raise _bad(ctx, f"Index {int(indices[at])} at offset {at} in indices is out of "
                            "range")
        arrays = [mutable(xp, r, copy=not returns_ref) for r in refs] if n else []
        for pos in rounds(indices):
            p = pos if xp is np else xp.asarray(pos)
            rows_idx = indices[p]
            sub = dict(s)
            sub.update((name, a[rows_idx]) for name, a in zip(names, arrays))
            sub["grad"] = grad[p]
            for name, value in formula(xp, sub, attrs).items():
                arrays[names.index(name)][rows_idx] = value
        return refs[0] if returns_ref else None

    return run


# -- fused CUDA updates (gmeta/kernels/cuda_fused.py) --------------------------------------------
# algorithm -> its fused kernel; "<name>_nesterov" where the node sets use_nesterov.
_CUDA = {"GradientDescent": "apply_gradient_descent", "Momentum": "apply_momentum",
         "Adam": "apply_adam", "RMSProp": "apply_rms_prop", "Adagrad": "apply_adagrad"}


def _cuda_kernel(ctx):
    """The fused kernel of this dense ``(Resource)Apply*`` node where ``ctx.xp`` is CuPy and the
    kernel covers its dtype and attrs (Adagrad's ``update_slots=False`` is not), else None."""
    name = _CUDA.get(ctx.type.removeprefix("Resource").removeprefix("Apply"))
    if name is None or not ctx.attr("update_slots", True):
        return None
    if ctx.attr("use_nesterov", False):
        name += "_nesterov"
    return cuda_fused.pick(ctx.xp, name, ctx.attr("T").as_numpy_dtype)


def _apart(arrays, outs) -> bool:
    """Whether no array of ``arrays`` can overlap one of ``outs`` (arrays that own their data)
    other than by being it. A fused kernel reads an element of each input before it writes that
    element of any output, so the very same array may be both; a view of it may not."""
    for a in arrays:
        if any(a is o for o in outs):
            continue
        root = a
        while getattr(root, "base", None) is not None:  # a view: up to its owner
            root = root.base
        if any(root is o for o in outs):
            return False
    return True


def _cuda_dense(ctx, regular, returns_ref):
    """``regular``, a dense update's closure; or, where :func:`_cuda_kernel` has a kernel, a
    closure that runs it in one launch when the arguments fit it: slots of the gradient's shape
    and dtype (the node's ``T``), 0-d scalars of that dtype and, for a ref variable, slots that
    are writable, distinct and apart from the other inputs (:func:`_apart`), which the kernel
    updates in place. A resource variable and its slots get the kernel's new arrays
    (copy-on-write). Anything else runs ``regular``, which also raises the errors."""
    k = _cuda_kernel(ctx)
    if k is None:
        return regular
    op, dtype = ctx.op, np.dtype(ctx.attr("T").as_numpy_dtype)
    sig = _Signature(ctx.type)
    slots = [i for i, _ in sig.slots]
    gi = sig.grad[0]
    scalars = [i for i, _ in sig.scalars]
    others = scalars + [gi]
    single = len(slots) == 1  # the kernel then returns one array, not a tuple

    def run(*args):
        grad = args[gi]
        shape = grad.shape
        if grad.dtype != dtype:
            return regular(*args)
        values = list(args)
        outs = []
        for i in slots:
            a = values[i] = read_ref(args[i], op)
            if a.shape != shape or a.dtype != dtype or (returns_ref and (
                    not _writable(a) or any(a is b for b in outs))):
                return regular(*args)
            outs.append(a)
        for i in scalars:
            a = args[i]
            if a.ndim != 0 or a.dtype != dtype:
                return regular(*args)
        if not returns_ref:
            new = k(*values)
            for i, a in zip(slots, (new,) if single else new):
                args[i].value = a
            return None
        if not _apart([args[i] for i in others], outs):
            return regular(*args)
        k(*values, *outs)
        return args[0]

    return run


def _register_algorithm(algo, dense, sparse):
    forms = [(f"Apply{algo}", False, True), (f"ResourceApply{algo}", False, False),
             (f"SparseApply{algo}", True, True), (f"ResourceSparseApply{algo}", True, False)]
    for op_type, is_sparse, returns_ref in forms:
        if op_def_registry.get(op_type) is None:
            continue
        formula = (sparse or dense) if is_sparse else dense
        factory = _sparse_factory if is_sparse else _dense_factory

        def _factory(ctx, factory=factory, formula=formula, returns_ref=returns_ref,
                     is_sparse=is_sparse):
            run = factory(ctx, formula, returns_ref)
            return run if is_sparse else _cuda_dense(ctx, run, returns_ref)

        inplace = None if is_sparse else _INPLACE.get(op_type)
        kernel(op_type, inplace=inplace)(_factory)


def _sgd_inplace(ctx, ks, regular):
    """(Resource)ApplyGradientDescent with a dying ``delta`` (memory planning): ``delta * alpha``
    is computed in ``delta``'s buffer, and a resource variable (copy-on-write) takes
    ``var - delta * alpha`` in that buffer too, so the update allocates nothing. On CuPy the
    resource update is the fused kernel with ``delta`` as its output; the ref update keeps the
    fused kernel's own closure (None), which writes into ``var`` already."""
    if 2 not in ks:
        return None
    xp, op = ctx.xp, ctx.op
    multiply, subtract = xp.multiply, xp.subtract
    fused = _cuda_kernel(ctx)

    def fits(var, alpha, delta):
        return alpha.ndim == 0 and delta.shape == var.shape and delta.dtype == var.dtype and \
            alpha.dtype == var.dtype

    if fused is not None:
        if ctx.type == "ApplyGradientDescent":
            return None  # the fused kernel already updates var in place, in one launch

        def run(ref, alpha, delta):  # var - delta * alpha in one launch, into delta
            var = read_ref(ref, op)
            if fits(var, alpha, delta) and delta.flags.c_contiguous:
                ref.value = fused(var, alpha, delta, delta)
                return None
            return regular(ref, alpha, delta)
    elif ctx.type == "ApplyGradientDescent":
        def run(ref, alpha, delta):
            var = read_ref(ref, op)
            if fits(var, alpha, delta) and _writable(var):
                subtract(var, multiply(delta, alpha, out=delta), out=var)
                return ref
            return regular(ref, alpha, delta)
    else:
        def run(ref, alpha, delta):
            var = read_ref(ref, op)
            if fits(var, alpha, delta) and delta.flags.c_contiguous:
                ref.value = subtract(var, multiply(delta, alpha, out=delta), out=delta)
                return None
            return regular(ref, alpha, delta)

    return run


def _momentum_inplace(xp, s):
    accum, g = s["accum"], s["grad"]
    xp.add(xp.multiply(accum, s["momentum"], out=accum), g, out=accum)
    xp.subtract(s["var"], xp.multiply(accum, s["lr"], out=g), out=s["var"])


def _adam_inplace(xp, s):
    m, v, g, var = s["m"], s["v"], s["grad"], s["var"]
    b1, b2 = s["beta1"], s["beta2"]
    alpha = s["lr"] * np.sqrt(1 - s["beta2_power"]) / (1 - s["beta1_power"])
    u = xp.multiply(g, g)  # v + (g * g - v) * (1 - b2)
    xp.add(v, xp.multiply(xp.subtract(u, v, out=u), 1 - b2, out=u), out=v)
    xp.add(m, xp.multiply(xp.subtract(g, m, out=g), 1 - b1, out=g), out=m)  # m + (g-m)*(1-b1)
    denom = xp.add(xp.sqrt(v, out=u), s["epsilon"], out=u)
    xp.subtract(var, xp.divide(xp.multiply(m, alpha, out=g), denom, out=g), out=var)


# op type -> (the formula in the arrays' own buffers, the attrs it does not cover)
_FUSED = {"ApplyMomentum": (_momentum_inplace, "use_nesterov"),
          "ApplyAdam": (_adam_inplace, "use_nesterov")}


def _fused_inplace(ctx, ks, regular):
    """ApplyMomentum / ApplyAdam (ref variables, dense) with a dying ``grad`` (memory planning):
    the formula of ``_ALGORITHMS``, operation for operation (so bit for bit), written into the
    variable's and slots' own arrays with the gradient's buffer as scratch, instead of new arrays
    copied in by :func:`store`. On CuPy: None, the fused kernel's closure does better (one
    launch, in place, no scratch)."""
    if _cuda_kernel(ctx) is not None:
        return None
    body, attr = _FUSED[ctx.type]
    sig = _Signature(ctx.type)
    gi = sig.grad[0]
    if gi not in ks or ctx.attr(attr, False):
        return None
    xp, op = ctx.xp, ctx.op
    slots, scalars = sig.slots, sig.scalars

    def run(*args):
        g = args[gi]
        shape, dtype = g.shape, g.dtype
        s = {"grad": g}
        for i, name in slots:
            a = read_ref(args[i], op)
            if a.shape != shape or a.dtype != dtype or not _writable(a) or \
                    any(a is b for b in s.values()):
                return regular(*args)
            s[name] = a
        for i, name in scalars:
            a = args[i]
            if a.ndim != 0 or a.dtype != dtype:
                return regular(*args)
            s[name] = a
        body(xp, s)
        return args[0]

    return run


_INPLACE = {"ApplyGradientDescent": _sgd_inplace, "ResourceApplyGradientDescent": _sgd_inplace,
            "ApplyMomentum": _fused_inplace, "ApplyAdam": _fused_inplace}


for _algo, (_dense, _sparse) in _ALGORITHMS.items():
    _register_algorithm(_algo, _dense, _sparse)
