"""Logging with phone numbers masked and secrets kept out, in every process.

Call sites mask numbers themselves (`shared.core.phone.mask`); this module is the
defence behind them, for what they cannot see: a library's DEBUG line with a
task's arguments, a query string in an access log, an exception message
quoting its input, a traceback.

A filter on a logger sees only records logged to that very logger, not the
ones its children propagate to it, so the filter sits on HANDLERS: every
handler of the root logger and of every other logger that has its own
(gunicorn's error and access logs, Celery's task logger), plus the fallback
handler logging uses when there is none. Handlers created later than
`install_masking` would miss it, so the record factory masks each record as
it is made too: whichever handler writes it, the record is masked already.
Masking is idempotent, so a record masked twice reads the same.

Celery and gunicorn build their own handlers after this module may have run:
worker.log_masking installs the masking again from Celery's logging signals,
and `MaskingGunicornLogger` does it for gunicorn's master process
(`--logger-class shared.core.logging_setup.MaskingGunicornLogger`); gunicorn's
workers are covered by webhooks.wsgi calling `configure_logging`.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from shared.core.phone import mask_numbers_in

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
# The marker on what this module installed, so installing twice adds nothing.
_INSTALLED = "_masks_phone_numbers"

log = logging.getLogger(__name__)


def _message_of(record: logging.LogRecord) -> tuple[str, bool]:
    """The record's message, and whether it formatted. When a call site's
    arguments do not fit its format, both as text: left as they are, logging
    would print them raw to stderr, unmasked."""
    try:
        return record.getMessage(), True
    except Exception:
        try:
            return f"{record.msg} (arguments not formatted: {record.args!r})", False
        except Exception:
            return f"{type(record.msg).__name__} message (arguments not formatted)", False


# A token in a query string (the status page's and the calendar feeds' `?token=`): a
# request line in an access log would otherwise carry it.
_QUERY_TOKEN = re.compile(r"([?&;]token=)[^&;\s\"']+", re.IGNORECASE)


def mask_query_tokens(text: str) -> str:
    """`?token=...` in `text` as `?token=***`; idempotent, like the number masking."""
    return _QUERY_TOKEN.sub(r"\1***", text)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask numbers and query-string tokens in the record's message, exception text
    and stack, in place."""
    message, formatted = _message_of(record)
    masked = mask_query_tokens(mask_numbers_in(message))
    if masked != message or not formatted:
        record.msg, record.args = masked, ()
    if isinstance(record.exc_info, tuple) and record.exc_info[0] and not record.exc_text:
        # Formatted here, once: formatters reuse `exc_text` instead of formatting again.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_numbers_in(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_numbers_in(record.stack_info)
    return record


class MaskPhoneNumbers(logging.Filter):
    """Masks, never drops: a record always goes on, with its numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            mask_record(record)
        except Exception:  # masking must never cost the line: blank it instead
            record.msg, record.args, record.exc_text = "(log line not masked: dropped)", (), None
            record.exc_info = None
        return True


def _handlers() -> Iterator[logging.Handler]:
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers
    if logging.lastResort is not None:
        yield logging.lastResort


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if getattr(current, _INSTALLED, False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            return mask_record(record)
        except Exception:
            return record  # the handlers' filter tries again

    setattr(masking_factory, _INSTALLED, True)
    logging.setLogRecordFactory(masking_factory)


def _log_uncaught(
    kind: type[BaseException],
    value: BaseException | None,
    traceback: TracebackType | None,
    where: str = "",
) -> None:
    log.critical("uncaught exception%s", where, exc_info=(kind, value, traceback))


def _install_exception_hooks() -> None:
    """Uncaught exceptions through logging (masked) instead of raw to stderr."""
    if not getattr(sys.excepthook, _INSTALLED, False):
        original: Callable[..., Any] = sys.excepthook

        def excepthook(
            kind: type[BaseException], value: BaseException, tb: TracebackType | None
        ) -> None:
            if issubclass(kind, KeyboardInterrupt):
                original(kind, value, tb)
            else:
                _log_uncaught(kind, value, tb)

        setattr(excepthook, _INSTALLED, True)
        sys.excepthook = excepthook
    if not getattr(threading.excepthook, _INSTALLED, False):

        def thread_excepthook(args: threading.ExceptHookArgs) -> None:
            if args.exc_type is SystemExit:
                return
            where = f" in thread {args.thread.name}" if args.thread else ""
            _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, where)

        setattr(thread_excepthook, _INSTALLED, True)
        threading.excepthook = thread_excepthook


def install_masking() -> None:
    """Mask phone numbers in everything this process logs, from now on.

    Safe to call again (each call also covers handlers added since the last).
    """
    _install_record_factory()
    for handler in _handlers():
        if not any(isinstance(f, MaskPhoneNumbers) for f in handler.filters):
            handler.addFilter(MaskPhoneNumbers())
    _install_exception_hooks()


def configure_logging(level: str | int = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines of the development server carry query strings, not secrets,
    # but they are noise next to the alert timeline.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_masking()


class MaskingGunicornLogger(GunicornLogger):
    """Gunicorn's logger (error and access log) with numbers masked: a request
    line carries its query string, and a Plivo callback's query may name a number."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        install_masking()
