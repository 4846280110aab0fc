"""Metric-learning losses Keras lacks: contrastive (pairs), triplet (margin) and
batch-hard triplet losses.

Keras 3 ships no contrastive or triplet loss (TensorFlow Addons had them, for
Keras 2 only, and is no longer maintained). The pair and triplet losses read
the embeddings that a siamese model outputs, stacked along axis 1: ``[batch, 2,
dim]`` for a pair, ``[batch, 3, dim]`` for (anchor, positive, negative). The
shared encoder is applied to each member, so one loss call sees the whole
pair or triplet. The batch-hard loss instead reads one embedding per image
``[batch, dim]`` with the images' class labels, and mines its triplets inside
the batch. Written with ``keras.ops`` only (any backend).

Example:
    >>> import numpy as np
    >>> encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
    ...                             keras.layers.UnitNormalization()])
    >>> left, right = keras.Input((4,)), keras.Input((4,))
    >>> siamese = keras.Model([left, right], keras.ops.stack([encoder(left), encoder(right)], axis=1))
    >>> siamese.compile("adam", loss=ContrastiveLoss(margin=1.0))
    >>> x = np.ones((8, 4), "float32")
    >>> same = np.array([1, 0] * 4, "float32")  # 1 = the pair shows the same class
    >>> siamese.fit([x, x], same, epochs=1, verbose=0).history["loss"][0] >= 0
    True
"""

import keras
from keras import ops

_EPSILON = 1e-12


def _check_stacked(y_pred, members, loss_name):
    if len(y_pred.shape) != 3 or (y_pred.shape[1] is not None and y_pred.shape[1] != members):
        layout = "[batch, 2, dim] (left, right)" if members == 2 else "[batch, 3, dim] (anchor, positive, negative)"
        raise ValueError(
            f"{loss_name} needs embeddings stacked as {layout}; got shape {tuple(y_pred.shape)}. "
            "Stack the encoder's outputs with keras.ops.stack([...], axis=1)."
        )


def euclidean_distance(a, b, squared=False):
    """Row-wise Euclidean distance between ``[batch, dim]`` tensors.

    The square root is taken of ``max(d², 1e-12)``, so identical rows give a
    distance of 1e-6 and a finite gradient (the gradient of sqrt at 0 is inf).
    """
    squared_distance = ops.sum(ops.square(a - b), axis=-1)
    if squared:
        return squared_distance
    return ops.sqrt(ops.maximum(squared_distance, _EPSILON))


def contrastive_loss(y_true, y_pred, margin=1.0):
    """Per-pair contrastive loss ``y d² + (1 - y) max(margin - d, 0)²``.

    Hadsell, Chopra & LeCun 2006, "Dimensionality Reduction by Learning an
    Invariant Mapping" (CVPR), eq. 4, with the label flipped to y = 1 for a
    similar pair (as in TensorFlow Addons) and without the factors 1/2.

    Args:
        y_true: ``[batch]`` 1 for a pair of the same class, 0 for different.
        y_pred: ``[batch, 2, dim]`` the two embeddings of each pair.
        margin: different pairs closer than this are pushed apart; farther ones
            cost nothing.

    Returns:
        ``[batch]`` losses.
    """
    _check_stacked(y_pred, 2, "contrastive_loss")
    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1,))
    distance = euclidean_distance(y_pred[:, 0], y_pred[:, 1])
    return y_true * ops.square(distance) + (1.0 - y_true) * ops.square(ops.relu(margin - distance))


def triplet_loss(y_true, y_pred, margin=0.2, squared=True):
    """Per-triplet margin loss ``max(d(a, p) - d(a, n) + margin, 0)``.

    Schroff, Kalenichenko & Philbin 2015, "FaceNet: A Unified Embedding for Face
    Recognition and Clustering" (CVPR), eq. 2 (squared distances by default;
    ``squared=False`` uses plain distances, Weinberger & Saul's large-margin
    form).

    Args:
        y_true: ignored (Keras passes targets; give zeros).
        y_pred: ``[batch, 3, dim]`` embeddings of (anchor, positive, negative).
        margin: how much closer the positive must be than the negative.
        squared: compare squared Euclidean distances.

    Returns:
        ``[batch]`` losses.
    """
    del y_true
    _check_stacked(y_pred, 3, "triplet_loss")
    positive = euclidean_distance(y_pred[:, 0], y_pred[:, 1], squared=squared)
    negative = euclidean_distance(y_pred[:, 0], y_pred[:, 2], squared=squared)
    return ops.relu(positive - negative + margin)


def batch_hard_triplet_loss(y_true, y_pred, margin=0.2):
    """Per-anchor batch-hard triplet loss ``max(max_p d(a, p) - min_n d(a, n) + margin, 0)``.

    Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for Person
    Re-Identification" (arXiv:1703.07737), eq. 3 ("Batch Hard"): every image
    of the batch is an anchor, its positive is the farthest image of its own
    class in the batch and its negative the nearest image of another class.
    Plain (not squared) Euclidean distances, as in the paper. An anchor with
    no other image of its class in the batch gets a positive distance of 0;
    one with no image of another class costs nothing.

    Args:
        y_true: ``[batch]`` integer class labels.
        y_pred: ``[batch, dim]`` one embedding per image.
        margin: how much closer the hardest positive must be than the hardest
            negative.

    Returns:
        ``[batch]`` losses.
    """
    if len(y_pred.shape) != 2:
        raise ValueError(f"batch_hard_triplet_loss needs one embedding per image, [batch, dim]; got shape "
                         f"{tuple(y_pred.shape)}. Pass the encoder's output with the class labels as targets.")
    labels = ops.reshape(y_true, (-1,))
    # Not keras.ops.cdist: its square root at the zero diagonal (and at identical embeddings)
    # has a NaN gradient, which ops.where does not mask; hence max(d², 1e-12) as in
    # euclidean_distance, with d² = |a|² + |b|² - 2 a·b for all pairs at once.
    squared_norms = ops.sum(ops.square(y_pred), axis=-1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * ops.matmul(y_pred, ops.transpose(y_pred))
    distances = ops.sqrt(ops.maximum(squared, _EPSILON))
    same = ops.equal(labels[:, None], labels[None, :])
    other = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
    positive = ops.max(ops.where(ops.logical_and(same, other), distances, 0.0), axis=1)
    beyond = ops.max(distances) + margin + 1.0  # larger than any distance: never the hardest negative
    negative = ops.min(ops.where(same, beyond, distances), axis=1)
    return ops.relu(positive - negative + margin)


@keras.saving.register_keras_serializable(package="kerasml")
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss of siamese pairs (Hadsell et al. 2006); see ``contrastive_loss``.

    Args:
        margin: distance beyond which different pairs cost nothing. For
            L2-normalised embeddings distances lie in [0, 2].
        reduction, name, dtype: ``keras.losses.Loss`` arguments.

    Call arguments:
        y_true: ``[batch]`` 1 = same class, 0 = different.
        y_pred: ``[batch, 2, dim]`` pair embeddings.

    Example:
        >>> import numpy as np
        >>> pairs = np.array([[[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [0.3, 0.4]]], "float32")
        >>> float(ContrastiveLoss(margin=1.0)(np.array([1.0, 0.0]), pairs))  # (25 + 0.25) / 2
        12.625
    """

    def __init__(self, margin=1.0, reduction="sum_over_batch_size", name="contrastive_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return contrastive_loss(y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="kerasml")
class TripletLoss(keras.losses.Loss):
    """Triplet margin loss (Schroff et al. 2015, FaceNet); see ``triplet_loss``.

    Args:
        margin: required gap between the anchor-negative and anchor-positive
            (squared) distances.
        squared: compare squared Euclidean distances (FaceNet) or plain ones.
        reduction, name, dtype: ``keras.losses.Loss`` arguments.

    Call arguments:
        y_true: ignored (zeros).
        y_pred: ``[batch, 3, dim]`` (anchor, positive, negative) embeddings.

    Example:
        >>> import numpy as np
        >>> triplet = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]]], "float32")
        >>> round(float(TripletLoss(margin=2.0)(np.zeros(1), triplet)), 4)  # 1 - 2.25 + 2
        0.75
    """

    def __init__(self, margin=0.2, squared=True, reduction="sum_over_batch_size", name="triplet_loss",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        return triplet_loss(y_true, y_pred, self.margin, self.squared)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "squared": self.squared}


@keras.saving.register_keras_serializable(package="kerasml")
class BatchHardTripletLoss(keras.losses.Loss):
    """Batch-hard triplet loss (Hermans et al. 2017); see ``batch_hard_triplet_loss``.

    Args:
        margin: required gap between the hardest negative and hardest positive
            distances.
        reduction, name, dtype: ``keras.losses.Loss`` arguments.

    Call arguments:
        y_true: ``[batch]`` integer class labels.
        y_pred: ``[batch, dim]`` embeddings.

    Example:
        >>> import numpy as np
        >>> points = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 5.0]], "float32")
        >>> labels = np.array([0, 0, 1, 1])
        >>> # anchors 0..3: hardest positive 1, 1, 2, 2; hardest negative 3, 2, 2, 4
        >>> round(float(BatchHardTripletLoss(margin=0.5)(labels, points)), 4)  # (0 + 0 + 0.5 + 0) / 4
        0.125
    """

    def __init__(self, margin=0.2, reduction="sum_over_batch_size", name="batch_hard_triplet_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return batch_hard_triplet_loss(y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
