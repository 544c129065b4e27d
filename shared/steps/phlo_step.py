"""A PHLO step: one run of the step's PHLO for each person it names. Pure.

A run is Plivo's documented runner request (shared.plivo.channels builds it, the
client sends it), its Start node given `from` and `to` (E.164) and these keys,
which the flow reads as liquid tags (`{{Start.http.params.summary}}`):
`alert_id`, `severity`, `service`, `summary`, `text` (the alert as its SMS says
it: the simulator's PHLO speaks it), and `next_numbers`, the E.164 numbers of
the people the next step pages, comma-separated (empty when none follows), so
the flow can hand the call on to them.

Each run is recorded once, under a key of its alert, round, step and person
(step_log); a claim keyed with the attempt is committed before the request,
so a run whose worker died mid-request is never run again: Plivo has no API to
read a run back, so it fails as `unknown_outcome`, as a notice's run does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.escalation.plan import Position, next_position
from shared.routing.oncall_config import OncallConfig, Policy
from shared.schedules.overrides import Override
from shared.steps.facts import StepAlert


def phlo_variables(alert: StepAlert, next_numbers: Sequence[str]) -> dict[str, str]:
    """The Start node's keys besides `from` and `to` (shared.plivo.channels.phlo_payload)."""
    return {
        "alert_id": str(alert.id),
        "severity": alert.severity,
        "service": alert.service,
        "summary": alert.summary,
        "text": alert.line,
        "next_numbers": ",".join(next_numbers),
    }


def people_of(config: OncallConfig, names: Sequence[str]) -> tuple[str, ...]:
    """The contact names a PHLO's `to` stands for, each once: a frozen chain already
    lists members; the file in force (an alert from before chains were frozen) may
    still name a team."""
    people = (member for name in names for member in config.members_of(name))
    return tuple(name for name in dict.fromkeys(people) if name in config.contacts)


def next_numbers(
    config: OncallConfig,
    policy: Policy,
    position: Position,
    at: datetime,
    overrides: Sequence[Override] = (),
) -> tuple[str, ...]:
    """The numbers of the people the step after `position` would page at `at`: its
    targets (a schedule's person on call then) and its own PHLO's people."""
    following = next_position(policy, position)
    if not isinstance(following, Position) or following.step >= len(policy.steps):
        return ()
    spec = policy.steps[following.step]
    numbers = [contact.phone for contact in config.expand_targets(spec, at, overrides)]
    if spec.phlo is not None:
        numbers += [config.contacts[name].phone for name in people_of(config, spec.phlo.to)]
    return tuple(dict.fromkeys(numbers))


def run_key(alert_id: int, position: Position, contact: str) -> str:
    """The dedup key of a run's outcome (ok or failed): one per person of a fired step."""
    return f"phlo-step:{alert_id}:{position.round}:{position.step}:{contact}"


def claim_key(alert_id: int, position: Position, contact: str, attempt: int) -> str:
    """The dedup key of one attempt's claim, committed before its request."""
    return f"{run_key(alert_id, position, contact)}:try:{attempt}"
