"""The error hierarchy: every expected failure carries a one-line message, a hint and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class PreferError(Exception):
    """An expected failure a user can act on; the CLI prints it as one line, never a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInputError(PreferError):
    """The user must change something: a file, a flag, a config value (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BadInputError):
    """prefer.toml is missing a value, has an unknown key or a value of the wrong type."""


class ImportRowError(BadInputError):
    """A row of an imported file is invalid; `str()` reads `FILE:LINE: field 'x': what is wrong`."""

    def __init__(self, path: str, line: int, field: str | None, problem: str) -> None:
        where = f"{path}:{line}"
        text = f"{where}: field '{field}': {problem}" if field else f"{where}: {problem}"
        super().__init__(text, hint="nothing from this file was stored; fix the row and import again")
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem


class ProjectNotFoundError(BadInputError):
    """No prefer.toml where the user pointed, or upward from the working directory."""


class ProjectExistsError(BadInputError):
    """`prefer init` would overwrite an existing project."""


class StoreLockedError(PreferError):
    """Another process holds the DuckDB file open."""


class StoreError(PreferError):
    """The database refused an operation (wrapped driver error)."""


class JudgmentError(BadInputError):
    """A judgment breaks an annotation rule (missing best, short justification, unknown candidate)."""


class NothingToExportError(PreferError):
    """The export found no pair to write."""


class AccessDeniedError(BadInputError):
    """The store server refused a caller or an operation their role does not allow."""


class ServerUnavailableError(PreferError):
    """The store server is not running or stopped answering."""
