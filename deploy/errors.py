"""The one error an expected failure of the stack becomes: a sentence for a person, no trace."""

from __future__ import annotations


class StackError(Exception):
    """Something the user can fix (a busy port, a missing JDK, no network): say what and how."""

    def __init__(self, message: str) -> None:
        # The CLI prints this on one line, so fold any multi-line detail (tool output) into it.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])
