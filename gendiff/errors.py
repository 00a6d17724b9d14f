"""The one exception base for unusable input, shared by the library and the command line.

Every error that a user can cause with a bad value, file or setting derives from :class:`InputError`
(a ValueError), and its message says what was wrong and what is allowed.  `gendiff` turns it into one
line on stderr and exit code 2; anything else escaping a command is a bug (exit 3).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations


class InputError(ValueError):
    """Unusable input: the message names the value or file, what was wrong and what is allowed."""
