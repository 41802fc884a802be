"""User-facing errors: the CLI prints their message on one line and exits non-zero, no traceback."""


class PqError(Exception):
    """Bad input or an environment problem the user can fix; str(err) is the one-line message."""

    exit_code = 2


class ToolMissing(PqError):
    """A cross compiler, emulator or other external tool is not installed."""

    exit_code = 3
