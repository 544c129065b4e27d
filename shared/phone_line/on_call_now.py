"""Who is on call at a moment, for a caller to hear and to be put through to.

Pure: the configuration, the moment and the overrides in force are passed in.
Schedules answer first (shared.schedules.resolve.on_call, overrides applied),
those the default policy's first step names before the others, so the person
put through is the one a new alert would page first. A file without
schedules, or whose schedules all have a gap now, answers with the people of
the default policy's first step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.routing.oncall_config import Channel, Contact, OncallConfig
from shared.schedules.overrides import Override
from shared.schedules.resolve import on_call


@dataclass(frozen=True)
class OnCall:
    """A person on call, and the schedule that puts them there (None: the policy's step)."""

    contact: Contact
    schedule: str | None


def schedule_order(config: OncallConfig) -> list[str]:
    """The schedules the default policy's first step names, in its order, then the rest
    by name."""
    first_step = config.policies[config.default_policy].steps[0]
    named = [target for target in first_step.targets if target in config.schedules]
    return [*named, *sorted(set(config.schedules) - set(named))]


def on_call_now(
    config: OncallConfig, at: datetime, overrides: Sequence[Override] = ()
) -> list[OnCall]:
    """Everyone on call at `at`, each schedule's people in turn; a person on call in two
    schedules is listed under each."""
    found = [
        OnCall(config.contacts[name], schedule)
        for schedule in schedule_order(config)
        for name in on_call(config.schedules[schedule], at, overrides)
        if name in config.contacts  # an override naming someone since removed: nobody
    ]
    if found:
        return found
    first_step = config.policies[config.default_policy].steps[0]
    return [OnCall(contact, None) for contact in config.expand_targets(first_step, at, overrides)]


def dial_target(people: Sequence[OnCall], caller: Contact) -> Contact | None:
    """Whom to put the caller through to: the first person on call who takes calls and is
    not the caller; None when there is nobody else."""
    return next(
        (
            entry.contact
            for entry in people
            if entry.contact.name != caller.name and entry.contact.accepts(Channel.VOICE)
        ),
        None,
    )
