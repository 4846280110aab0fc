"""kerasml.graph.tfgnn, checked in fresh interpreters.

tensorflow-gnn needs ``tf.keras`` to be Keras 2. TensorFlow decides what
``tf.keras`` is the first time anything touches it, for the rest of the
process; in a full test run keras_hub (through tensorflow_text) has usually
made it Keras 3 already. So the GraphTensor checks in ``_tfgnn_checks.py`` run
under pytest in a subprocess, as a recipe process would run them.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# find_spec, not importorskip: importing tf-gnn here would fail or switch tf.keras.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_gnn") is None, reason="tensorflow-gnn not installed"
)


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run(
        [sys.executable, *args], cwd=TESTS.parent, env=env, capture_output=True, text=True,
        timeout=300,
    )


def test_graph_tensor_checks_pass_in_a_fresh_interpreter():
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "_tfgnn_checks.py"))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\b5 passed", result.stdout), result.stdout[-2000:]


def test_import_explains_what_to_do_when_tf_keras_is_already_keras3():
    code = (
        "import tensorflow as tf; tf.keras.layers  # resolves tf.keras to Keras 3\n"
        "from kerasml.graph.tfgnn import import_tfgnn\n"
        "import_tfgnn()\n"
    )
    result = run("-c", code)
    assert result.returncode != 0
    assert "import kerasml.graph.tfgnn and call its functions before importing keras_hub" in result.stderr
