"""Logging with phone numbers masked and secrets kept out."""

from __future__ import annotations

import logging
import re

from shared.phone import mask

# Long digit runs with an optional +: phone numbers in any message or argument.
_PHONE = re.compile(r"(?<![\w-])\+?\d{10,15}(?![\w-])")


class MaskPhoneNumbers(logging.Filter):
    """Defence in depth: call sites mask numbers already; this catches the ones they miss."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _PHONE.sub(lambda m: mask(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    handler.addFilter(MaskPhoneNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines of the development server carry query strings, not secrets,
    # but they are noise next to the alert timeline.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
