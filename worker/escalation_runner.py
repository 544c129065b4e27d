"""Fire a due escalation position and hand its notifications to the senders."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.events import record_events
from shared.core.metrics import ESCALATION_STEPS, ESCALATIONS_EXHAUSTED
from shared.core.models import Alert, utcnow
from shared.escalation.engine import (
    END_OF_CHAIN,
    FireResult,
    Planned,
    end_chain,
    fire,
    start_and_fire_many,
)
from shared.escalation.plan import Position, has_position
from shared.escalation.step_pages import StepAlert
from shared.notifications.priority import page_priority
from shared.notifications.sms_text import alert_sms_text
from shared.routing.oncall_config import Contact, OncallConfig, Policy
from shared.routing.route import DIRECT_POLICY, Routed, config_and_policy, thaw_chain
from shared.schedules.override_store import active_overrides
from worker import context, enqueue
from worker.sending.first_page import FirstPage, claim_first_page
from worker.sending.flow import ChannelOps, run_send
from worker.sending.sms import SMS
from worker.sending.voice import VOICE
from worker.step_actions import hand_over_actions

log = logging.getLogger(__name__)


# A page that rides in another's message is enqueued this much later, as a safety net:
# by then the lead has normally claimed it (and its task does nothing).
FOLLOWER_DELAY_S = 2.0


@dataclass(frozen=True)
class Page:
    """A planned notification and the broker priority it is handed over with."""

    planned: Planned
    priority: int


def split_leads(pages: Sequence[Page]) -> tuple[list[Page], list[Page]]:
    """The first page of each person and channel, most urgent first; and the rest.

    Pure. Two pages to one person on one channel fired together are one
    message: only the lead is sent, and its claim takes the other with it.
    """
    leads: dict[tuple[str, str], Page] = {}
    followers: list[Page] = []
    for page in sorted(pages, key=lambda p: p.priority):
        key = (page.planned.destination, page.planned.channel)
        if key in leads:
            followers.append(page)
        else:
            leads[key] = page
    return list(leads.values()), followers


@dataclass(frozen=True)
class Fired:
    """A position fired in a transaction, and what its hand-over needs once committed."""

    result: FireResult
    policy: Policy
    severity: str


def fire_and_hand_over(alert_id: int, position: Position) -> FireResult:
    """Fire the position if it is still the one due (exactly once), then send its pages."""
    fired, first = plan_and_claim(
        lambda session, events: [(alert_id, fire_in(session, alert_id, position, events))]
    )
    return hand_over_all(fired, first)[0]


# Positions fired in one transaction: (alert id, what firing did, None when nothing fired).
FiredAlerts = Sequence[tuple[int, Fired | None]]


def plan_and_claim(
    plan: Callable[[Session, list[dict[str, Any]]], FiredAlerts],
) -> tuple[FiredAlerts, FirstPage | None]:
    """Run `plan` in one transaction and claim the most urgent page it planned in it;
    what `plan` fired, and the claimed page.

    `plan(session, events)` leaves its events in `events`: they are written
    with the claim's in one INSERT, after the claim.

    A step fired but lost with the database is fired again by the hand-over of
    steps: the transaction asks for no disk flush of its own unless it claimed a page.
    """
    first: FirstPage | None = None
    try:
        with session_scope(context.database_url(), flush_to_disk=False) as session:
            fired, first = plan_and_claim_in(session, plan)
    except BaseException:
        if first is not None:
            first.rolled_back()  # the commit failed
        raise
    return fired, first


def plan_and_claim_in(
    session: Session, plan: Callable[[Session, list[dict[str, Any]]], FiredAlerts]
) -> tuple[FiredAlerts, FirstPage | None]:
    """`plan_and_claim` in the caller's transaction, which must commit before the claimed
    page's `after_commit` (and call its `rolled_back` if it does not)."""
    events: list[dict[str, Any]] = []
    first: FirstPage | None = None
    try:
        fired = plan(session, events)
        first = claim_first(session, fired, events)
        record_events(session, events)
    except BaseException:
        if first is not None:
            first.rolled_back()
        raise
    return fired, first


def claim_first(
    session: Session,
    fired: Sequence[tuple[int, Fired | None]],
    events: list[dict[str, Any]],
) -> FirstPage | None:
    """The lead of the pages just fired, claimed in their transaction when it may go now
    (its claim's events into `events`, for the caller to write)."""
    leads, _ = split_leads(pages_of(fired))
    if not leads:
        return None
    lead = leads[0].planned
    return claim_first_page(session, lead.notification_id, ops_for(lead.channel), events)


def fire_in(
    session: Session,
    alert_id: int,
    position: Position,
    events: list[dict[str, Any]],
    starting: Routed | None = None,
) -> Fired | None:
    """Fire the position in the caller's transaction (None: nothing to fire).

    Routing uses this to start a chain and plan its first pages in one
    transaction: on SQLite each transaction queues for the one write lock.
    `events`: where the step's events go, for the caller to write with those of
    the other alerts fired and the first page's claim (`plan_and_claim`).
    `starting`: the route of an alert not yet on its chain, started by the compare-and-set
    that fires `position` (its first); alerts routed together start by `fire_together`.
    """
    alert = session.get(Alert, alert_id)
    if alert is None or alert.status != AlertStatus.TRIGGERED:
        return None
    found = _chain_of(alert, starting)
    if found is None:
        log.error("alert %s: policy %r is not in the configuration", alert_id, alert.policy)
        return None
    config, policy = found
    report = policy.name != DIRECT_POLICY
    now = utcnow()
    step_alert = _step_alert(alert)
    if lost_from_file(alert, policy, position):
        log.warning(
            "alert %s: the on-call file no longer has step %s of %s; the chain ends",
            alert_id,
            position.step,
            policy.name,
        )
        result = end_chain(session, alert_id, position, policy, now, report=report)
    else:
        # Overrides are only read when the chain names a schedule: most chains do not.
        overrides = active_overrides(session, now) if config.schedules else ()
        result = fire(
            session,
            alert_id,
            position,
            config,
            policy,
            now,
            step_alert.text_for,
            report_exhaustion=report,
            overrides=overrides,
            severity=alert.severity,
            events=events,
            starting=starting,
        )
    return Fired(result, policy, alert.severity)


def fire_together(
    session: Session, routes: Sequence[tuple[int, Routed]], events: list[dict[str, Any]]
) -> dict[int, Fired]:
    """Start the chains of alerts routed together and fire their first steps: one
    compare-and-set for the alerts on one chain, and one INSERT for their pages
    (`start_and_fire_many`), where each alert took one of each. Each alert's firing,
    by id; its events to `events`.

    Empty for a lone alert (the first page of most alerts): its firing (`fire_in`
    with `starting`) starts it in its own compare-and-set."""
    if len(routes) < 2:
        return {}
    now = utcnow()
    by_chain: dict[str, tuple[Routed, list[int]]] = {}
    for alert_id, routed in routes:
        key = json.dumps([routed.policy, routed.snapshot], sort_keys=True, default=str)
        by_chain.setdefault(key, (routed, []))[1].append(alert_id)
    fired: dict[int, Fired] = {}
    for routed, alert_ids in by_chain.values():
        config, policy = thaw_chain(routed.snapshot)
        loaded = (session.get(Alert, alert_id) for alert_id in alert_ids)  # routing loaded them
        alerts = [alert for alert in loaded if alert is not None]
        results = start_and_fire_many(
            session,
            [_step_alert(alert) for alert in alerts],
            routed,
            config,
            policy,
            now,
            report_exhaustion=policy.name != DIRECT_POLICY,
            overrides=active_overrides(session, now) if config.schedules else (),
            events=events,
        )
        for alert in alerts:
            fired[alert.id] = Fired(results[alert.id], policy, alert.severity)
    return fired


def _step_alert(alert: Alert) -> StepAlert:
    """What a fired step's pages take from the alert: an SMS carries the alert's own
    line (its final words, with the reply code or as part of a bundle, are composed
    when the message leaves); a call reads the alert when answered."""

    def text_for(contact: Contact, channel: str) -> str:
        return alert_sms_text(alert) if channel == Channel.SMS else ""

    return StepAlert(alert.id, alert.severity, text_for)


def _chain_of(alert: Alert, starting: Routed | None) -> tuple[OncallConfig, Policy] | None:
    """The configuration and policy the alert's chain follows (the route's, when starting)."""
    if starting is not None:
        return thaw_chain(starting.snapshot)
    return config_and_policy(alert, context.settings().config_file)


def pages_of(fired: Sequence[tuple[int, Fired | None]]) -> list[Page]:
    """Every page the positions fired together planned, with its broker priority."""
    pages: list[Page] = []
    for _, each in fired:
        if each is not None:
            priority = page_priority(each.severity, round=each.result.round or 0)
            pages.extend(Page(planned, priority) for planned in each.result.planned)
    return pages


def hand_over_all(
    fired: Sequence[tuple[int, Fired | None]], first: FirstPage | None = None
) -> list[FireResult]:
    """After the commit of positions fired together: send their pages as one hand-over,
    so one person's share of them leaves as one message, then count each step.
    `first` is the lead page when it was claimed in the firing transaction.

    Counted (and logged) after the hand-over: the first page does not wait for its
    step's log line and metrics."""
    try:
        hand_over(pages_of(fired), first)
    finally:
        for alert_id, each in fired:
            if each is not None:
                _count(alert_id, each.policy, each.result)
    hand_over_actions(fired)  # PHLO runs and webhook posts: after the pages, in their tasks
    return [FireResult(fired=False) if each is None else each.result for _, each in fired]


def ops_for(channel: str) -> ChannelOps:
    """The send path of a channel: calls for voice, texts otherwise."""
    return VOICE if channel == Channel.VOICE else SMS


def hand_over(pages: Sequence[Page], first: FirstPage | None = None) -> None:
    """Send the most urgent page from this task, enqueue the others.

    The first page of a step is the one a person waits for: sending it here
    saves a publish, a trip through the broker and a task start (a third of
    the time to the first page on an idle system). The other people's pages
    are enqueued first, so other workers send them meanwhile. A send that
    raises is enqueued instead: its row is still pending, and the task will
    find it so.

    Pages to a person already being paged here (alerts that arrived together)
    are not sent on their own: the lead's claim takes every due page of that
    person and channel into one message (shared.notifications.bundle_claim.claim_bundle).
    They are still enqueued, a little later, in case the lead never claims them
    (its alert closed first): one task per person for all of them, and a page
    it finds already claimed costs it one read.
    """
    leads, followers = split_leads(pages)
    if not leads:
        return
    lead, *others = leads
    for each in others:
        enqueue.send_notification(each.planned.notification_id, each.planned.channel, each.priority)
    lead_id = lead.planned.notification_id
    if first is not None and first.notification_id == lead_id:
        send_lead = first.after_commit
    else:
        ops = ops_for(lead.planned.channel)

        def send_lead() -> str:
            return run_send(lead_id, False, ops)

    try:
        send_lead()
    except Exception:  # the page must still leave: hand it to the task instead
        log.exception("notification %s: sending from the step failed", lead_id)
        enqueue.send_notification(lead_id, lead.planned.channel, lead.priority)
    for (_, channel), group in followers_by_person(followers).items():
        enqueue.send_followers(
            [each.planned.notification_id for each in group],
            channel,
            min(each.priority for each in group),
            FOLLOWER_DELAY_S,
        )


def followers_by_person(followers: Sequence[Page]) -> dict[tuple[str, str], list[Page]]:
    """Pure: the followers of each person and channel, in the order given (most urgent
    first): each group is one safety-net task (worker.tasks.send_followers)."""
    groups: dict[tuple[str, str], list[Page]] = {}
    for page in followers:
        groups.setdefault((page.planned.destination, page.planned.channel), []).append(page)
    return groups


def lost_from_file(alert: Alert, policy: Policy, position: Position) -> bool:
    """An alert started before chains were frozen follows the file in force, which
    may since have lost the position it is due at: that chain can only end.
    A frozen chain never loses a position, so it is never asked."""
    if alert.escalation_snapshot is not None or position.step == END_OF_CHAIN:
        return False
    return not has_position(policy, position)


def _count(alert_id: int, policy: Policy, result: FireResult) -> None:
    if result.exhausted:
        ESCALATIONS_EXHAUSTED.labels(policy=policy.name).inc()
    elif result.fired and result.step is not None:
        ESCALATION_STEPS.labels(policy=policy.name).inc()
        log.info(
            "alert %s: step %s (round %s) of %s fired, %d notifications",
            alert_id,
            result.step,
            result.round,
            policy.name,
            len(result.planned),
        )
