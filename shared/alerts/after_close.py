"""What must follow, once committed, every close of an alert: its live calls hung up.

An alert closes on many paths (the API, the CLI, an SMS reply, a keypress, a
producer's resolve, the bus). Each process registers once, at start, what to
do after a close (the receiver, the CLI and the producer enqueue the hang-up
task); the lifecycle remembers the alerts a transaction closed and the hooks
run right after that transaction commits, never before (a rolled-back close
runs nothing) and never on a path that forgot to ask.

shared/ cannot import worker/, so the hook is handed in rather than imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

AfterClose = Callable[[int], object]

_HOOKS: dict[str, AfterClose] = {}
_CLOSED = "alerts_closed"


def register(name: str, hook: AfterClose) -> None:
    """Run `hook(alert_id)` after each committed close; a second registration under
    the same name replaces the first (an app created again in one process)."""
    _HOOKS[name] = hook


def remember(session: Session, alert_id: int) -> None:
    """Called by the lifecycle inside the closing transaction."""
    closed = session.info.get(_CLOSED)
    if closed is None:
        closed = session.info[_CLOSED] = []
        event.listen(session, "after_commit", _after_commit, once=True)
        event.listen(session, "after_rollback", _forget, once=True)
    closed.append(alert_id)


def _forget(session: Session) -> None:
    session.info.pop(_CLOSED, None)


def _after_commit(session: Session) -> None:
    for alert_id in dict.fromkeys(session.info.pop(_CLOSED, [])):
        for name, hook in list(_HOOKS.items()):
            try:
                hook(alert_id)
            except Exception:  # the close is committed; a hook must not undo the answer
                log.exception("after closing alert %s: %s failed", alert_id, name)
