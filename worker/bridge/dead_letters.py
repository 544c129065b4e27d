"""Where a message that cannot become an alert is parked, with its reason.

A stream entry goes to `<stream>:dead` and is acknowledged in the same
transaction, so it is either parked or still pending, never lost. A channel
message goes to the channel dead-letter stream. Both keep the payload, so a
parked message can be added to its stream again once the cause is fixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import redis

log = logging.getLogger("worker.bridge")

DEAD_LETTER_SUFFIX = ":dead"
DEAD_LETTER_MAXLEN = 100_000


def as_text(value: bytes | str) -> str:
    """A Redis reply as text: the bridge's clients read bytes, so that a message that
    is not UTF-8 is dead-lettered instead of failing inside the client."""
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _readable(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode(errors="backslashreplace")


def park_entry(
    client: redis.Redis,
    group: str,
    stream: str,
    entry_id: str,
    fields: Mapping[bytes, bytes],
    reason: str,
) -> None:
    """Park the entry with its reason and acknowledge it, in one transaction."""
    payload = {_readable(name): _readable(value) for name, value in fields.items()}
    pipe = client.pipeline(transaction=True)
    pipe.xadd(
        stream + DEAD_LETTER_SUFFIX,
        {
            "reason": reason,
            "stream": stream,
            "id": entry_id,
            "group": group,
            "at": _now(),
            "payload": json.dumps(payload, ensure_ascii=False),
        },
        maxlen=DEAD_LETTER_MAXLEN,
        approximate=True,
    )
    pipe.xack(stream, group, entry_id)
    pipe.execute()
    log.warning("bridge: entry %s of %s dead-lettered: %s", entry_id, stream, reason)


def park_message(
    client: redis.Redis, dead_letter: str, channel: str, data: bytes, reason: str
) -> None:
    """Park a channel message with its reason in the `dead_letter` stream."""
    client.xadd(
        dead_letter,
        {"reason": reason, "channel": channel, "at": _now(), "payload": data},
        maxlen=DEAD_LETTER_MAXLEN,
        approximate=True,
    )
    log.warning("bridge: message from %s dead-lettered: %s", channel, reason)
