"""The project's own errors, each carrying the exit code of SPEC section 10.

Every layer raises these; only the CLI turns them into `Error: ...` and an exit code.
"""

from __future__ import annotations


class TenantctlError(Exception):
    """Base of every error the user is meant to read (one line, no traceback)."""

    exit_code = 1


class NotFound(TenantctlError):
    """A named thing does not exist (in the org the command runs in)."""


class Refused(TenantctlError):
    """A rule of the SPEC forbids what was asked."""


class Conflict(TenantctlError):
    """The store is not in the state the command needs (already done, changed meanwhile)."""


class BadInput(TenantctlError):
    """Bad usage or bad input; the message names the file, the line and the field."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        if self.problems:
            shown = self.problems[:20]
            more = len(self.problems) - len(shown)
            message = message + "\n  " + "\n  ".join(shown)
            if more:
                message += f"\n  ... and {more} more"
        super().__init__(message)


class ProcessFailed(TenantctlError):
    """A process run in the foreground did not succeed; exits with the code of its error."""

    def __init__(
        self, process_id: int, status: str, reason: str | None, exit_code: int | None = None
    ):
        super().__init__(
            f"process {process_id} {status}: {reason or 'see its log'} "
            f"(tenantctl process logs {process_id})"
        )
        self.exit_code = exit_code or 1


class CheckFailed(TenantctlError):
    """The preparation checklist or a pre-check failed."""

    exit_code = 3


class Busy(TenantctlError):
    """Another run holds the lock this command needs."""

    exit_code = 4


class BatchFailed(TenantctlError):
    """Some items of a batch (`--all`) failed."""

    exit_code = 5


class Differences(TenantctlError):
    """Reconcile found differences."""

    exit_code = 6


def input_problem(file: str, line: int | None, field: str, message: str) -> str:
    """Format one bad-input problem as `file:line: field: message`."""
    where = f"{file}:{line}" if line is not None else file
    return f"{where}: {field}: {message}"
