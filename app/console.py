"""A calm console: one line per stage, and one clear message for a mistake the user can fix.

`CalmConsole` is the filter of the console handler in `app/logging.yml` (Prefect's logging config,
selected by PREFECT_LOGGING_SETTINGS_PATH). It only trims what the terminal shows: the Prefect UI's
handler sees every record, tracebacks included.
"""

from __future__ import annotations

import logging

from fairdistill.errors import FairdistillError

# Prefect's own lines that repeat what a stage's one line (or the CLI's summary) already says.
ENGINE_CHATTER = (
    "Finished in state Completed(",
    "Starting temporary server on",
    "Stopping temporary server on",
    "Created task run",
    "Executing '",
    "Running hook '",
    "finished running successfully",
)
# A gate rejection is not raised: the flow logs it once and ends Failed with it as the message
# (fairdistill.errors.GATE_FAILED); the command line prints it again, so the console drops both.
GATE_REJECTION = "failed the audit gate:"


def user_error_names() -> tuple[str, ...]:
    """Class names of the errors a user can fix (`FairdistillError` and its subclasses)."""
    names, pending = [], [FairdistillError]
    while pending:
        cls = pending.pop()
        names.append(cls.__name__)
        pending.extend(cls.__subclasses__())
    return tuple(names)


class CalmConsole(logging.Filter):
    """Drops engine chatter and every trace of a user-fixable error from the console.

    A user-fixable error (bad input, a failed audit gate) is printed once, by the command line, as
    one message that names the input and the fix; Prefect's records of it (the exception with its
    traceback, the Failed states that quote it) stay in the UI only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(line in message for line in ENGINE_CHATTER):
            return False
        if record.exc_info and isinstance(record.exc_info[1], FairdistillError):
            return False
        if GATE_REJECTION in message:
            return False
        if "Finished in state Failed(" in message:
            return not any(
                f"{name}:" in message or f"{name}(" in message for name in user_error_names()
            )
        return True
