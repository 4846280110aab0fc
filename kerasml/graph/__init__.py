"""Graph data containers, loaders, batching and graph layers."""
