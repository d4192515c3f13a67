import logging
import sys

import pytest

from app.console import CalmConsole
from fairdistill.errors import DataError, GateFailed


def record(
    message: str, error: Exception | None = None, name="prefect.task_runs"
) -> logging.LogRecord:
    exc_info = None
    if error is not None:
        try:
            raise error
        except type(error):
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, (), exc_info)


@pytest.mark.parametrize(
    ("line", "error", "shown"),
    [
        ("encode: 14 blocks (0.1 s)", None, True),
        ("Finished in state Completed()", None, False),
        ("Finished in state Cached(type=COMPLETED)", None, True),
        ("Task run failed with exception: DataError('bad file')", DataError("bad file"), False),
        (
            "Finished in state Failed('Task run encountered an exception GateFailed: x')",
            None,
            False,
        ),
        ("Task run failed with exception: KeyError('bug')", KeyError("bug"), True),
        ("Finished in state Failed('Task run encountered an exception KeyError: bug')", None, True),
        ("Starting temporary server on http://127.0.0.1:8091\nSee https://…", None, False),
        ("the synthetic table of loans failed the audit gate: tstr_auroc 0.8 …", None, False),
        (
            "Finished in state Failed('the synthetic table of x failed the audit gate: …')",
            None,
            False,
        ),
        ("Running hook 'finish_tracking' in response to entering state 'Failed'", None, False),
        ("MLflow run http://127.0.0.1:5000/#/experiments/1/runs/abc ended FAILED", None, True),
    ],
)
def test_console_shows_stage_lines_and_bugs_but_not_chatter_or_user_errors(line, error, shown):
    assert CalmConsole().filter(record(line, error)) is shown


def test_a_bug_keeps_its_traceback():
    bug = record("Task run failed", KeyError("bug"))
    CalmConsole().filter(bug)
    assert bug.exc_info is not None


def test_every_user_error_is_known_to_the_console():
    from app.console import user_error_names

    assert {"DataError", "GateFailed", "SettingsError", "ValidationFailed"} <= set(
        user_error_names()
    )
    assert GateFailed.__name__ in user_error_names()


def test_the_console_knows_the_words_of_a_gate_rejection():
    from app.console import GATE_REJECTION
    from fairdistill.errors import GATE_FAILED

    assert GATE_REJECTION in GATE_FAILED
