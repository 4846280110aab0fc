"""Neighbour sampling for GraphSAGE mini-batches (Hamilton et al. 2017, Algorithm 2).

For a batch of seed nodes, hop 1 samples up to ``fanouts[0]`` in-neighbours of
each seed, hop 2 up to ``fanouts[1]`` in-neighbours of each node first reached
at hop 1, and so on. The sampled edges form a small subgraph on which a
``len(fanouts)``-layer model computes the seeds' outputs exactly as it would on
the sampled computation tree. Seeds come first in the subgraph's node order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from kerasml.graph.data import Graph


class NeighborSampler:
    """Reproducible per-hop neighbour sampling (without replacement).

    Args:
        graph: the full graph.
        fanouts: neighbours sampled per node at each hop, e.g. ``[25, 10]``;
            ``-1`` keeps all neighbours at that hop.
        seed: seed of the sampler's random generator; the same seed and the same
            calls give the same subgraphs.

    Example:
        >>> sampler = NeighborSampler(karate_club(), fanouts=[5, 5], seed=0)
        >>> batch = sampler.sample([0, 33])
        >>> batch["node_ids"][:2].tolist(), bool(batch["seed_mask"][:2].all())
        ([0, 33], True)
    """

    def __init__(self, graph: Graph, fanouts: Sequence[int], seed: int | None = 0):
        self.graph = graph
        self.fanouts = list(fanouts)
        self.rng = np.random.default_rng(seed)
        # In-neighbours in CSR form: sources of the edges into node i are
        # sources[indptr[i]:indptr[i + 1]] (edges sorted by target).
        order = np.argsort(graph.edge_index[1], kind="stable")
        self._sources = graph.edge_index[0][order]
        self._edge_ids = order
        counts = np.bincount(graph.edge_index[1], minlength=graph.num_nodes)
        self._indptr = np.concatenate([[0], np.cumsum(counts)])
        self._local = np.full(graph.num_nodes, -1, np.int64)  # global -> local id scratch

    def _sample_hop(self, frontier: np.ndarray, fanout: int):
        """Edge ids of up to ``fanout`` random incoming edges per frontier node."""
        starts, ends = self._indptr[frontier], self._indptr[frontier + 1]
        degrees = ends - starts
        owner = np.repeat(np.arange(frontier.size), degrees)
        position = np.arange(owner.size) - np.repeat(np.cumsum(degrees) - degrees, degrees)
        csr_position = np.repeat(starts, degrees) + position
        if fanout < 0:
            return csr_position
        # Random keys sorted within each owner: the first `fanout` are a uniform
        # sample without replacement, drawn for all frontier nodes at once.
        order = np.lexsort((self.rng.random(owner.size), owner))
        keep = position < fanout  # `position` is also the rank after the sort
        return csr_position[order][keep]

    def sample(self, seeds) -> dict[str, np.ndarray]:
        """Sampled subgraph around ``seeds`` (global node ids, no repeats).

        Returns:
            A dict with ``x`` [n, F], ``edge_index`` [2, e] (local ids),
            ``edge_weight`` / ``edge_type`` when the graph has them, ``node_ids``
            [n] (global id of each local node; seeds first), ``seed_mask`` [n]
            (True for the seeds) and ``y`` [n] when the graph has labels. Train
            with ``sample_weight=seed_mask`` so only the seeds count.
        """
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        if np.unique(seeds).size != seeds.size:
            raise ValueError("seeds contain repeated node ids; pass each seed node once.")
        nodes = [seeds]
        self._local[seeds] = np.arange(seeds.size)
        count = seeds.size
        frontier, csr_edges = seeds, []
        for fanout in self.fanouts:
            hop = self._sample_hop(frontier, fanout)
            csr_edges.append(hop)
            reached = np.unique(self._sources[hop])
            new = reached[self._local[reached] < 0]
            self._local[new] = np.arange(count, count + new.size)
            count += new.size
            nodes.append(new)
            frontier = new
        node_ids = np.concatenate(nodes)
        csr_edges = np.concatenate(csr_edges) if csr_edges else np.zeros(0, np.int64)
        edge_ids = self._edge_ids[csr_edges]
        src, dst = self.graph.edge_index[:, edge_ids]
        batch = {
            "x": self.graph.x[node_ids],
            "edge_index": np.stack([self._local[src], self._local[dst]]).astype(np.int32),
            "node_ids": node_ids,
            "seed_mask": np.arange(node_ids.size) < seeds.size,
        }
        self._local[node_ids] = -1  # reset the scratch for the next call
        for name in ("edge_weight", "edge_type"):
            if getattr(self.graph, name) is not None:
                batch[name] = getattr(self.graph, name)[edge_ids]
        if self.graph.y is not None:
            batch["y"] = self.graph.y[node_ids]
        return batch

    def output_signature(self) -> dict:
        """``tf.TensorSpec`` dict of :meth:`sample`'s output, for
        ``tf.data.Dataset.from_generator(lambda: sampler.iterate(...), output_signature=...)``."""
        from kerasml.graph.batching import tensor_signature

        # Dtypes from the graph itself: sampling an example would advance the rng.
        example = {"x": self.graph.x, "edge_index": self.graph.edge_index,
                   "node_ids": np.zeros(0, np.int64), "seed_mask": np.zeros(0, bool)}
        for name in ("edge_weight", "edge_type", "y"):
            if getattr(self.graph, name) is not None:
                example[name] = getattr(self.graph, name)
        fixed = {"x": [None, self.graph.num_features], "edge_index": [2, None]}
        return tensor_signature(example, fixed)

    def iterate(self, nodes, batch_size: int, shuffle: bool = True) -> Iterator[dict]:
        """One epoch of sampled subgraphs over ``nodes`` (ids, or a boolean mask)."""
        nodes = np.asarray(nodes)
        if nodes.dtype == bool:
            nodes = np.flatnonzero(nodes)
        if shuffle:
            nodes = self.rng.permutation(nodes)
        for start in range(0, nodes.size, batch_size):
            yield self.sample(nodes[start : start + batch_size])
