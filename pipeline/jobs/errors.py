"""The one error a job raises for a problem the user can fix (bad flag, bad input, no database
for a required step): the CLI prints its message on one line, without a traceback."""

from __future__ import annotations


class JobError(Exception):
    """Bad input or a run that cannot start; ``str(exc)`` is the message for the user."""
