"""Errors that carry a message meant for the user.

The CLIs catch :class:`IganError` and print its message alone (no traceback) with a
non-zero exit, so raise it for bad input the user can fix: a missing font, a dataset
that cannot be downloaded, a checkpoint that is not ours.
"""


class IganError(Exception):
    """A problem with the user's input or environment, explained in one message."""
