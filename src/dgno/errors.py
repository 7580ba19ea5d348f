"""User-facing errors.

Everything that a user can cause (bad files, bad options, bad values) raises :class:`DgnoError`
with a one-line message naming the problem; the CLI prints it and exits non-zero without a
traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class DgnoError(Exception):
    """An error caused by the user's input, reported as one line."""
