"""Keep TensorFlow's C++ start-up chatter out of a recipe's own output.

TensorFlow 2.21 writes its INFO/WARNING lines (oneDNN, "could not find cuda
drivers", cuInit) through absl *before* absl logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` alone no longer hides them. We therefore set the
variable for the lines that come later and, while ``tensorflow`` itself is being
imported, capture file descriptor 2 and replay every line that is not one of
TensorFlow's own INFO/WARNING/ERROR log lines, so nothing else is swallowed.

A user who sets ``TF_CPP_MIN_LOG_LEVEL`` themselves (for example to ``0``)
sees everything: we then touch nothing.
"""

import os
import re
import sys
import tempfile

# absl/glog prefix, e.g. "I0000 00:00:1795529747.535149    2134 port.cc:153] ..."
_TF_LOG_LINE = re.compile(rb"^[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\]")
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog()"


def quiet_tensorflow_logs() -> None:
    """Import TensorFlow with its C++ log lines filtered, unless the user chose a level."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    try:
        sys.stderr.flush()
        saved_fd = os.dup(2)
    except OSError:  # no usable stderr (embedded interpreters): nothing to filter
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            for line in captured:
                if not (_TF_LOG_LINE.match(line) or line.startswith(_ABSL_PREAMBLE)):
                    os.write(2, line)
