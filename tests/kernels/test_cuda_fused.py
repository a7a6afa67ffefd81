"""Fused CUDA kernels (gmeta/kernels/cuda_fused.py), checked without a GPU.

An evaluator of the kernels' C subset runs a body on numpy arrays as ``cupy.ElementwiseKernel``
runs it on a device: inputs are references to the (broadcast) argument arrays, outputs given as
arguments are written in place, ``T`` is the arrays' one dtype (float32 stays float32). It
rejects code outside the subset and bodies that break the module's contracts (an output read,
an input read after an output is written), so no body it cannot check gets into the table. A
fake ``cupy`` module (numpy, plus an ElementwiseKernel made of the evaluator that counts
launches) then drives the real kernel factories: the fused path must give the numpy CPU
kernel's values (bit for bit: the same operations in the same order), be taken (one launch per
call), write where its contract says, and fall back when its preconditions fail.

Nothing here runs on a GPU: that NVRTC compiles each body, and that CUDA rounds as numpy does,
is not checked.
"""

from __future__ import annotations

import re
import types

import numpy as np
import pytest

import gmeta as gm
from gmeta import errors
from gmeta.framework import op_def_registry
from gmeta.framework.op_def_library import apply_op
from gmeta.kernels import KernelContext, cuda_fused, lookup, training
from gmeta.kernels.state import VarRef


# -- an evaluator of the subset ----------------------------------------------------------------
class SubsetError(ValueError):
    """Kernel code outside the subset of gmeta/kernels/cuda_fused.py, or against its
    contracts."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<float>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?|\d+[eE][-+]?\d+[fF]?)
  | (?P<int>\d+)(?![\w.])
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>\+=|-=|\*=|/=|<=|>=|==|!=|[-+*/()<>?:=;,])
)""", re.VERBOSE)
_KEYWORDS = {"if", "else", "for", "while", "do", "return", "switch", "case", "goto", "break",
             "continue", "const", "auto", "sizeof", "float", "double", "int", "bool"}
_FUNCS = {"sqrt": (1, np.sqrt), "rsqrt": (1, lambda x: 1 / np.sqrt(x)), "exp": (1, np.exp),
          "log": (1, np.log), "tanh": (1, np.tanh), "fabs": (1, np.abs), "fmax": (2, np.fmax),
          "fmin": (2, np.fmin)}
_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}
_NAME = re.compile(r"[A-Za-z_]\w*")


def _tokens(src: str) -> list:
    out, pos, end = [], 0, len(src.rstrip())
    while pos < end:
        m = _TOKEN.match(src, pos)
        if m is None:
            raise SubsetError(f"not in the subset: {src[pos:].strip()[:20]!r}")
        kind = m.lastgroup
        if kind == "float":
            raise SubsetError(f"floating literal {m.group(kind)!r}: a double in C, which would "
                              "widen a float kernel; use an integer literal or a T parameter")
        out.append((kind, m.group(kind)))
        pos = m.end()
    out.append(("end", None))
    return out


class _Parser:
    """Recursive descent over the subset: statements become tuples, expressions trees of
    ("num", v) ("var", n) ("neg", e) ("bin", op, l, r) ("cmp", op, l, r) ("cond", c, a, b)
    ("call", f, args)."""

    def __init__(self, src):
        self.toks, self.i = _tokens(src), 0

    def peek(self, k=0):
        return self.toks[self.i + k]

    def take(self, value=None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise SubsetError(f"expected {value!r}, found {tok[1] or 'the end'!r}")
        self.i += 1
        return tok

    def name(self):
        kind, value = self.take()
        if kind != "name" or value in _KEYWORDS or value in _FUNCS or value == "T":
            raise SubsetError(f"expected a name, found {value or 'the end'!r}")
        return value

    def statements(self):
        out = []
        while self.peek()[0] != "end":
            kind, value = self.peek()
            if kind == "name" and value in _KEYWORDS:
                raise SubsetError(f"{value!r} is not in the subset (statements: 'T name = expr;',"
                                  " 'name = expr;', 'name op= expr;')")
            if value == "T":
                self.take()
                name = self.name()
                self.take("=")
                out.append(("decl", name, self.expr()))
            else:
                name = self.name()
                op = self.take()[1]
                if op not in ("=", "+=", "-=", "*=", "/="):
                    raise SubsetError(f"expected an assignment to {name!r}, found {op!r}")
                out.append(("set", name, op, self.expr()))
            self.take(";")
        return out

    def expr(self):  # c ? a : b, right-associative
        cond = self.comparison()
        if self.peek()[1] != "?":
            return cond
        self.take("?")
        a = self.expr()
        self.take(":")
        return ("cond", cond, a, self.expr())

    def comparison(self):
        left = self.additive()
        if self.peek()[1] in _CMP:
            op = self.take()[1]
            left = ("cmp", op, left, self.additive())
            if self.peek()[1] in _CMP:
                raise SubsetError("chained comparison: C compares the first result (0 or 1)")
        return left

    def additive(self):
        left = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            left = ("bin", op, left, self.term())
        return left

    def term(self):
        left = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            left = ("bin", op, left, self.unary())
        return left

    def unary(self):
        if self.peek()[1] == "-":
            self.take()
            return ("neg", self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if kind == "int":
            return ("num", int(value))
        if value == "(":
            e = self.expr()
            self.take(")")
            return e
        if kind == "name" and self.peek()[1] == "(":
            if value not in _FUNCS:
                raise SubsetError(f"function {value!r} is not in the subset "
                                  f"({', '.join(sorted(_FUNCS))})")
            self.take("(")
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.take(",")
                args.append(self.expr())
            self.take(")")
            if len(args) != _FUNCS[value][0]:
                raise SubsetError(f"{value}() takes {_FUNCS[value][0]} argument(s)")
            return ("call", value, args)
        if kind == "name" and value not in _KEYWORDS and value != "T":
            return ("var", value)
        raise SubsetError(f"unexpected {value or 'end of body'!r}")


def _params(text: str, what: str) -> list:
    names = []
    for part in text.split(","):
        words = part.split()
        if len(words) != 2 or words[0] != "T" or not _NAME.fullmatch(words[1]):
            raise SubsetError(f"{what} parameter {part.strip()!r}: only 'T name' is in the "
                              "subset")
        if words[1] in _KEYWORDS or words[1] in _FUNCS or words[1] in ("T", "i"):
            raise SubsetError(f"{what} parameter name {words[1]!r} is reserved")
        names.append(words[1])
    return names


class Program:
    """A checked body: :meth:`run` evaluates it as ElementwiseKernel would."""

    def __init__(self, in_params: str, out_params: str, body: str):
        self.ins, self.outs = _params(in_params, "input"), _params(out_params, "output")
        if len(set(self.ins + self.outs)) != len(self.ins) + len(self.outs):
            raise SubsetError("a parameter name is repeated")
        self.statements = _Parser(body).statements()
        self._check()

    def _check(self):
        """Names, kinds (T, int literal, bool) and the read/write contracts, statement by
        statement in order."""
        ins, outs, local, written = set(self.ins), set(self.outs), set(), []

        def kind(e):
            tag = e[0]
            if tag == "num":
                return "int"
            if tag == "var":
                n = e[1]
                if n in outs:
                    raise SubsetError(f"output {n!r} is read: outputs are write-only")
                if n in ins and written:
                    raise SubsetError(f"input {n!r} is read after output {written[0]!r} is "
                                      "written: an output may be given the input's own array")
                if n in ins or n in local:
                    return "T"
                raise SubsetError(f"unknown name {n!r}")
            if tag == "neg":
                k = kind(e[1])
                if k == "bool":
                    raise SubsetError("unary minus of a comparison")
                return k
            if tag in ("bin", "cmp"):
                kl, kr = kind(e[2]), kind(e[3])
                if "T" not in (kl, kr):
                    raise SubsetError(f"{e[1]!r} of {kl} and {kr}: needs a T operand (C would "
                                      "compute it in int)")
                if tag == "cmp" and "bool" in (kl, kr):
                    raise SubsetError("comparison of a comparison")
                return "T" if tag == "bin" else "bool"
            if tag == "cond":
                if kind(e[1]) != "bool":
                    raise SubsetError("the condition of '?:' must be a comparison")
                ka, kb = kind(e[2]), kind(e[3])
                if "T" not in (ka, kb) or "bool" in (ka, kb):
                    raise SubsetError("the branches of '?:' must be T (or one an integer)")
                return "T"
            for a in e[2]:  # call
                if kind(a) != "T":
                    raise SubsetError(f"{e[1]}() of an {kind(a)}: ambiguous among the C++ "
                                      "overloads; give it a T value")
            return "T"

        for st in self.statements:
            name = st[1]
            if st[0] == "decl" and (name in ins or name in outs or name in local):
                raise SubsetError(f"{name!r} is declared twice")
            if st[0] == "set" and name in ins:
                raise SubsetError(f"input {name!r} is assigned: inputs are const")
            if st[0] == "set" and name in outs and st[2] != "=":
                raise SubsetError(f"output {name!r} is read ({st[2]}): outputs are write-only")
            if st[0] == "set" and name not in outs and name not in local:
                raise SubsetError(f"{name!r} is assigned before it is declared")
            if kind(st[-1]) not in ("T", "int"):  # the value, read before the target is set
                raise SubsetError(f"{name!r} is assigned a comparison")
            if st[0] == "decl":
                local.add(name)
            elif name in outs:
                written.append(name)
        missing = [n for n in self.outs if n not in written]
        if missing:
            raise SubsetError(f"output(s) {missing} are never written")

    def run(self, args, return_tuple=False):
        nin, nout = len(self.ins), len(self.outs)
        if len(args) not in (nin, nin + nout):
            raise TypeError(f"takes {nin} or {nin + nout} arrays, got {len(args)}")
        if not all(isinstance(a, np.ndarray) for a in args):
            raise TypeError("the evaluator takes numpy arrays only")
        dtypes = {a.dtype for a in args}
        if len(dtypes) != 1:
            raise TypeError(f"Type is mismatched: T is one dtype, got {sorted(map(str, dtypes))}")
        t = dtypes.pop()
        shape = np.broadcast_shapes(*(a.shape for a in args))
        outs = list(args[nin:])
        if any(o.shape != shape for o in outs):
            raise ValueError("Out shape is mismatched")
        if not outs:
            outs = [np.full(shape, np.nan, t) for _ in self.outs]
        env = {n: np.broadcast_to(a, shape) for n, a in zip(self.ins, args)}  # references
        out_env = dict(zip(self.outs, outs))

        def ev(e):
            tag = e[0]
            if tag == "num":
                return e[1]
            if tag == "var":
                return env[e[1]]
            if tag == "neg":
                v = -ev(e[1])
            elif tag == "bin":
                v = _ARITH[e[1]](ev(e[2]), ev(e[3]))
            elif tag == "cmp":
                return _CMP[e[1]](ev(e[2]), ev(e[3]))
            elif tag == "cond":
                v = np.where(ev(e[1]), ev(e[2]), ev(e[3]))
            else:
                v = _FUNCS[e[1]][1](*[ev(a) for a in e[2]])
            if isinstance(v, np.ndarray) and v.dtype != t:  # the evaluator's own guard
                raise AssertionError(f"{e} computed in {v.dtype}, not T = {t}")
            return v

        with np.errstate(all="ignore"):  # CUDA raises no floating-point exceptions
            for st in self.statements:
                name, value = st[1], ev(st[-1])
                if st[0] == "set" and st[2] != "=":
                    value = _ARITH[st[2][0]](env[name], value)
                if name in out_env:
                    out_env[name][...] = value
                else:
                    env[name] = np.array(np.broadcast_to(value, shape), dtype=t)
        return outs[0] if nout == 1 and not return_tuple else tuple(outs)


def make_fake_cupy():
    """A module named "cupy" that is numpy, with ElementwiseKernel run by :class:`Program`;
    ``launches`` lists the kernel names called."""
    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: getattr(np, name)
    mod.launches = []

    class ElementwiseKernel:
        def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                     preamble="", no_return=False, return_tuple=False, **kwargs):
            assert not preamble and not no_return
            self.program = Program(in_params, out_params, operation)
            self.name, self.return_tuple, self.kwargs = name, return_tuple, kwargs

        def __call__(self, *args):
            mod.launches.append(self.name)
            return self.program.run(args, self.return_tuple)

    mod.ElementwiseKernel = ElementwiseKernel
    return mod


@pytest.fixture
def cp():
    """A fake cupy whose kernels count as built already (``cuda_fused.pick``'s one-element trial
    launch is tested on its own below), so ``launches`` lists the kernels' real calls only."""
    mod = make_fake_cupy()
    for name in cuda_fused.KERNELS:
        for dtype in cuda_fused._DTYPES:
            cuda_fused._CHECKED[(mod, name, dtype)] = True
    yield mod
    for key in [k for k in cuda_fused._CHECKED if k[0] is mod]:
        del cuda_fused._CHECKED[key]


def test_pick_tries_each_kernel_once_per_dtype():
    mod = make_fake_cupy()
    k = cuda_fused.pick(mod, "tanh_grad", np.float32)
    assert k is cuda_fused.get(mod, "tanh_grad") and mod.launches == ["gmeta_tanh_grad"]
    assert cuda_fused.pick(mod, "tanh_grad", np.float32) is k
    assert mod.launches == ["gmeta_tanh_grad"]  # no second trial
    cuda_fused.pick(mod, "tanh_grad", np.float64)
    assert mod.launches == ["gmeta_tanh_grad"] * 2


def test_a_kernel_the_compiler_refuses_falls_back_with_a_warning(caplog):
    mod = make_fake_cupy()

    class CompileException(Exception):
        pass

    class Refused:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, *args):
            raise CompileException("nvrtc: error: unrecognized option --fmad=false")

    mod.ElementwiseKernel = Refused
    with caplog.at_level("WARNING", logger="gmeta"):
        assert cuda_fused.pick(mod, "apply_adam", np.float32) is None
        assert cuda_fused.pick(mod, "apply_adam", np.float32) is None
    (record,) = caplog.records
    assert "apply_adam" in record.message and "unfused CuPy code runs" in record.message
    assert "unrecognized option" in record.message


# -- the evaluator itself ----------------------------------------------------------------------
@pytest.mark.parametrize("ins, outs, body, message", [
    ("T x", "T y", "y = x * 1.0;", "floating literal '1.0'"),
    ("T x", "T y", "y = x * 2.5f;", "floating literal"),
    ("T x", "T y", "y = x * 1e3;", "floating literal"),
    ("T x", "T y", "if (x > 0) y = x;", "'if' is not in the subset"),
    ("T x", "T y", "for (;;) y = x;", "'for' is not in the subset"),
    ("T x", "T y", "y = x; return;", "'return' is not in the subset"),
    ("T x", "T y", "y = pow(x, x);", "function 'pow' is not in the subset"),
    ("T x", "T y", "y = sqrt(x, x);", r"sqrt\(\) takes 1"),
    ("T x", "T y", "y = fmax(x, 0);", r"fmax\(\) of an int: ambiguous"),
    ("T x", "T y", "y = x % 2;", "not in the subset: '% 2;'"),
    ("T x", "T y", "y = x && x;", "not in the subset"),
    ("T x", "T y", "y = x[0];", "not in the subset"),
    ("T x", "T y", "y = x++;", "unexpected '\\+'"),
    ("T x", "T y", "y = (float)x;", "unexpected 'float'"),
    ("T x", "T y", "y = x", "expected ';'"),
    ("T x", "T y", "y = x * w;", "unknown name 'w'"),
    ("T x", "T y", "x = x + 1; y = x;", "input 'x' is assigned: inputs are const"),
    ("T x", "T y", "y = x; y += x;", r"output 'y' is read \(\+=\)"),
    ("T x", "T y, T z", "y = x; z = y;", "output 'y' is read: outputs are write-only"),
    ("T x", "T y, T z", "y = x; z = x;", "input 'x' is read after output 'y' is written"),
    ("T x", "T y, T z", "y = x;", r"output\(s\) \['z'\] are never written"),
    ("T x", "T y", "T x = 1; y = x;", "'x' is declared twice"),
    ("T x", "T y", "w = x; y = x;", "'w' is assigned before it is declared"),
    ("T x", "T y", "y = (x > 0) * (x < 1) + x;", "needs a T operand"),
    ("T x", "T y", "y = x + 1 / 2;", "'/' of int and int"),
    ("T x", "T y", "y = x > 0;", "'y' is assigned a comparison"),
    ("T x", "T y", "y = x > 0 ? 1 : 0;", "branches of '\\?:' must be T"),
    ("T x", "T y", "y = x ? x : 0;", "condition of '\\?:' must be a comparison"),
    ("T x", "T y", "y = 0 < x < 2 ? x : x;", "chained comparison"),
    ("float x", "T y", "y = x;", "only 'T name' is in the subset"),
    ("raw T x", "T y", "y = x;", "only 'T name' is in the subset"),
    ("T x", "T i", "i = x;", "'i' is reserved"),
    ("T x", "T x", "x = 1;", "repeated"),
])
def test_evaluator_rejects_code_outside_the_subset(ins, outs, body, message):
    with pytest.raises(SubsetError, match=message):
        Program(ins, outs, body)


def test_evaluator_runs_as_elementwise_kernel_does():
    prog = Program("T x, T s", "T y, T z",
                   "T a = x * s; a += 1; T b = -x > 0 ? x : 0; y = a; z = b;")
    x = np.array([[1, -2, 3]], np.float32)
    s = np.array(2, np.float32)  # 0-d: broadcast
    y, z = prog.run((x, s))
    assert y.dtype == np.float32 and y.tolist() == [[3, -3, 7]] and z.tolist() == [[0, -2, 0]]
    y0, z0 = np.zeros_like(x), np.zeros_like(x)
    assert prog.run((x, s, y0, z0), return_tuple=True)[0] is y0 and y0.tolist() == [[3, -3, 7]]
    same = x.copy()  # an input given as its own output: read before written
    assert Program("T x", "T y", "y = x * x + x;").run((same, same)) is same
    assert same.tolist() == [[2, 2, 12]]
    with pytest.raises(TypeError, match="Type is mismatched"):
        prog.run((x, s.astype(np.float64)))
    with pytest.raises(ValueError, match="Out shape is mismatched"):
        prog.run((x, s, y0[0], z0))


def test_the_table_is_in_the_subset_and_apply_inputs_are_the_opdef_args():
    algos = {kernel: algo for algo, kernel in training._CUDA.items()}
    for name, f in cuda_fused.KERNELS.items():
        prog = Program(f.in_params, f.out_params, f.body)
        if name.startswith("apply_"):
            op_type = "Apply" + algos[name.removesuffix("_nesterov")]
            args = [a.name for a in op_def_registry.get(op_type).input_arg]
            assert prog.ins == args, name
            assert prog.outs == [f"{s}_out" for s, _ in zip(args, prog.outs)], name


def test_get_builds_each_kernel_once_per_module(cp):
    k = cuda_fused.get(cp, "sigmoid")
    assert cuda_fused.get(cp, "sigmoid") is k and k.name == "gmeta_sigmoid"
    assert k.kwargs == {"options": ("--fmad=false",)}
    assert cuda_fused.get(make_fake_cupy(), "sigmoid") is not k
    assert cuda_fused.pick(cp, "sigmoid", np.float64) is k
    assert cuda_fused.pick(cp, "sigmoid", np.float16) is None
    assert cuda_fused.pick(cp, None, np.float32) is None
    assert cuda_fused.pick(np, "sigmoid", np.float32) is None


# -- optimizer updates -------------------------------------------------------------------------
# table name -> (algorithm, attrs)
APPLY_CASES = {
    "apply_gradient_descent": ("GradientDescent", {}),
    "apply_momentum": ("Momentum", {"use_nesterov": False}),
    "apply_momentum_nesterov": ("Momentum", {"use_nesterov": True}),
    "apply_adam": ("Adam", {"use_nesterov": False}),
    "apply_adam_nesterov": ("Adam", {"use_nesterov": True}),
    "apply_rms_prop": ("RMSProp", {}),
    "apply_adagrad": ("Adagrad", {}),
}
_SCALARS = {"alpha": 0.05, "lr": 0.01, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999,
            "beta1_power": 0.9 ** 3, "beta2_power": 0.999 ** 3, "epsilon": 1e-7, "rho": 0.9}
_POSITIVE = {"v", "accum", "ms", "accum_update"}
SHAPE = (3, 4)
FLOATS = [np.float32, np.float64]


def _tol(dtype):
    return 1e-6 if dtype == np.float32 else 1e-12


class _Apply:
    """One (Resource)Apply node on placeholders, its kernels and a set of values."""

    def __init__(self, op_type, dtype, attrs, seed=0):
        self.sig = training._Signature(op_type)
        self.resource = op_type.startswith("Resource")
        dt = gm.as_dtype(dtype)
        with gm.Graph().as_default():
            kw = {}
            for _, name in self.sig.slots:
                kw[name] = (apply_op("VarHandleOp", name=name, dtype=dt, shape=list(SHAPE),
                                     shared_name=name) if self.resource else
                            apply_op("VariableV2", name=name, dtype=dt, shape=list(SHAPE)))
            for _, name in self.sig.scalars:
                kw[name] = gm.placeholder(dt, [], name=name)
            kw[self.sig.grad[1]] = gm.placeholder(dt, SHAPE, name="grad")
            out = apply_op(op_type, name="op", **kw, **attrs)
        self.op = out if self.resource else out.op
        rng = np.random.default_rng(seed)
        # var is small next to its update, so that the update's last bits show in it
        self.slots = {n: (rng.uniform(0.1, 1, SHAPE) if n in _POSITIVE else
                          rng.normal(size=SHAPE) * (1e-3 if n == "var" else 1)).astype(dtype)
                      for _, n in self.sig.slots}
        self.scalars = {n: np.array(_SCALARS[n], dtype) for _, n in self.sig.scalars}
        self.grads = [rng.normal(size=SHAPE).astype(dtype) for _ in range(3)]

    def kernel(self, xp):
        ctx = KernelContext(self.op, xp, "CPU" if xp is np else "GPU", None)
        return lookup(self.op.type, ctx.device_type).factory(ctx)

    def refs(self):
        out = {}
        for name, value in self.slots.items():
            out[name] = VarRef(name, None, None)
            out[name].value = value.copy()
        return out

    def args(self, refs, grad, **override):
        args = [None] * len(self.op.inputs)
        gi, gname = self.sig.grad
        for i, name in self.sig.slots:
            args[i] = refs[name]
        for i, name in self.sig.scalars:
            args[i] = override.get(name, self.scalars[name])
        args[gi] = override.get(gname, grad)
        return args

    def run_cpu(self, **override):
        run, refs = self.kernel(np), self.refs()
        for g in self.grads:
            run(*self.args(refs, g, **override))
        return {n: r.value for n, r in refs.items()}


def _assert_same(got, want, dtype):
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=_tol(dtype), err_msg=name)
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)  # same operations
        assert got[name].dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
@pytest.mark.parametrize("name", sorted(APPLY_CASES))
def test_fused_update_matches_numpy_in_one_launch(cp, name, resource, dtype):
    algo, attrs = APPLY_CASES[name]
    case = _Apply(("ResourceApply" if resource else "Apply") + algo, dtype, attrs)
    run, refs = case.kernel(cp), case.refs()
    owned = {n: r.value for n, r in refs.items()}
    for step, g in enumerate(case.grads):
        held = {n: r.value for n, r in refs.items()}
        kept = {n: a.copy() for n, a in held.items()}
        out = run(*case.args(refs, g))
        assert cp.launches == ["gmeta_" + name] * (step + 1)
        for n, r in refs.items():
            if resource:  # copy-on-write: new arrays; a value read before keeps its own
                assert out is None and r.value is not held[n]
                np.testing.assert_array_equal(held[n], kept[n])
            else:  # ref: the variable's and slots' own arrays, in place
                assert out is refs["var"] and r.value is owned[n]
    _assert_same({n: r.value for n, r in refs.items()}, case.run_cpu(), dtype)


@pytest.mark.parametrize("prefix", ["", "Resource"])
def test_arguments_that_do_not_fit_fall_back(cp, prefix):
    case = _Apply(prefix + "ApplyMomentum", np.float32, {"use_nesterov": False})
    run = case.kernel(cp)
    refs = case.refs()
    for g in case.grads:
        run(*case.args(refs, g, lr=np.array(0.01, np.float64)))  # a scalar of another dtype
    assert cp.launches == []
    _assert_same({n: r.value for n, r in refs.items()},
                 case.run_cpu(lr=np.array(0.01, np.float64)), np.float32)
    with pytest.raises(errors.InvalidArgumentError, match="var and grad do not have the same"):
        run(*case.args(case.refs(), case.grads[0][:2]))
    with pytest.raises(errors.InvalidArgumentError, match="momentum is not a scalar"):
        run(*case.args(case.refs(), case.grads[0], momentum=np.array([0.9], np.float32)))
    assert cp.launches == []


def test_ref_slots_that_cannot_be_written_in_place_fall_back(cp):
    case = _Apply("ApplyMomentum", np.float32, {"use_nesterov": False})
    run = case.kernel(cp)
    refs = case.refs()
    view = refs["var"].value = np.repeat(refs["var"].value, 2, axis=0)[::2]  # not owned
    for g in case.grads:
        run(*case.args(refs, g))
    assert refs["var"].value is not view  # replaced by the regular path, then fused in place
    assert cp.launches == ["gmeta_apply_momentum"] * 2
    _assert_same({n: r.value for n, r in refs.items()}, case.run_cpu(), np.float32)
    cp.launches.clear()
    refs = case.refs()
    refs["accum"].value = refs["var"].value  # one array as two slots
    run(*case.args(refs, case.grads[0]))
    assert cp.launches == []


def test_an_input_overlapping_a_variable_falls_back_unless_it_is_the_array(cp):
    case = _Apply("ApplyGradientDescent", np.float32, {})
    run = case.kernel(cp)
    refs = case.refs()
    var = refs["var"].value
    want = var - var[::-1] * np.float32(0.05)
    run(*case.args(refs, None, delta=var[::-1]))  # a view of var: elements cross
    assert cp.launches == []
    np.testing.assert_array_equal(refs["var"].value, want)
    want = var - var * np.float32(0.05)
    run(*case.args(refs, None, delta=var))  # var itself: each element read, then written
    assert cp.launches == ["gmeta_apply_gradient_descent"] and refs["var"].value is var
    np.testing.assert_array_equal(var, want)


@pytest.mark.parametrize("op_type, attrs, dtype", [
    ("ApplyAdagrad", {"update_slots": False}, np.float32),  # not covered by the kernel
    ("ApplyAdam", {}, np.float16),
    ("ApplyAdadelta", {}, np.float32),  # no fused kernel
])
def test_updates_without_a_fused_kernel_keep_the_numpy_closure(cp, op_type, attrs, dtype):
    case = _Apply(op_type, dtype, attrs)
    run, refs = case.kernel(cp), case.refs()
    for g in case.grads:
        run(*case.args(refs, g))
    assert cp.launches == []
    _assert_same({n: r.value for n, r in refs.items()}, case.run_cpu(), dtype)


def test_numpy_and_virtual_gpus_keep_the_regular_closure():
    case = _Apply("ApplyAdam", np.float32, {})
    for device_type in ("CPU", "GPU"):  # a virtual GPU runs on numpy
        ctx = KernelContext(case.op, np, device_type, None)
        regular = training._dense_factory(ctx, training._adam, True)
        assert training._cuda_dense(ctx, regular, True) is regular
        assert training._fused_inplace(ctx, (9,), regular) is not None


def test_memory_plan_variants_on_cupy(cp):
    for op_type in ("ApplyGradientDescent", "ApplyMomentum", "ApplyAdam"):
        case = _Apply(op_type, np.float32, {})
        ctx = KernelContext(case.op, cp, "GPU", None)
        assert lookup(op_type, "GPU").inplace(ctx, (case.sig.grad[0],), case.kernel(cp)) \
            is None  # the fused closure updates in place already
    case = _Apply("ResourceApplyGradientDescent", np.float64, {})
    ctx = KernelContext(case.op, cp, "GPU", None)
    run = lookup(case.op.type, "GPU").inplace(ctx, (2,), case.kernel(cp))
    refs = case.refs()
    old = refs["var"].value
    for g in case.grads:
        delta = g.copy()  # a dying buffer the plan owns
        assert run(*case.args(refs, None, delta=delta)) is None
        assert refs["var"].value is delta  # the result went into delta's buffer
    assert cp.launches == ["gmeta_apply_gradient_descent"] * 3
    assert old.tolist() == case.slots["var"].tolist()  # the old value is untouched
    _assert_same({"var": refs["var"].value}, case.run_cpu(), np.float64)


# -- activations and their gradients ------------------------------------------------------------
GRAD_CASES = {"relu_grad": "ReluGrad", "relu6_grad": "Relu6Grad", "tanh_grad": "TanhGrad",
              "sigmoid_grad": "SigmoidGrad"}


def _grad_node(op_type, dtype):
    with gm.Graph().as_default():
        names = [arg.name for arg in op_def_registry.get(op_type).input_arg]
        kw = {n: gm.placeholder(gm.as_dtype(dtype), None, name=n) for n in names}
        return apply_op(op_type, name="op", **kw).op


def _grad_inputs(op_type, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(4, 5)) * 4
    b = rng.normal(size=(4, 5)) * 4
    if op_type in ("ReluGrad", "Relu6Grad"):  # the mask's edges, signed zero, NaN, inf
        b.flat[:6] = [0, 6, -0.0, 5.999, 1e-30, np.nan]
        a.flat[:4] = [np.nan, -np.inf, -3, -0.0]
    else:  # y of tanh / sigmoid
        a = np.tanh(a) if op_type == "TanhGrad" else 1 / (1 + np.exp(-a))
    return a.astype(dtype), b.astype(dtype)


def _kernels(op, cp):
    kdef = lookup(op.type, "GPU")
    return (kdef, kdef.factory(KernelContext(op, cp, "GPU", None)),
            kdef.factory(KernelContext(op, np, "CPU", None)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_fused_grad_matches_numpy(cp, name, dtype):
    op_type = GRAD_CASES[name]
    op = _grad_node(op_type, dtype)
    kdef, fused, cpu = _kernels(op, cp)
    a, b = _grad_inputs(op_type, dtype)
    with np.errstate(all="ignore"):  # the numpy kernel warns of NaN * 0
        want = cpu(a, b)
    got = fused(a, b)
    assert cp.launches == ["gmeta_" + name]
    assert got.dtype == dtype and got is not a and got is not b
    np.testing.assert_allclose(got, want, rtol=_tol(dtype))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    for ks in [(0,), (1,), (0, 1)]:  # memory planning: the result in a dying input
        variant = kdef.inplace(KernelContext(op, cp, "GPU", None), ks, fused)
        x, y = a.copy(), b.copy()
        out = variant(x, y)
        assert out is (x, y)[ks[0]]
        np.testing.assert_array_equal(out, want)
    assert cp.launches == ["gmeta_" + name] * 4


def test_a_reshaped_grad_in_place_falls_back_to_the_fused_closure(cp):
    op = _grad_node("TanhGrad", np.float32)
    kdef, fused, cpu = _kernels(op, cp)
    a, b = _grad_inputs("TanhGrad", np.float32)
    variant = kdef.inplace(KernelContext(op, cp, "GPU", None), (1,), fused)
    flat = b.reshape(-1).copy()
    out = variant(a, flat)
    assert out is not flat and out.shape == a.shape and cp.launches == ["gmeta_tanh_grad"]
    np.testing.assert_array_equal(out, cpu(a, b))


def test_grads_without_a_fused_kernel_keep_numpy(cp):
    op = _grad_node("Relu6Grad", np.float16)
    kdef, fused, cpu = _kernels(op, cp)
    a, b = _grad_inputs("Relu6Grad", np.float16)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fused(a, b), cpu(a, b))
    assert kdef.inplace(KernelContext(op, cp, "GPU", None), (0,), fused) is None
    op = _grad_node("Relu6Grad", np.float32)  # numpy: no in-place Relu6Grad, as before
    assert lookup("Relu6Grad", "CPU").inplace(KernelContext(op, np, "CPU", None), (0,), None) \
        is None
    assert cp.launches == []


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
def test_sigmoid(cp, dtype):
    with gm.Graph().as_default():
        op = gm.sigmoid(gm.placeholder(gm.as_dtype(dtype), None)).op
    _, fused, cpu = _kernels(op, cp)
    x = np.concatenate([np.random.default_rng(0).normal(size=20) * 8,
                        [-1000, -100, -20, -0.0, 0, 20, 100, 1000, np.nan]]).astype(dtype)
    with np.errstate(over="ignore"):  # e^1000 is inf in the numpy kernel: sigmoid 0
        got, want = fused(x), cpu(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=_tol(dtype) if dtype != np.float16 else 0)
    np.testing.assert_array_equal(got, want)
    assert cp.launches == ([] if dtype == np.float16 else ["gmeta_sigmoid"])


def test_every_table_entry_has_a_test():
    """Each case test checks its kernel launched by name; this keeps the cases and the table
    in step."""
    tested = set(APPLY_CASES) | set(GRAD_CASES) | {"sigmoid"}
    assert tested == set(cuda_fused.KERNELS)
