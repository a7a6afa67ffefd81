"""Random tensors: truncated_normal, random_normal, random_uniform (TF's node structure)."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library, random_seed
from gmeta.framework import ops as ops_lib


def _shape_tensor(shape):
    if isinstance(shape, ops_lib.Tensor):
        return shape
    if hasattr(shape, "as_list"):
        shape = shape.as_list()
    return ops_lib.convert_to_tensor(shape, name="shape", preferred_dtype=dtypes.int32)


def _seeds(seed):
    s1, s2 = random_seed.get_seed(seed)
    return s1 or 0, s2 or 0


def _scaled_normal(op_type, default_name, shape, mean, stddev, dtype, seed, name):
    """``op_type``'s standard normal samples times ``stddev`` plus ``mean``, as TF builds them."""
    dtype = dtypes.as_dtype(dtype)
    with ops_lib.name_scope_v1(name, default_name, [shape, mean, stddev]) as scope:
        shape_t = _shape_tensor(shape)
        mean_t = ops_lib.convert_to_tensor(mean, dtype=dtype, name="mean")
        stddev_t = ops_lib.convert_to_tensor(stddev, dtype=dtype, name="stddev")
        s1, s2 = _seeds(seed)
        rnd = op_def_library.apply_op(op_type, shape=shape_t, dtype=dtype, seed=s1, seed2=s2)
        mul = op_def_library.apply_op("Mul", x=rnd, y=stddev_t, name="mul")
        return op_def_library.apply_op("AddV2", x=mul, y=mean_t, name=scope)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Normal samples with values beyond two standard deviations redrawn."""
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype,
                          seed, name)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype,
                          seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """Uniform samples in [minval, maxval); integer dtypes need ``maxval``."""
    dtype = dtypes.as_dtype(dtype)
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype.name}")
        maxval = 1
    with ops_lib.name_scope_v1(name, "random_uniform", [shape, minval, maxval]) as scope:
        shape_t = _shape_tensor(shape)
        min_is_zero = isinstance(minval, int) and minval == 0
        max_is_one = isinstance(maxval, int) and maxval == 1
        if not min_is_zero or not max_is_one or dtype.is_integer:
            minval = ops_lib.convert_to_tensor(minval, dtype=dtype, name="min")
            maxval = ops_lib.convert_to_tensor(maxval, dtype=dtype, name="max")
        s1, s2 = _seeds(seed)
        if dtype.is_integer:
            return op_def_library.apply_op("RandomUniformInt", shape=shape_t, minval=minval,
                                           maxval=maxval, seed=s1, seed2=s2, name=scope)
        result = op_def_library.apply_op("RandomUniform", shape=shape_t, dtype=dtype, seed=s1,
                                         seed2=s2)
        if min_is_zero:
            if not max_is_one:
                result = op_def_library.apply_op("Mul", x=result, y=maxval, name="Mul")
            return result
        rng = op_def_library.apply_op("Sub", x=maxval, y=minval, name="sub")
        mul = op_def_library.apply_op("Mul", x=result, y=rng, name="mul")
        return op_def_library.apply_op("AddV2", x=mul, y=minval, name=scope)


def set_random_seed(seed):
    random_seed.set_random_seed(seed)


from gmeta.framework import shape_inference as _si  # noqa: E402


@_si.register("TruncatedNormal", "RandomStandardNormal", "RandomUniform", "RandomUniformInt")
def _random_shape(op):
    return [_si.shape_from_input(op, 0)]
