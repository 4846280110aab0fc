"""kerasml: the pieces Keras lacks, and recipes that train, evaluate and export
one architecture each, end to end (``python -m recipes``)."""

from kerasml.quiet import quiet_tensorflow_logs

quiet_tensorflow_logs()

__version__ = "0.1.0"
