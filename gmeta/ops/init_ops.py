"""TF1 initializers (``tf.compat.v1.*_initializer``): callables that build an initial value.

An initializer is called as ``init(shape, dtype=None, partition_info=None)`` and returns a Tensor,
building the nodes TensorFlow builds (``zeros``, ``random_uniform/...``, ``truncated_normal/...``)
under the caller's name scope (``w/Initializer/`` when ``gm.get_variable`` calls it).

>>> import gmeta as gm
>>> from gmeta.ops import init_ops
>>> with gm.Graph().as_default():
...     t = init_ops.glorot_uniform_initializer()([2, 3])
>>> t.op.name, t.shape.as_list()
('random_uniform', [2, 3])
"""

from __future__ import annotations

import math

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import constant_op, random_ops

__all__ = [
    "constant_initializer", "glorot_normal_initializer", "glorot_uniform_initializer",
    "ones_initializer", "orthogonal_initializer", "random_normal_initializer",
    "random_uniform_initializer", "truncated_normal_initializer",
    "uniform_unit_scaling_initializer", "variance_scaling_initializer", "zeros_initializer",
]

# ``truncated_normal`` with stddev 1 has this standard deviation (values beyond 2 sigma redrawn);
# VarianceScaling divides by it so that the samples have the requested variance.
_TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def _filled(shape, value, dtype, name):
    """``array_ops.zeros``/``ones`` of a static ``shape``: a Const when it has fewer than 1000
    elements, else ``Fill(shape_as_tensor, Const)``; the result is named ``name``."""
    dims = [int(d) for d in shape]
    if int(np.prod(dims, dtype=np.int64)) < 1000:
        return constant_op.constant(value, dtype=dtype, shape=dims, name=name)
    with ops_lib.name_scope_v1(name) as scope:
        index_dtype = dtypes.int64 if any(d >= 2 ** 31 for d in dims) else dtypes.int32
        shape_t = constant_op.constant(dims, dtype=index_dtype, name="shape_as_tensor")
        fill = constant_op.constant(value, dtype=dtype)
        return op_def_library.apply_op("Fill", dims=shape_t, value=fill, name=scope)


def _fill_value(dtype, one):
    if dtype == dtypes.bool:
        return one
    if dtype == dtypes.string:
        return "" if not one else "1"
    return 1 if one else 0


def _constant_fill(shape, dtype, one, default_name):
    dtype = dtypes.as_dtype(dtype).base_dtype
    value = _fill_value(dtype, one)
    with ops_lib.name_scope_v1(None, default_name, [shape]) as scope:
        if isinstance(shape, ops_lib.Tensor):
            fill = constant_op.constant(value, dtype=dtype)
            return op_def_library.apply_op("Fill", dims=shape, value=fill, name=scope)
        if hasattr(shape, "as_list"):
            shape = shape.as_list()
        if isinstance(shape, (int, np.integer)):
            shape = [shape]
        return _filled(shape, value, dtype, scope)


def _assert_float_dtype(dtype):
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(f"Argument `dtype` is expected to be floating point. Received: {dtype}.")
    return dtype


def _compute_fans(shape):
    """(fan_in, fan_out) of a weight shape; conv kernels multiply by the receptive field."""
    shape = list(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


class Initializer:
    """Base class of the TF1 initializers."""

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments, as a JSON-able dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """An initializer built from ``get_config()``'s dict."""
        return cls(**config)


class Zeros(Initializer):
    """All zeros (``False`` for bool, ``""`` for string)."""

    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _constant_fill(shape, dtype or self.dtype, False, "zeros")

    def get_config(self):
        return {"dtype": self.dtype.name}


class Ones(Initializer):
    """All ones (``True`` for bool)."""

    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _constant_fill(shape, dtype or self.dtype, True, "ones")

    def get_config(self):
        return {"dtype": self.dtype.name}


class Constant(Initializer):
    """A constant: a scalar fills the shape, a shorter list repeats its last element.

    Raises:
        TypeError: ``value`` is not a Python scalar, list, tuple or numpy array.
    """

    def __init__(self, value=0, dtype=dtypes.float32, verify_shape=False):
        if not (np.isscalar(value) or isinstance(value, (list, tuple, np.ndarray))):
            raise TypeError(f"Invalid type for initial value={value} of type: "
                            f"{type(value).__name__}. Expected Python scalar, list or tuple of "
                            "values, or numpy.ndarray.")
        self.value = value
        self.dtype = dtypes.as_dtype(dtype)
        self._verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        if verify_shape is None:
            verify_shape = self._verify_shape
        if hasattr(shape, "as_list"):
            shape = shape.as_list()
        return constant_op.constant(self.value, dtype=dtype or self.dtype, shape=shape,
                                    verify_shape=verify_shape)

    def get_config(self):
        return {"value": self.value, "dtype": self.dtype.name}


class RandomUniform(Initializer):
    """Uniform samples in ``[minval, maxval)`` (``maxval`` defaults to 1 for floats)."""

    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=dtypes.float32):
        self.minval = minval
        self.maxval = maxval
        self.seed = seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_uniform(shape, self.minval, self.maxval, dtype or self.dtype,
                                         seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed,
                "dtype": self.dtype.name}


class _Normal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        self.mean = mean
        self.stddev = stddev
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed,
                "dtype": self.dtype.name}


class RandomNormal(_Normal):
    """Normal samples with the given mean and standard deviation."""

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_normal(shape, self.mean, self.stddev, dtype or self.dtype,
                                        seed=self.seed)


class TruncatedNormal(_Normal):
    """Normal samples with values beyond two standard deviations redrawn."""

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.truncated_normal(shape, self.mean, self.stddev, dtype or self.dtype,
                                           seed=self.seed)


class UniformUnitScaling(Initializer):
    """Uniform in ``±sqrt(3 / fan_in) * factor`` (deprecated in TF, kept for old graphs)."""

    def __init__(self, factor=1.0, seed=None, dtype=dtypes.float32):
        self.factor = factor
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        scale_shape = partition_info.full_shape if partition_info is not None else shape
        input_size = 1.0
        for d in list(scale_shape)[:-1]:
            input_size *= float(d)
        max_val = math.sqrt(3 / max(input_size, 1.0)) * self.factor
        return random_ops.random_uniform(shape, -max_val, max_val, dtype or self.dtype,
                                         seed=self.seed)

    def get_config(self):
        return {"factor": self.factor, "seed": self.seed, "dtype": self.dtype.name}


class VarianceScaling(Initializer):
    """Samples whose variance is ``scale / n``, n being fan_in, fan_out or their average.

    Args:
        scale: Positive scaling factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"`` (alias ``"normal"``), ``"untruncated_normal"`` or
            ``"uniform"``.
        seed: Op-level random seed.
        dtype: Default dtype (floating point).

    Raises:
        ValueError: ``scale``, ``mode`` or ``distribution`` is invalid.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=dtypes.float32):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be a positive float. Received: {scale}")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(f"Argument `mode` should be one of ('fan_in', 'fan_out', "
                             f"'fan_avg'). Received: {mode}")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(f"Argument `distribution` should be one of ('normal', uniform', "
                             f"'truncated_normal', 'untruncated_normal'). Received: "
                             f"{distribution}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = dtype or self.dtype
        scale_shape = partition_info.full_shape if partition_info is not None else shape
        fan_in, fan_out = _compute_fans(scale_shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, n[self.mode])
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / _TRUNCATED_NORMAL_STDDEV
            return random_ops.truncated_normal(shape, 0.0, stddev, dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_ops.random_uniform(shape, -limit, limit, dtype, seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "dtype": self.dtype.name}


class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: ``VarianceScaling(1.0, "fan_avg", "uniform")``.

    Like TF, the ``dtype`` argument is accepted but the default dtype stays float32.
    """

    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed)

    def get_config(self):
        return {"seed": self.seed, "dtype": self.dtype.name}


class GlorotNormal(VarianceScaling):
    """Glorot/Xavier normal: ``VarianceScaling(1.0, "fan_avg", "truncated_normal")``."""

    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="truncated_normal", seed=seed)

    def get_config(self):
        return {"seed": self.seed, "dtype": self.dtype.name}


class Orthogonal(Initializer):
    """An orthogonal matrix (from the QR decomposition of a normal sample), times ``gain``.

    Raises:
        ValueError: the shape has fewer than two dimensions.
    """

    def __init__(self, gain=1.0, seed=None, dtype=dtypes.float32):
        self.gain = gain
        self.dtype = _assert_float_dtype(dtype)
        self.seed = seed

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = dtype or self.dtype
        shape = list(shape.as_list() if hasattr(shape, "as_list") else shape)
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize, specified by argument `shape` must be "
                             f"at least two-dimensional. Received shape={shape}")
        num_rows = int(np.prod(shape[:-1]))
        num_cols = int(shape[-1])
        flat = (num_cols, num_rows) if num_rows < num_cols else (num_rows, num_cols)
        apply = op_def_library.apply_op
        a = random_ops.random_normal(flat, dtype=dtype, seed=self.seed)
        q, r = apply("Qr", input=a, full_matrices=False, name="Qr")
        d = apply("DiagPart", input=r, name="DiagPart")
        q = apply("Mul", x=q, y=apply("Sign", x=d, name="Sign"), name="mul")
        if num_rows < num_cols:
            with ops_lib.name_scope_v1(None, "matrix_transpose", [q]):
                q = apply("Transpose", x=q, perm=[1, 0], name="transpose")
        q = apply("Reshape", tensor=q, shape=shape, name="Reshape")
        with ops_lib.name_scope_v1(None, "mul", [q]) as scope:
            gain = ops_lib.convert_to_tensor(self.gain, dtype=q.dtype.base_dtype, name="x")
            return apply("Mul", x=gain, y=q, name=scope)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed, "dtype": self.dtype.name}


def lecun_normal(seed=None):
    """``VarianceScaling(1.0, "fan_in", "truncated_normal")``."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def lecun_uniform(seed=None):
    """``VarianceScaling(1.0, "fan_in", "uniform")``."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


def he_normal(seed=None):
    """``VarianceScaling(2.0, "fan_in", "truncated_normal")``."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def he_uniform(seed=None):
    """``VarianceScaling(2.0, "fan_in", "uniform")``."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)


zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
uniform_unit_scaling_initializer = UniformUnitScaling
variance_scaling_initializer = VarianceScaling
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal
orthogonal_initializer = Orthogonal
