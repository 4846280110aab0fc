"""Keras 3 layers written with ``keras.ops`` only (TensorFlow, JAX and PyTorch backends)."""
