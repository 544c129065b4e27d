"""The on-call configuration in force, and which policy an alert follows.

Routing decides once, when an alert's escalation starts, and freezes what it
decided onto the alert (`alerts.escalation_snapshot`): the policy with its
steps, waits, repeat, re-calls and ack timeout, and every person it pages with
their number and channels. Every later step reads the frozen chain, never the file, so an
edit of the file (a step removed, a number changed, a wait shortened) changes
new alerts only, and an open chain runs to its end as it began. An alert
started before chains were frozen has no snapshot and follows the file in force.

Used by workers (routing, firing steps) and by the receiver (a keypress or
SMS reply that escalates), each passing the configured file path.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.core.models import Alert
from shared.routing.oncall_config import (
    ConfigError,
    ConfigProblem,
    OncallConfig,
    Policy,
    load_config,
)

log = logging.getLogger(__name__)

DIRECT_POLICY = "direct"
SNAPSHOT_VERSION = 1

_lock = threading.Lock()
_cached: tuple[Path, float, OncallConfig] | None = None


def load_at_start(path: Path) -> OncallConfig:
    """Load the file as the configuration in force, or raise ConfigError listing its problems.

    Called as a process starts, so an invalid file stops it then: once
    running, a later broken edit keeps this one (see current_config), but
    starting with none would accept every alert and page nobody.
    """
    global _cached
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None
    config = load_config(path)
    with _lock:
        _cached = (path, mtime, config)
    return config


def current_config(path: Path | None) -> OncallConfig | None:
    """The configuration file's contents, reloaded when the file changes.

    A file that became invalid keeps the last good configuration in force
    (and says so in the log): a typo must not stop paging.
    """
    global _cached
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        log.error("on-call configuration %s unreadable: %s", path, exc)
        return _cached[2] if _cached else None
    with _lock:
        if _cached and _cached[0] == path and _cached[1] == mtime:
            return _cached[2]
        try:
            config = load_config(path)
        except Exception as exc:  # any problem: keep paging with what we had
            if _cached:
                log.error(
                    "on-call configuration %s invalid, keeping the previous one: %s", path, exc
                )
                return _cached[2]
            log.error("on-call configuration %s invalid and none loaded before: %s", path, exc)
            return None
        _cached = (path, mtime, config)
        return config


def direct_config(recipients: list[str]) -> OncallConfig:
    """Explicit recipients as a one-step policy: an SMS to each, nothing after it."""
    return _direct_config(tuple(recipients))


@lru_cache(maxsize=256)
def _direct_config(recipients: tuple[str, ...]) -> OncallConfig:
    """Validated once per list of recipients: a script paging the same people over and
    over is the common case, and validating the policy was about 4 % of routing's time.
    The configuration is only read, never changed, by those it is handed to."""
    contacts = {
        f"recipient-{i + 1}": {"phone": p, "channels": ["sms"]}
        for i, p in enumerate(dict.fromkeys(recipients))
    }
    return OncallConfig.model_validate(
        {
            "contacts": contacts,
            "policies": {
                DIRECT_POLICY: {
                    "steps": [{"targets": list(contacts), "channels": ["sms"], "wait": 0}]
                }
            },
            "default_policy": DIRECT_POLICY,
        }
    )


@dataclass(frozen=True, slots=True)
class Routed:
    """The policy an alert follows and its chain frozen as stored on the alert."""

    policy: str
    snapshot: dict[str, Any]


def route_alert(alert: Alert, config_path: Path | None) -> Routed | None:
    """Routing: explicit recipients win; else the configuration's first matching route.

    The chain is frozen from the same configuration the route was chosen in,
    so a reload between the two cannot pair one file's route with another's steps.
    """
    if alert.recipients:
        config = direct_config(list(alert.recipients))
        name = DIRECT_POLICY
    else:
        in_force = current_config(config_path)
        if in_force is None:
            return None
        config = in_force
        name, _policy = config.route(alert)
    return Routed(name, freeze_chain(config, name))


def config_and_policy(alert: Alert, config_path: Path | None) -> tuple[OncallConfig, Policy] | None:
    """The configuration and policy the alert's chain follows: the frozen chain when it
    has one, else (started before chains were frozen) the file in force."""
    if alert.escalation_snapshot is not None:
        try:
            return thaw_chain(alert.escalation_snapshot)
        except ValueError as exc:  # pydantic's ValidationError is one too
            # Our own data, so this is a bug; paging on from the file beats paging nobody.
            log.error("alert %s: frozen chain unreadable, following the file: %s", alert.id, exc)
    if alert.policy == DIRECT_POLICY:
        config = direct_config(list(alert.recipients))
    else:
        config = current_config(config_path)
    if config is None or alert.policy not in config.policies:
        return None
    return config, config.policies[alert.policy]


def freeze_chain(config: OncallConfig, policy_name: str) -> dict[str, Any]:
    """The policy and everyone it pages, as JSON that needs nothing else to fire any step.

    Teams are replaced by their members as they are now: a person who joins or
    leaves a team later does not change a chain already under way. A schedule
    is frozen whole (its rotation and every member's contact): who is on call
    depends on when its step fires, so it is resolved then.
    """
    policy = config.policies[policy_name]
    steps = []
    contacts: dict[str, Any] = {}
    schedules: dict[str, Any] = {}
    for step in policy.steps:
        targets: list[str] = []
        for target in step.targets:
            schedule = config.schedule_named(target)
            if schedule is not None:
                schedules[target] = schedule.model_dump(mode="json", by_alias=True)
                # An override may put anyone in the file on call: keep them all.
                names = tuple(config.contacts)
                targets.append(target)
            else:
                names = config.members_of(target)
                targets.extend(name for name in names if name not in targets)
            contacts.update((n, config.contacts[n].model_dump(mode="json")) for n in names)
        update: dict[str, Any] = {"targets": tuple(targets)}
        if step.phlo is not None:  # a PHLO's teams, as its targets': their members now
            people = tuple(dict.fromkeys(n for t in step.phlo.to for n in config.members_of(t)))
            contacts.update((n, config.contacts[n].model_dump(mode="json")) for n in people)
            update["phlo"] = step.phlo.model_copy(update={"to": people})
        steps.append(step.model_copy(update=update))
    frozen = policy.model_copy(update={"steps": tuple(steps)})
    return {
        "version": SNAPSHOT_VERSION,
        "policy": frozen.model_dump(mode="json"),
        "contacts": contacts,
        "schedules": schedules,
    }


def thaw_chain(snapshot: dict[str, Any]) -> tuple[OncallConfig, Policy]:
    """The configuration and policy frozen by freeze_chain; ValueError if it is not one.

    Alerts routed to one policy carry equal snapshots, and every step fired thaws
    one: validated once per distinct snapshot (keyed by its JSON), where validating
    it each time was a tenth of a first page's routing. What is returned is only
    read, never changed, by those it is handed to."""
    if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
        raise ValueError("not an escalation snapshot of a known version")
    try:
        frozen = json.dumps(snapshot, sort_keys=True)
    except (TypeError, ValueError):
        raise ValueError("escalation snapshot that is not JSON") from None
    return _thawed(frozen)


@lru_cache(maxsize=256)
def _thawed(frozen: str) -> tuple[OncallConfig, Policy]:
    snapshot = json.loads(frozen)
    policy = snapshot.get("policy")
    name = policy.get("name") if isinstance(policy, dict) else None
    if not isinstance(name, str):
        raise ValueError("escalation snapshot without a named policy")
    config = OncallConfig.model_validate(
        {
            "contacts": snapshot.get("contacts"),
            "schedules": snapshot.get("schedules") or {},
            "policies": {name: policy},
            "default_policy": name,
        }
    )
    return config, config.policies[name]


def frozen_ack_timeout(snapshot: dict[str, Any] | None) -> int | None:
    """The `ack_timeout` (seconds) of the chain frozen on an alert; None when its policy
    has none, or the alert has no frozen chain (explicit recipients, an alert started
    before chains were frozen): such an acknowledgement stops paging for good."""
    if snapshot is None:
        return None
    try:
        return thaw_chain(snapshot)[1].ack_timeout
    except ValueError as exc:  # our own data: a bug, logged; the acknowledgement still holds
        log.error("frozen chain unreadable, no ack timeout armed: %s", exc)
        return None
