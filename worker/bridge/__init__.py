"""The event-bus bridge: alerts from Redis Streams and Redis pub/sub channels.

Streams are read through a consumer group, at least once: an entry is
acknowledged (XACK) only after its alert is committed, and the commit writes
the entry's id to the event log in the same transaction, so an entry
delivered again (the bridge was killed between commit and XACK) changes
nothing. Entries left pending by a consumer that died are taken over with
XAUTOCLAIM once idle for `claim_idle_ms`; a restarted bridge with the same
consumer name first re-reads its own pending entries.

Pub/sub channels (by pattern, `if.bus:*` by default) are at most once by
Redis's design: a message published while the bridge is down is gone. Use a
stream where every event matters.

One message never stops the bridge. Whatever handling it raises is sorted
into one of two kinds (`is_system_failure`):

- about the system: Redis or the database unreachable, timing out, out of
  connections, locked, or refusing every statement (a schema not migrated, a
  missing grant: `ProgrammingError`, `InternalError`). Every message would
  fail the same way, so none is dead-lettered: the one in hand is retried in
  place with backoff (a stream entry stays pending, unacknowledged) until it
  is stored or the bridge is told to stop.
- about the message: anything else. It cannot be parsed, it is too deep or
  too large, the database refuses this row (`IntegrityError`, `DataError`),
  or handling it hit a bug. Retrying the same message would fail the same
  way and hold up every message behind it, so it goes to a dead-letter
  stream (`<stream>:dead` for stream entries, `channel_dead_letter` for
  channel messages) with a short reason (`failure_reason`: the error's type
  and first line, numbers masked, never the SQL or its parameters), is
  acknowledged, and the bridge goes on. A bug that fails every message
  therefore fills the dead-letter stream rather than stopping the stream:
  parked entries keep their payload and can be added to the stream again.

A message can also end the process without raising anything it could catch
(the kernel's out-of-memory killer, a crash in a C extension). The bridge is
then restarted and reads the same entry first, and would die again: so pending
entries are re-read one at a time, and one that Redis has delivered more than
`max_deliveries` times (each read or claim counts; retrying a database outage
in place does not) is dead-lettered instead of being handled once more.

The parts: `runner` (Bridge: the consumers on their threads, one stop
signal), `streams` and `channels` (the two consumers), `storing` (alerts into
the database, outages retried in place), `failures` (which kind a failure is,
its reason, the backoff) and `dead_letters` (where unusable messages are
parked).
"""

from worker.bridge.config import BridgeConfig
from worker.bridge.runner import Bridge

__all__ = ["Bridge", "BridgeConfig"]
