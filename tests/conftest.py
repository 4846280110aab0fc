import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

import kerasml  # noqa: E402,F401  (quiets TensorFlow before any test imports it)
