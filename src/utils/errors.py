"""Project exceptions: one clear line for the user, no traceback at the command line."""


class AGCHError(Exception):
    """Base class of every error that the command-line tools print as one line."""


class DataError(AGCHError):
    """Bad or missing input data: names the file, the key and what was expected."""

    def __init__(self, path: object, key: str | None, message: str) -> None:
        where = f"{path}" if key is None else f"{path} [{key}]"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.key = key


class ConfigError(AGCHError):
    """An impossible or misspelt configuration value: names the key."""


class TrainingError(AGCHError):
    """Training stopped (non-finite loss, collapse on request): names the step and the term."""
