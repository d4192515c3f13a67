import logging
import sys

import pytest

from fairdistill.errors import DataError
from fairdistill.settings import UserErrorsWithoutTraceback


def record_of(error: Exception) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        return logging.LogRecord(
            "prefect.task_runs", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )


@pytest.mark.parametrize(
    ("error", "keeps_traceback"), [(DataError("bad file"), False), (KeyError("bug"), True)]
)
def test_console_drops_tracebacks_of_user_errors_only(error, keeps_traceback):
    record = record_of(error)
    assert UserErrorsWithoutTraceback().filter(record) is True
    assert (record.exc_info is not None) is keeps_traceback
