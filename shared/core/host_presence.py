"""Which processes may run side by side: the rule behind refusing a second host.

A deployment on several hosts shares its state through PostgreSQL and one
Redis. SQLite, or a Redis of one machine's own (REDIS_URL unset, or a unix
socket), is state only that machine sees: a second host next to it would page
from a database or a broker the first one never reads. So every long-running
process says where it keeps such state (`local`: "" for nowhere), and one that
finds, in a store it shares, a live process of another host whose `local`
differs from its own refuses to start. Processes on one host never conflict,
nor do hosts that keep their local state in one place (containers of one
machine sharing a data volume). Pure: shared.core.host_registry does the I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

# Kinds of state kept on one machine, as they appear in a `local` token.
SQLITE = "s"
OWN_REDIS = "r"
KIND_WORDS = {
    SQLITE: "its database in SQLite",
    OWN_REDIS: "a Redis of its own (REDIS_URL unset or a unix socket)",
}
APP_NAME_PREFIX = "alert-dispatch"
# `alert-dispatch <host> <pid> <local>` must fit PostgreSQL's application_name
# (63 bytes): a host is known by its first 24 characters.
HOST_CHARS = 24


@dataclass(frozen=True)
class Presence:
    """One live process: its host, its pid, and where it keeps state only its host sees."""

    host: str
    pid: int
    local: str = ""  # "" or "<kinds>:<id>", e.g. "sr:1a2b3c4d"


def short_host(name: str) -> str:
    """A host name as the registries keep it."""
    return (name.strip().replace(" ", "_") or "unknown")[:HOST_CHARS]


def local_token(kinds: dict[str, str]) -> str:
    """`kinds` maps each kind of local state (SQLITE, OWN_REDIS) to the id of the
    directory holding it: `<kinds>:<8 hex digits of those ids>`, "" when none."""
    if not kinds:
        return ""
    letters = "".join(sorted(kinds))
    digest = hashlib.sha256("+".join(sorted(set(kinds.values()))).encode()).hexdigest()
    return f"{letters}:{digest[:8]}"


def kinds_of(local: str) -> str:
    return local.partition(":")[0]


def conflict(me: Presence, others: Iterable[Presence]) -> Presence | None:
    """The first live process of another host that must not run beside `me`."""
    for other in others:
        if other.host != me.host and other.local != me.local:
            return other
    return None


def _what(kinds: str) -> str:
    return " and ".join(KIND_WORDS[k] for k in kinds if k in KIND_WORDS) or "state"


def refusal_reason(me: Presence, other: Presence, store: str) -> str:
    """Why `me` may not start, in one line: which host, through which store, what to set."""
    if me.local:
        why = f"while this process keeps {_what(kinds_of(me.local))} on this host only"
    else:
        why = f"while it keeps {_what(kinds_of(other.local))} on that host only"
    return (
        f"another host ({other.host}) shares this {store} {why}; with more than "
        "one host, every process needs DATABASE_URL on one PostgreSQL and REDIS_URL on one "
        "Redis that all hosts share (README: Production layout)"
    )


def to_member(presence: Presence) -> str:
    """The process as a member of Redis's registry set."""
    return json.dumps(
        {"host": presence.host, "pid": presence.pid, "local": presence.local}, sort_keys=True
    )


def from_member(member: str | bytes) -> Presence | None:
    """A registry member back; None for anything unreadable (never a reason to refuse)."""
    try:
        data = json.loads(member)
        return Presence(str(data["host"]), int(data["pid"]), str(data.get("local", "")))
    except (ValueError, TypeError, KeyError):
        return None


def application_name(presence: Presence) -> str:
    """How the process names its PostgreSQL connection: `alert-dispatch <host> <pid> <local>`."""
    return f"{APP_NAME_PREFIX} {short_host(presence.host)} {presence.pid} {presence.local or '-'}"


def from_application_name(name: str | None) -> Presence | None:
    """A connection's application_name back; None when it is not one of ours."""
    parts = (name or "").split(" ")
    if len(parts) != 4 or parts[0] != APP_NAME_PREFIX or not parts[2].isdigit():
        return None
    return Presence(parts[1], int(parts[2]), "" if parts[3] == "-" else parts[3])
