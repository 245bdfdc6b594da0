"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations


class TsrnnError(Exception):
    """A problem with the user's input, options, model or state; the message says how to fix it."""

    exit_code = 2


class InputError(TsrnnError):
    """A data file or stream that cannot be used as given."""


class ModelError(TsrnnError):
    """A run directory or exported model that cannot be used."""


class StateError(TsrnnError):
    """A watch state file that is damaged, foreign or locked."""
