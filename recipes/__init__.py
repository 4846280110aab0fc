"""Standalone recipes, one architecture each: ``python -m recipes`` lists them."""

import kerasml  # noqa: F401  (quiets TensorFlow's start-up logs before any recipe imports it)
