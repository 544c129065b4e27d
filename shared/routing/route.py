"""The on-call configuration in force, and which policy an alert follows.

Used by workers (routing, firing steps) and by the receiver (a keypress or
SMS reply that escalates), each passing the configured file path.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from shared.core.models import Alert, utcnow
from shared.escalation.engine import escalate_now
from shared.escalation.plan import Position
from shared.routing.oncall_config import (
    ConfigError,
    ConfigProblem,
    OncallConfig,
    Policy,
    load_config,
)

log = logging.getLogger(__name__)

DIRECT_POLICY = "direct"

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


def policy_name_for(alert: Alert, config_path: Path | None) -> str | None:
    """Routing: explicit recipients win; else the configuration's first matching route."""
    if alert.recipients:
        return DIRECT_POLICY
    config = current_config(config_path)
    if config is None:
        return None
    name, _policy = config.route(alert)
    return name


def config_and_policy(alert: Alert, config_path: Path | None) -> tuple[OncallConfig, Policy] | None:
    """The configuration and policy the alert's chain follows now."""
    if alert.policy == DIRECT_POLICY:
        config = direct_config(list(alert.recipients))
    else:
        config = current_config(config_path)
    if config is None or alert.policy not in config.policies:
        return None
    return config, config.policies[alert.policy]


def escalate_alert_now(
    session: Session,
    alert: Alert,
    *,
    after: Position,
    config_path: Path | None,
    reason: str,
) -> Position | None:
    """Someone asked to move on (pressed 2, replied E, or was not reached): the
    position now due, or None when the chain already moved or has no policy."""
    found = config_and_policy(alert, config_path)
    if found is None or alert.status != "triggered":
        return None
    return escalate_now(
        session, alert.id, after=after, policy=found[1], now=utcnow(), reason=reason
    )
