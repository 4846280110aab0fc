import doctest

import kerasml.plots


def test_docstring_examples_run():
    result = doctest.testmod(kerasml.plots)
    assert result.attempted > 0 and result.failed == 0
