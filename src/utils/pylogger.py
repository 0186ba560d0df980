"""A python logger that logs from rank zero only, unless asked otherwise."""

import logging
from typing import Mapping

from lightning_utilities.core.rank_zero import rank_prefixed_message, rank_zero_only


class RankedLogger(logging.LoggerAdapter):
    """Logger that prefixes messages with the process rank and by default logs on rank 0 only."""

    def __init__(
        self,
        name: str = __name__,
        rank_zero_only: bool = True,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(logger=logging.getLogger(name), extra=extra)
        self.rank_zero_only = rank_zero_only

    def log(self, level: int, msg: str, *args, rank: int | None = None, **kwargs) -> None:
        """Log on rank zero (or on `rank` if given, or everywhere if rank_zero_only is false)."""
        if not self.isEnabledFor(level):
            return
        msg, kwargs = self.process(msg, kwargs)
        # rank_zero_only.rank is set by Lightning from the environment before any process forks
        current_rank = getattr(rank_zero_only, "rank", 0)
        if self.rank_zero_only and current_rank != 0:
            return
        if rank is not None and current_rank != rank:
            return
        self.logger.log(level, rank_prefixed_message(msg, current_rank), *args, **kwargs)


# Lightning's own notices of an interruption; the project's one line says it instead
# (``error: interrupted; ...``, src/utils/jobs.py), so a stopped run prints that line alone
INTERRUPT_NOTICES = ("Received SIGTERM", "Detected KeyboardInterrupt, attempting graceful")


class _DropInterruptNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(notice in record.getMessage() for notice in INTERRUPT_NOTICES)


def quiet_interrupt_notices() -> None:
    """Drop Lightning's log lines `INTERRUPT_NOTICES` (the signal connector's and the one
    ``rank_zero_info`` logs when fit catches a KeyboardInterrupt), once per process."""
    from lightning.pytorch.trainer.connectors import signal_connector
    from lightning_utilities.core import rank_zero

    for logger in (signal_connector.log, rank_zero.log):
        if not any(isinstance(f, _DropInterruptNotices) for f in logger.filters):
            logger.addFilter(_DropInterruptNotices())
