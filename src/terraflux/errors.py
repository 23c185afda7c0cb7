"""Errors a user can cause and fix: each message names the file or config key and says what to do."""


class UserError(Exception):
    """A problem with the user's input, configuration, credentials or data (not a bug).

    Scripts turn it into one clear line on stderr and a non-zero exit; the traceback goes to the log only.
    """


class ConfigError(UserError):
    """The configuration does not match the schema (unknown key, wrong type, value out of range)."""


class DataError(UserError):
    """An input file is missing, truncated, corrupt or does not have the expected layout."""
