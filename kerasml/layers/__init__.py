"""Keras 3 layers written with ``keras.ops`` only (TensorFlow, JAX and PyTorch backends)."""

from kerasml.layers.attention import (
    AdditiveAttention,
    AttentionPooling,
    MultiHeadAttention,
    ScaledDotProductAttention,
    causal_mask,
    masked_softmax,
)
from kerasml.layers.mlp import GMLPBlock, SpatialGatingUnit
from kerasml.layers.position import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from kerasml.layers.sequence import LastStepHead, SequenceHead
from kerasml.layers.tabular import FillMissing

__all__ = [
    "AdditiveAttention",
    "AttentionPooling",
    "FillMissing",
    "GMLPBlock",
    "LastStepHead",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "ScaledDotProductAttention",
    "SequenceHead",
    "SinusoidalPositionalEncoding",
    "SpatialGatingUnit",
    "causal_mask",
    "masked_softmax",
]
