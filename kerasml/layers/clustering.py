"""Deep Embedded Clustering (DEC): Student's t soft assignments and their target.

Xie, Girshick & Farhadi 2016, "Unsupervised Deep Embedding for Clustering
Analysis" (ICML). An encoder maps each point to ``z``; ``ClusterAssignment``
holds ``k`` trainable centroids ``mu_j`` and gives the soft assignment

    q_ij = (1 + |z_i - mu_j|² / alpha)^(-(alpha + 1) / 2) / sum_j' (same for j')

(eq. 1, a Student's t kernel). ``dec_target_distribution`` sharpens it into the
target ``p_ij = (q_ij² / f_j) / sum_j' (q_ij'² / f_j')`` with ``f_j = sum_i q_ij``
(eq. 3), and training minimises ``KL(P || Q)`` (eq. 2: Keras' ``"kld"`` loss
with P as the target) with respect to both the encoder and the centroids,
recomputing P every few steps. Keras has neither piece.

Example:
    >>> import numpy as np
    >>> points = keras.Input((2,))
    >>> assign = ClusterAssignment(3, name="clusters")
    >>> model = keras.Model(points, assign(points))
    >>> assign.set_centroids(np.array([[0, 0], [1, 1], [5, 5]], "float32"))
    >>> q = model.predict(np.array([[0.1, 0.0], [4.0, 5.0]], "float32"), verbose=0)
    >>> q.argmax(axis=1).tolist(), bool(np.allclose(q.sum(axis=1), 1.0))
    ([0, 2], True)
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerasml")
class ClusterAssignment(keras.layers.Layer):
    """Soft assignment of embeddings to ``n_clusters`` trainable centroids (DEC, eq. 1).

    Args:
        n_clusters: number of clusters ``k``.
        alpha: degrees of freedom of the Student's t kernel (DEC uses 1).
        centroids_initializer: initialiser of the ``[k, dim]`` centroids; DEC
            starts from k-means on the embeddings (``set_centroids``).
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, dim]`` embeddings.

    Returns:
        ``[batch, k]`` soft assignments; each row is positive and sums to 1.

    Example:
        >>> import numpy as np
        >>> layer = ClusterAssignment(2)
        >>> layer.build((None, 2))
        >>> layer.set_centroids(np.array([[0.0, 0.0], [2.0, 0.0]], "float32"))
        >>> q = keras.ops.convert_to_numpy(layer(np.zeros((1, 2), "float32")))
        >>> q.astype("float64").round(2).tolist()
        [[0.83, 0.17]]
    """

    def __init__(self, n_clusters, alpha=1.0, centroids_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(n_clusters) < 1 or float(alpha) <= 0:
            raise ValueError(f"ClusterAssignment needs n_clusters >= 1 and alpha > 0; got "
                             f"{n_clusters} and {alpha}.")
        self.n_clusters = int(n_clusters)
        self.alpha = float(alpha)
        self.centroids_initializer = keras.initializers.get(centroids_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"ClusterAssignment needs embeddings [batch, dim]; got shape {input_shape}.")
        self.centroids = self.add_weight(name="centroids", shape=(self.n_clusters, input_shape[-1]),
                                         initializer=self.centroids_initializer)

    def set_centroids(self, centroids):
        """Set the ``[k, dim]`` centroids, e.g. ``KMeans(k).fit(z).cluster_centers_``."""
        centroids = np.asarray(centroids, dtype=self.centroids.dtype)
        if centroids.shape != tuple(self.centroids.shape):
            raise ValueError(f"Expected centroids of shape {tuple(self.centroids.shape)}, got {centroids.shape}.")
        self.centroids.assign(centroids)

    def call(self, inputs):
        squared = ops.sum(ops.square(ops.expand_dims(inputs, 1) - self.centroids), axis=-1)
        kernel = ops.power(1.0 + squared / self.alpha, -(self.alpha + 1.0) / 2.0)
        return kernel / ops.sum(kernel, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        return {**super().get_config(), "n_clusters": self.n_clusters, "alpha": self.alpha,
                "centroids_initializer": keras.initializers.serialize(self.centroids_initializer)}


def dec_target_distribution(q):
    """DEC's auxiliary target ``P`` (eq. 3) from soft assignments ``q`` ``[n, k]``.

    Squaring sharpens confident assignments; dividing by the cluster frequency
    ``f_j = sum_i q_ij`` keeps large clusters from taking over. Rows sum to 1.
    Compute it over the whole training set (``f_j`` is a dataset statistic).

    Example:
        >>> import numpy as np
        >>> p = dec_target_distribution(np.array([[0.6, 0.4], [0.5, 0.5]], "float32"))
        >>> keras.ops.convert_to_numpy(p).astype("float64").round(3).tolist()
        [[0.648, 0.352], [0.45, 0.55]]
    """
    weight = ops.square(q) / ops.sum(q, axis=0, keepdims=True)
    return weight / ops.sum(weight, axis=1, keepdims=True)
