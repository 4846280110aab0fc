"""Keras 3 layers written with ``keras.ops`` only (TensorFlow, JAX and PyTorch backends)."""

from kerasml.layers.attention import (
    AdditiveAttention,
    AttentionPooling,
    MultiHeadAttention,
    ScaledDotProductAttention,
    causal_mask,
    masked_softmax,
)
from kerasml.layers.clustering import ClusterAssignment, dec_target_distribution
from kerasml.layers.forecast import LastValueDenormalization, LastValueNormalization
from kerasml.layers.mlp import GMLPBlock, SpatialGatingUnit
from kerasml.layers.position import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from kerasml.layers.sequence import LastStepHead, SequenceHead
from kerasml.layers.sets import SetPooling
from kerasml.layers.tabular import FillMissing
from kerasml.layers.transformer import TransformerDecoderBlock, TransformerEncoderBlock

__all__ = [
    "AdditiveAttention",
    "AttentionPooling",
    "ClusterAssignment",
    "FillMissing",
    "GMLPBlock",
    "LastStepHead",
    "LastValueDenormalization",
    "LastValueNormalization",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "ScaledDotProductAttention",
    "SequenceHead",
    "SetPooling",
    "SinusoidalPositionalEncoding",
    "SpatialGatingUnit",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "causal_mask",
    "dec_target_distribution",
    "masked_softmax",
]
