"""Errors that carry a message meant for the user.

The CLIs catch :class:`IganError` and print its message alone (no traceback) with a
non-zero exit, so raise it for bad input the user can fix: a missing font, a dataset
that cannot be downloaded, a checkpoint that is not ours.
"""

import argparse


class IganError(Exception):
    """A problem with the user's input or environment, explained in one message."""


class UsageError(IganError):
    """A command-line mistake that argparse found: a missing option, a value of the wrong type."""


class ArgumentParser(argparse.ArgumentParser):
    """The argparse of every ``igan`` command: a mistake reaches its ``main`` as :class:`UsageError`.

    argparse would print its usage block and exit; the commands print one ``error: ...`` line
    instead and return 2, so callers of ``main(argv)`` get a status rather than SystemExit.
    """

    def error(self, message: str):
        raise UsageError(f"{message} (see --help)")
