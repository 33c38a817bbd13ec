"""Errors that gradexp reports to the user as one clear line (no traceback)."""


class ConfigError(ValueError):
    """A bad value in the user's config or command line.

    The message names the bad value and what is accepted; the command line prints it as
    ``gradexp: error: <message>`` and exits with status 2.
    """
