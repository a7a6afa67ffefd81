"""``tf.compat.v1.losses``: weighted losses with TF's exact subgraphs, names and collections.

Every loss builds, in its scope (``mean_squared_error``, ``sparse_softmax_cross_entropy_loss``,
...), the per-element losses, then :func:`compute_weighted_loss`: a static broadcast check of the
weights (``assert_broadcastable/...``, a ``NoOp`` the rest depends on), ``Mul`` by the weights, the
reduction (``Sum``; for the averaging reductions a ``DivNoNan`` named ``value``) and a final cast
back to the input dtype. The result is added to the ``losses`` collection (``loss_collection``).

Differences from TF (documented, not silent):

* Weights or losses whose shape is not fully known at build time (e.g. a ``[None, 1]`` weights
  placeholder): TF adds a run-time check built from ``tf.cond``, ``Assert`` and
  ``DenseToDenseSetOperation``. gmeta builds no run-time check, so those graphs lack TF's
  ``assert_broadcastable`` nodes (and the control dependencies on them); values are TF's for
  valid inputs. It keeps TF's build-time checks (a rank mismatch raises ``ValueError``) and
  also raises ``ValueError`` at build time for a mismatch between two *known* dimensions, which
  TF's run-time check would reject when run.
* Labels/predictions of unknown *rank* given to ``sparse_softmax_cross_entropy`` need TF's
  ``tf.cond`` squeeze and raise ``NotImplementedError``.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.shape_inference import constant_value
from gmeta.ops import array_ops, control_flow_ops, math_ops, nn_ops

__all__ = [
    "Reduction", "absolute_difference", "add_loss", "compute_weighted_loss", "cosine_distance",
    "get_losses", "get_regularization_loss", "get_regularization_losses", "get_total_loss",
    "hinge_loss", "huber_loss", "log_loss", "mean_pairwise_squared_error", "mean_squared_error",
    "sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
]

_scope = ops_lib.name_scope_v1
_LOSSES = ops_lib.GraphKeys.LOSSES
_BROADCAST_ERROR = "weights can not be broadcast to values."


class Reduction:
    """Types of loss reduction (``tf.compat.v1.losses.Reduction``).

    ``NONE``: the weighted losses, unreduced. ``SUM``: their sum. ``MEAN``: the sum divided by
    the sum of the (broadcast) weights. ``SUM_OVER_BATCH_SIZE``: the sum divided by the number of
    loss elements. ``SUM_BY_NONZERO_WEIGHTS`` (= ``SUM_OVER_NONZERO_WEIGHTS``, the default of
    every loss): the sum divided by the number of nonzero (broadcast) weights.
    """

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        """Every valid reduction key."""
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_OVER_NONZERO_WEIGHTS, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        """Raises ``ValueError`` unless ``key`` is one of :meth:`all`."""
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}. Key should be one of {cls.all()}.")


# -- weights broadcasting (TF's weights_broadcast_ops) ----------------------------------------
def _assert_broadcastable(weights, values):
    """The op the weighted loss runs after: TF's static check of ``weights`` against ``values``.

    Returns a ``NoOp`` (``static_scalar_check_success`` / ``static_dims_check_success``) when the
    check is decided at build time, else None (see the module docstring).

    Raises:
        ValueError: the ranks differ (both known, weights not scalar), or a known weights
            dimension is neither 1 nor the values dimension.
    """
    with _scope(None, "assert_broadcastable", (weights, values)):
        with _scope(None, "weights", (weights,)) as weights_scope:
            weights = ops_lib.convert_to_tensor(weights, name=weights_scope)
            weights_shape = array_ops.shape(weights, name="shape")
            weights_rank = array_ops.rank(weights, name="rank")
        weights_rank_static = constant_value(weights_rank)
        with _scope(None, "values", (values,)) as values_scope:
            values = ops_lib.convert_to_tensor(values, name=values_scope)
            values_shape = array_ops.shape(values, name="shape")
            values_rank = array_ops.rank(values, name="rank")
        values_rank_static = constant_value(values_rank)
        if weights_rank_static is None or values_rank_static is None:
            return None
        if weights_rank_static == 0:
            return control_flow_ops.no_op(name="static_scalar_check_success")
        if weights_rank_static != values_rank_static:
            raise ValueError(
                f"{_BROADCAST_ERROR} values.rank={values_rank_static}. "
                f"weights.rank={weights_rank_static}. values.shape={values.shape}. "
                f"weights.shape={weights.shape}. Received weights={weights}, values={values}")
        weights_dims = weights.shape.as_list()
        values_dims = values.shape.as_list()
        for i, (w, v) in enumerate(zip(weights_dims, values_dims)):
            if w is not None and v is not None and w not in (1, v):
                raise ValueError(
                    f"{_BROADCAST_ERROR} Mismatch at dim {i}. values.shape={values_dims}, "
                    f"weights.shape={weights_dims}. Received weights={weights}, "
                    f"values={values}")
        if constant_value(weights_shape) is not None and \
                constant_value(values_shape) is not None:
            return control_flow_ops.no_op(name="static_dims_check_success")
        return None


def _deps(check):
    return ops_lib.control_dependencies([] if check is None else [check])


def _broadcast_weights(weights, values):
    """``weights`` broadcast to the shape of ``values`` (TF's ``broadcast_weights``)."""
    with _scope(None, "broadcast_weights", (weights, values)) as scope:
        values = ops_lib.convert_to_tensor(values, name="values")
        weights = ops_lib.convert_to_tensor(weights, dtype=values.dtype.base_dtype,
                                            name="weights")
        w_shape, v_shape = weights.shape, values.shape
        if w_shape.is_fully_defined() and v_shape.is_fully_defined() and \
                w_shape.is_compatible_with(v_shape):
            return weights
        with _deps(_assert_broadcastable(weights, values)):
            return math_ops.multiply(weights, array_ops.ones_like(values), name=scope)


# -- reductions -----------------------------------------------------------------------------------
def _safe_mean(losses, num_present):
    """``sum(losses) / num_present``, 0 where ``num_present`` is 0 (a ``DivNoNan`` ``value``)."""
    total_loss = math_ops.reduce_sum(losses)
    return math_ops.div_no_nan(total_loss, num_present, name="value")


def _num_elements(losses):
    with _scope(None, "num_elements", values=[losses]) as scope:
        return math_ops.cast(array_ops.size(losses, name=scope), dtype=losses.dtype)


def _num_present(losses, weights, per_batch=False):
    """The number of nonzero weights once broadcast to ``losses`` (per batch entry or total)."""
    if isinstance(weights, float) and weights != 0.0:
        return _num_elements(losses)
    with _scope(None, "num_present", (losses, weights)) as scope:
        weights = math_ops.cast(weights, dtype=dtypes.float32)
        present = array_ops.where(math_ops.equal(weights, 0.0), array_ops.zeros_like(weights),
                                  array_ops.ones_like(weights))
        present = _broadcast_weights(present, losses)
        if per_batch:
            return math_ops.reduce_sum(present, axis=math_ops.range(1, array_ops.rank(present)),
                                       keepdims=True, name=scope)
        return math_ops.reduce_sum(present, name=scope)


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=_LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``losses`` times ``weights``, reduced by ``reduction`` and added to ``loss_collection``.

    Args:
        losses: Tensor of shape ``[batch_size, d1, ... dN]``.
        weights: scalar, or a tensor of the rank of ``losses`` whose dimensions are each 1 or
            the ``losses`` dimension.
        scope: the name scope (default ``weighted_loss``).
        loss_collection: collection the loss is added to (None or "" for none).
        reduction: a :class:`Reduction` key.

    Returns:
        The weighted loss, of the dtype of ``losses``: shaped like ``losses`` for
        ``Reduction.NONE``, else a scalar.

    Raises:
        ValueError: ``reduction`` is invalid, or ``weights`` cannot broadcast to ``losses``.
    """
    Reduction.validate(reduction)
    with _scope(scope, "weighted_loss", (losses, weights)):
        ops_lib.get_default_graph()._last_loss_reduction = reduction
        with _deps(_assert_broadcastable(weights, losses)):
            losses = ops_lib.convert_to_tensor(losses)
            input_dtype = losses.dtype
            losses = math_ops.cast(losses, dtype=dtypes.float32)
            weights = math_ops.cast(weights, dtype=dtypes.float32)
            weighted_losses = math_ops.multiply(losses, weights)
            if reduction == Reduction.NONE:
                loss = weighted_losses
            else:
                loss = math_ops.reduce_sum(weighted_losses)
                if reduction == Reduction.MEAN:
                    loss = _safe_mean(loss, math_ops.reduce_sum(
                        array_ops.ones_like(losses) * weights))
                elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
                    loss = _safe_mean(loss, _num_present(losses, weights))
                elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                    loss = _safe_mean(loss, _num_elements(losses))
            loss = math_ops.cast(loss, input_dtype)
            add_loss(loss, loss_collection)
            return loss


# -- the losses -------------------------------------------------------------------------------
def _check_args(**args):
    for name, value in args.items():
        if value is None:
            raise ValueError(f"Argument `{name}` must not be None.")


def _float_pair(predictions, labels):
    predictions = math_ops.cast(predictions, dtype=dtypes.float32)
    labels = math_ops.cast(labels, dtype=dtypes.float32)
    predictions.shape.assert_is_compatible_with(labels.shape)
    return predictions, labels


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``|predictions - labels|`` (scope ``absolute_difference``).

    Returns:
        The weighted loss (float32): shaped like ``labels`` for ``Reduction.NONE``, else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "absolute_difference", (predictions, labels, weights)) as scope:
        predictions, labels = _float_pair(predictions, labels)
        losses = math_ops.abs(math_ops.subtract(predictions, labels))
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def cosine_distance(labels, predictions, axis=None, weights=1.0, scope=None,
                    loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                    dim=None):
    """Weighted ``1 - sum(predictions * labels, axis)`` for unit-normalized inputs.

    Returns:
        The weighted loss (float32); for ``Reduction.NONE`` shaped like ``labels`` with
        ``axis`` kept as size 1.

    Raises:
        ValueError: ``axis`` (or ``dim``) missing, None arguments, incompatible shapes, or
            weights that cannot broadcast.
    """
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'.")
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("You must specify argument `axis`.")
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "cosine_distance_loss", (predictions, labels, weights)) as scope:
        predictions, labels = _float_pair(predictions, labels)
        radial_diffs = math_ops.multiply(predictions, labels)
        losses = 1 - math_ops.reduce_sum(radial_diffs, axis=(axis,), keepdims=True)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=_LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``relu(1 - (2 * labels - 1) * logits)`` for 0/1 ``labels``.

    Returns:
        The weighted loss (float32): shaped like ``labels`` for ``Reduction.NONE``, else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, logits=logits)
    with _scope(scope, "hinge_loss", (logits, labels, weights)) as scope:
        logits, labels = _float_pair(logits, labels)
        all_ones = array_ops.ones_like(labels)
        labels = math_ops.subtract(2 * labels, all_ones)
        losses = nn_ops.relu(math_ops.subtract(all_ones, math_ops.multiply(labels, logits)))
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted Huber loss: ``0.5 x^2`` for ``|x| <= delta``, else
    ``0.5 delta^2 + delta (|x| - delta)``, with ``x = predictions - labels``.

    Returns:
        The weighted loss (float32): shaped like ``labels`` for ``Reduction.NONE``, else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "huber_loss", (predictions, labels, weights)) as scope:
        predictions, labels = _float_pair(predictions, labels)
        abs_error = math_ops.abs(math_ops.subtract(predictions, labels))
        quadratic = math_ops.minimum(abs_error, delta)
        linear = math_ops.subtract(abs_error, quadratic)
        half = ops_lib.convert_to_tensor(0.5, dtype=quadratic.dtype)
        losses = math_ops.add(math_ops.multiply(half, math_ops.multiply(quadratic, quadratic)),
                              math_ops.multiply(delta, linear))
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``-labels log(p + eps) - (1 - labels) log(1 - p + eps)``.

    Returns:
        The weighted loss (float32): shaped like ``labels`` for ``Reduction.NONE``, else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "log_loss", (predictions, labels, weights)) as scope:
        predictions, labels = _float_pair(predictions, labels)
        losses = -math_ops.multiply(labels, math_ops.log(predictions + epsilon)) - \
            math_ops.multiply((1 - labels), math_ops.log(1 - predictions + epsilon))
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def mean_pairwise_squared_error(labels, predictions, weights=1.0, scope=None,
                                loss_collection=_LOSSES):
    """Weighted mean over each batch entry of the squared differences between all pairs of
    ``predictions - labels`` elements; summed over the batch.

    Returns:
        A scalar float32 loss (0 when no weight is nonzero).

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "mean_pairwise_squared_error", (predictions, labels, weights)):
        weights = math_ops.cast(weights, dtype=dtypes.float32)
        labels = math_ops.cast(labels, dtype=dtypes.float32)
        with _deps(_assert_broadcastable(weights, labels)):
            predictions = math_ops.cast(predictions, dtype=dtypes.float32)
            predictions.shape.assert_is_compatible_with(labels.shape)
            diffs = math_ops.subtract(predictions, labels)
            axis = math_ops.range(1, array_ops.rank(diffs))
            sum_squares_diff_per_batch = math_ops.reduce_sum(math_ops.square(diffs), axis=axis,
                                                             keepdims=True)
            num_present_per_batch = _num_present(diffs, weights, per_batch=True)
            term1 = 2.0 * math_ops.div_no_nan(sum_squares_diff_per_batch,
                                              math_ops.maximum(num_present_per_batch - 1, 0),
                                              name="value")
            sum_diff = math_ops.reduce_sum(diffs, axis=axis, keepdims=True)
            term2 = 2.0 * math_ops.div_no_nan(
                math_ops.square(sum_diff),
                math_ops.maximum(math_ops.multiply(num_present_per_batch,
                                                   num_present_per_batch - 1), 0),
                name="value")
            weighted_losses = math_ops.multiply(term1 - term2, weights)
            loss = math_ops.reduce_sum(weighted_losses)
            mean_loss = array_ops.where(math_ops.reduce_sum(num_present_per_batch) > 0, loss,
                                        array_ops.zeros_like(loss), name="value")
            add_loss(mean_loss, loss_collection)
            return mean_loss


def mean_squared_error(labels, predictions, weights=1.0, scope=None, loss_collection=_LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``(predictions - labels)^2`` (a ``SquaredDifference``).

    Returns:
        The weighted loss (float32): shaped like ``labels`` for ``Reduction.NONE``, else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(labels=labels, predictions=predictions)
    with _scope(scope, "mean_squared_error", (predictions, labels, weights)) as scope:
        predictions, labels = _float_pair(predictions, labels)
        losses = math_ops.squared_difference(predictions, labels)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=_LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``sigmoid_cross_entropy_with_logits`` (node ``xentropy``); with
    ``label_smoothing`` the labels become ``labels * (1 - s) + 0.5 * s``.

    Returns:
        The weighted loss (dtype of ``logits``): shaped like ``logits`` for ``Reduction.NONE``,
        else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(multi_class_labels=multi_class_labels, logits=logits)
    with _scope(scope, "sigmoid_cross_entropy_loss",
                (logits, multi_class_labels, weights)) as scope:
        logits = ops_lib.convert_to_tensor(logits)
        multi_class_labels = math_ops.cast(multi_class_labels, logits.dtype)
        logits.shape.assert_is_compatible_with(multi_class_labels.shape)
        if label_smoothing > 0:
            multi_class_labels = (multi_class_labels * (1 - label_smoothing) +
                                  0.5 * label_smoothing)
        losses = nn_ops.sigmoid_cross_entropy_with_logits(labels=multi_class_labels,
                                                          logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted softmax cross entropy of ``[batch, classes]`` one-hot labels (node
    ``xentropy``); with ``label_smoothing`` the labels become
    ``labels * (1 - s) + s / num_classes``. The labels get no gradient.

    Returns:
        The weighted loss (dtype of ``logits``): shape ``[batch]`` for ``Reduction.NONE``, else
        scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
    """
    _check_args(onehot_labels=onehot_labels, logits=logits)
    with _scope(scope, "softmax_cross_entropy_loss", (logits, onehot_labels, weights)) as scope:
        logits = ops_lib.convert_to_tensor(logits)
        onehot_labels = math_ops.cast(onehot_labels, logits.dtype)
        logits.shape.assert_is_compatible_with(onehot_labels.shape)
        if label_smoothing > 0:
            num_classes = math_ops.cast(array_ops.shape(onehot_labels)[-1], logits.dtype)
            smooth_positives = 1.0 - label_smoothing
            smooth_negatives = label_smoothing / num_classes
            onehot_labels = onehot_labels * smooth_positives + smooth_negatives
        onehot_labels = array_ops.stop_gradient(onehot_labels, name="labels_stop_gradient")
        losses = nn_ops.softmax_cross_entropy_with_logits_v2(labels=onehot_labels, logits=logits,
                                                             name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def _maybe_one(dim) -> bool:
    dim = getattr(dim, "value", dim)
    return dim is None or dim == 1


def _remove_squeezable_dimensions(labels, predictions, weights=None, expected_rank_diff=0):
    """Squeezes a trailing size-1 dimension of labels/predictions/weights off where the ranks
    say it is extra (TF's confusion_matrix.remove_squeezable_dimensions, static ranks only)."""
    with _scope(None, "remove_squeezable_dimensions", [labels, predictions]):
        predictions = ops_lib.convert_to_tensor(predictions)
        labels = ops_lib.convert_to_tensor(labels)
        p_shape, l_shape = predictions.shape, labels.shape
        if p_shape.ndims is None or l_shape.ndims is None:
            raise NotImplementedError(
                "sparse_softmax_cross_entropy: labels and logits of unknown rank need TF's "
                "tf.cond squeeze, which gmeta does not build; give them a known rank")
        rank_diff = p_shape.ndims - l_shape.ndims
        if rank_diff == expected_rank_diff + 1 and _maybe_one(p_shape[-1]):
            predictions = array_ops.squeeze(predictions, [-1])
        elif rank_diff == expected_rank_diff - 1 and _maybe_one(l_shape[-1]):
            labels = array_ops.squeeze(labels, [-1])
    if weights is not None:
        weights = ops_lib.convert_to_tensor(weights)
        labels_rank, weights_rank = labels.shape.ndims, weights.shape.ndims
        if weights_rank is None:
            raise NotImplementedError(
                "sparse_softmax_cross_entropy: weights of unknown rank need TF's tf.cond "
                "squeeze, which gmeta does not build; give them a known rank")
        if weights_rank - labels_rank == 1:
            weights = array_ops.squeeze(weights, [-1])
    return labels, predictions, weights


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=_LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted ``sparse_softmax_cross_entropy_with_logits`` of integer class ``labels`` (node
    ``xentropy``); a trailing size-1 dimension of ``labels`` or ``weights`` is squeezed off.

    Returns:
        The weighted loss (dtype of ``logits``): shaped like ``labels`` for ``Reduction.NONE``,
        else scalar.

    Raises:
        ValueError: None arguments, incompatible shapes, or weights that cannot broadcast.
        NotImplementedError: labels, logits or weights of unknown rank.
    """
    _check_args(labels=labels, logits=logits)
    with _scope(scope, "sparse_softmax_cross_entropy_loss", (logits, labels, weights)) as scope:
        labels, logits, weights = _remove_squeezable_dimensions(labels, logits, weights,
                                                                expected_rank_diff=1)
        losses = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                                 name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


# -- the LOSSES collection --------------------------------------------------------------------
def add_loss(loss, loss_collection=_LOSSES):
    """Adds ``loss`` to ``loss_collection`` (nothing when it is None or empty)."""
    if loss_collection:
        ops_lib.add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=_LOSSES):
    """The losses of ``loss_collection`` whose names match ``scope``."""
    return ops_lib.get_collection(loss_collection, scope)


def get_regularization_losses(scope=None):
    """The ``regularization_losses`` collection (filtered by ``scope``)."""
    return ops_lib.get_collection(ops_lib.GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    """The sum of the regularization losses (``AddN`` named ``name``), or ``0.0`` if none."""
    from gmeta.ops import constant_op

    losses = get_regularization_losses(scope)
    if losses:
        return math_ops.add_n(losses, name=name)
    return constant_op.constant(0.0)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    """The sum (``AddN`` named ``name``) of the losses, plus the regularization losses.

    Raises:
        ValueError: there is no loss to sum.
    """
    losses = get_losses(scope=scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope=scope)
    return math_ops.add_n(losses, name=name)
