"""Fused CUDA elementwise kernels: one launch where a chain of CuPy ufuncs would make several.

On a GPU every CuPy ufunc call is a kernel launch (about 10 us of host time each), so an Adam
update is a dozen launches and a sigmoid gradient three. Each entry of :data:`KERNELS` does
such a formula in one ``cupy.ElementwiseKernel``. The kernels of ``training.py``,
``grad_support.py`` and ``math.py`` take it at plan time where ``ctx.xp`` is CuPy
(:func:`pick`) and keep their numpy code everywhere else (CPU, and virtual GPUs, which run on
numpy).

What a body may be (tests/kernels/test_cuda_fused.py runs every body through an evaluator of
exactly this subset, on numpy, and rejects anything outside it):

* statements ``T name = expr;``, ``name = expr;`` and ``name op= expr;`` (``+ - * /``);
  expressions of ``+ - * /``, unary minus, parentheses, integer literals (``1.0`` would be a C
  double and widen a float kernel), comparisons (a bool, promoted to 0 or 1 in arithmetic as C
  does), ``c ? a : b`` and ``sqrt rsqrt exp log tanh fabs fmax fmin`` of ``T`` values;
* every parameter has the type ``T``: one dtype for every array, float32 or float64 here
  (:func:`pick`); 0-d arrays broadcast (the scalars ``lr``, ``beta1``, ...);
* the formula is the numpy kernel's, operation for operation, and it is compiled with
  ``--fmad=false`` (no multiply-add contraction), so every operation rounds as it does in
  CuPy's one-ufunc-per-operation path;
* outputs are written and never read, and no input is read after the first output is
  written. ElementwiseKernel binds inputs as references to the elements, so an output may be
  given the very array of an input: the in-place updates pass a variable as both ``var`` and
  ``var_out``, and memory planning passes a dying input as the result.

Output arguments given to the kernel are written in place; when none are given, it returns new
arrays (one array for one output, else a tuple).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gmeta.kernels import is_cupy


class Fused(NamedTuple):
    in_params: str  # "T a, T b": the inputs, in the op's input order
    out_params: str  # "T y": the outputs
    body: str  # CUDA C in the subset of the module docstring


# Optimizer updates: the inputs are the OpDef's input args in their order (slots as values), so
# the kernels of training.py pass the op's arguments through; the outputs are "<slot>_out".
_ADAM_IN = ("T var, T m, T v, T beta1_power, T beta2_power, T lr, T beta1, T beta2, T epsilon, "
            "T grad")
_ADAM_MOMENTS = """
T alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power);
T m1 = m + (grad - m) * (1 - beta1);
T v1 = v + (grad * grad - v) * (1 - beta2);
"""
_MOMENTUM_IN = "T var, T accum, T lr, T grad, T momentum"

KERNELS: dict[str, Fused] = {
    "apply_gradient_descent": Fused("T var, T alpha, T delta", "T var_out",
                                    "var_out = var - delta * alpha;"),
    "apply_momentum": Fused(_MOMENTUM_IN, "T var_out, T accum_out", """
T a = accum * momentum + grad;
var_out = var - a * lr;
accum_out = a;
"""),
    "apply_momentum_nesterov": Fused(_MOMENTUM_IN, "T var_out, T accum_out", """
T a = accum * momentum + grad;
var_out = var - (grad * lr + a * momentum * lr);
accum_out = a;
"""),
    "apply_adam": Fused(_ADAM_IN, "T var_out, T m_out, T v_out", _ADAM_MOMENTS + """
var_out = var - m1 * alpha / (sqrt(v1) + epsilon);
m_out = m1;
v_out = v1;
"""),
    "apply_adam_nesterov": Fused(_ADAM_IN, "T var_out, T m_out, T v_out", _ADAM_MOMENTS + """
var_out = var - (grad * (1 - beta1) + beta1 * m1) * alpha / (sqrt(v1) + epsilon);
m_out = m1;
v_out = v1;
"""),
    "apply_rms_prop": Fused("T var, T ms, T mom, T lr, T rho, T momentum, T epsilon, T grad",
                            "T var_out, T ms_out, T mom_out", """
T ms1 = ms + (grad * grad - ms) * (1 - rho);
T mom1 = mom * momentum + grad * lr / sqrt(ms1 + epsilon);
var_out = var - mom1;
ms_out = ms1;
mom_out = mom1;
"""),
    "apply_adagrad": Fused("T var, T accum, T lr, T grad", "T var_out, T accum_out", """
T a = accum + grad * grad;
var_out = var - grad * lr / sqrt(a);
accum_out = a;
"""),
    # Activations and their gradients (TF's input names). The grads multiply by the mask, as
    # TF does: a NaN gradient stays NaN where the mask is 0.
    "relu_grad": Fused("T gradients, T features", "T backprops",
                       "backprops = gradients * (features > 0);"),
    "relu6_grad": Fused("T gradients, T features", "T backprops",
                        "backprops = gradients * (features > 0) * (features < 6);"),
    "tanh_grad": Fused("T y, T dy", "T z", "z = dy * (1 - y * y);"),
    "sigmoid_grad": Fused("T y, T dy", "T z", "z = dy * (y * (1 - y));"),
    "sigmoid": Fused("T x", "T y", "y = 1 / (1 + exp(-x));"),
}

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_OPTIONS = ("--fmad=false",)
_BUILT: dict = {}  # (array module, name) -> its ElementwiseKernel
_CHECKED: dict = {}  # (array module, name, dtype) -> whether it compiled and ran (pick)


def get(xp, name: str):
    """The ``xp.ElementwiseKernel`` of ``KERNELS[name]``, made once per (module, name); CuPy
    compiles it on its first call for each dtype."""
    key = (xp, name)
    built = _BUILT.get(key)
    if built is None:
        f = KERNELS[name]
        built = _BUILT[key] = xp.ElementwiseKernel(f.in_params, f.out_params, f.body,
                                                   "gmeta_" + name, options=_OPTIONS)
    return built


def pick(xp, name, dtype):
    """The fused kernel ``name`` where ``xp`` is CuPy and ``dtype`` is float32 or float64, else
    None (no kernel by that name either): the caller then keeps its ``xp`` code. Factories call
    this once, at plan time. The first pick of a (name, dtype) compiles the kernel and runs it
    on one element; if the device's compiler refuses it, a warning says so and the unfused code
    runs from then on (a step never fails for want of a fused kernel)."""
    if name is None or not is_cupy(xp) or np.dtype(dtype) not in _DTYPES:
        return None
    key = (xp, name, np.dtype(dtype))
    ok = _CHECKED.get(key)
    k = get(xp, name)
    if ok is None:
        n_in = KERNELS[name].in_params.count(",") + 1
        try:
            k(*[xp.ones((1,), dtype) for _ in range(n_in)])
            ok = True
        except Exception as e:  # NVRTC's CompileException, a driver error
            import logging

            logging.getLogger("gmeta").warning(
                "gmeta: the fused CUDA kernel %s (%s) could not be built, so the unfused CuPy "
                "code runs instead: %s: %s", name, np.dtype(dtype).name, type(e).__name__, e)
            ok = False
        _CHECKED[key] = ok
    return k if ok else None
