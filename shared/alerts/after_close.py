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
_LISTENING = "after_close_listening"


def register(name: str, hook: AfterClose) -> None:
    """Run `hook(alert_id)` after each committed close; a second registration under
    the same name replaces the first (an app created again in one process)."""
    _HOOKS[name] = hook


def remember(session: Session, alert_id: int) -> None:
    """Called by the lifecycle inside the closing transaction."""
    if not session.info.get(_LISTENING):
        # Left in place for the session's life: a listener cannot be removed while
        # the event that runs it is being dispatched.
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    session.info.setdefault(_CLOSED, []).append(alert_id)


def _outermost_ended(session: Session) -> bool:
    """A savepoint's release or rollback fires the same session events as the real
    commit or rollback, with the savepoint still current while they run."""
    return not session.in_nested_transaction()


def _take_closed(session: Session) -> list[int]:
    return session.info.pop(_CLOSED, [])


def _after_rollback(session: Session) -> None:
    # A rolled-back savepoint keeps what the transaction closed before it: the
    # hooks only act on alerts that are closed when they run, so running one for
    # a close undone by that savepoint does nothing, whereas dropping it would
    # leave a committed close's calls ringing.
    if _outermost_ended(session):
        _take_closed(session)


def _after_commit(session: Session) -> None:
    if not _outermost_ended(session):
        return
    for alert_id in dict.fromkeys(_take_closed(session)):
        for name, hook in list(_HOOKS.items()):
            try:
                hook(alert_id)
            except Exception:  # the close is committed; a hook must not undo the answer
                log.exception("after closing alert %s: %s failed", alert_id, name)
