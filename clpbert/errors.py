"""Errors a user can cause.

Everything raised as a `UserError` is caught once at the CLI edge and printed as one line naming
the problem and the fix (exit code 2). Any other exception is a bug and may raise with a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: bad flag value, unknown id, unreadable file, missing data."""

    exit_code = 2


class ConfigError(UserError):
    """An invalid configuration: unknown key, wrong type, unreadable YAML."""


class NotFoundError(UserError):
    """A named thing (run, dataset, checkpoint, file) does not exist."""
