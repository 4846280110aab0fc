"""Graph data containers, loaders, batching and graph layers.

``kerasml.graph.tfgnn`` (GraphTensor conversion) is not imported here: it loads
tensorflow-gnn, which needs the legacy ``tf.keras``, only when used.
"""

from kerasml.graph.batching import (
    dense_batch,
    dense_signature,
    disjoint_batch,
    disjoint_signature,
    iterate_batches,
)
from kerasml.graph.conv import DenseGCNConv, GATConv, GCNConv, GraphSAGEConv, RelationalGraphConv
from kerasml.graph.data import Graph, GraphDataset, from_networkx, karate_club, split_masks
from kerasml.graph.loaders import fetch_planetoid, load_planetoid, load_tu
from kerasml.graph.pool import (
    DiffPool,
    GlobalAttentionPool,
    GlobalMaxPool,
    GlobalMeanPool,
    GlobalSumPool,
    GraphUnpool,
    SAGPool,
    TopKPool,
    TwoHopAugment,
)
from kerasml.graph.sampling import NeighborSampler
from kerasml.graph.synthetic import molecule_graphs, stochastic_block_model

__all__ = [
    "DenseGCNConv",
    "DiffPool",
    "GATConv",
    "GCNConv",
    "GlobalAttentionPool",
    "GlobalMaxPool",
    "GlobalMeanPool",
    "GlobalSumPool",
    "Graph",
    "GraphDataset",
    "GraphSAGEConv",
    "GraphUnpool",
    "NeighborSampler",
    "RelationalGraphConv",
    "SAGPool",
    "TopKPool",
    "TwoHopAugment",
    "dense_batch",
    "dense_signature",
    "disjoint_batch",
    "disjoint_signature",
    "fetch_planetoid",
    "from_networkx",
    "iterate_batches",
    "karate_club",
    "load_planetoid",
    "load_tu",
    "molecule_graphs",
    "split_masks",
    "stochastic_block_model",
]
