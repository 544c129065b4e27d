"""On-call shifts as iCalendar feeds a calendar app subscribes to.

GET /ical/schedules/{schedule}.ics?token=... is everyone's shifts in one
schedule; GET /ical/people/{contact}.ics?token=... is one person's shifts in
every schedule. Both cover a week back and two months ahead, with the
overrides in the database applied (shared.schedules.ical builds them).

Calendar apps cannot send headers, so each feed's URL carries its own token
(`alert-dispatch oncall feed` prints it), an HMAC of the feed's name under
ICAL_SECRET, compared in constant time. Unset ICAL_SECRET, a missing or wrong
token and a name the on-call file does not have all answer the same 404, so
the feeds reveal nothing about which schedules or people exist. The token is
never logged here; shared.core.logging_setup masks `token=` in request lines.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, request

from shared.core.db import read_scope
from shared.core.models import utcnow
from shared.routing.config_models import OncallConfig
from shared.routing.route import current_config
from shared.schedules.ical import (
    FeedKind,
    feed_shifts,
    feed_window,
    person_calendar,
    schedule_calendar,
    token_valid,
)
from shared.schedules.model import Schedule
from shared.schedules.override_store import overrides_between
from shared.schedules.overrides import Override
from shared.schedules.resolve import HORIZON
from webhooks.errors import ApiError

bp = Blueprint("ical_feeds", __name__)

CONTENT_TYPE = "text/calendar; charset=utf-8"


def _opened(kind: FeedKind, name: str) -> OncallConfig:
    """The on-call file, once the token opens this feed; the same 404 for every refusal."""
    settings = current_app.config["SETTINGS"]
    if not token_valid(settings.ical_secret, kind, name, request.args.get("token")):
        raise ApiError(404, "not found")
    config = current_config(settings.config_file)
    if config is None:
        raise ApiError(404, "not found")
    return config


def _overrides(schedules: list[Schedule], now: datetime) -> dict[str, list[Override]]:
    """Each schedule's stored overrides around the feed window (as far as the resolver looks)."""
    lo, _ = feed_window(now)
    url = str(current_app.config["SETTINGS"].effective_database_url)
    with read_scope(url) as session:
        return {
            schedule.name: overrides_between(session, lo - HORIZON, lo + HORIZON, schedule.name)
            for schedule in schedules
        }


def _calendar(body: bytes) -> Response:
    response = Response(body, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/ical/schedules/<schedule>.ics")
def schedule_feed(schedule: str) -> Response:
    config = _opened(FeedKind.SCHEDULE, schedule)
    found = config.schedule_named(schedule)
    if found is None:
        raise ApiError(404, "not found")
    now = utcnow()
    shifts = feed_shifts(found, now, _overrides([found], now)[found.name])
    return _calendar(schedule_calendar(found, shifts, now))


@bp.get("/ical/people/<contact>.ics")
def person_feed(contact: str) -> Response:
    config = _opened(FeedKind.PERSON, contact)
    if contact not in config.contacts:
        raise ApiError(404, "not found")
    now = utcnow()
    schedules = [config.schedules[name] for name in sorted(config.schedules)]
    overrides = _overrides(schedules, now)
    shifts = {
        schedule.name: feed_shifts(schedule, now, overrides[schedule.name])
        for schedule in schedules
        if contact in schedule.members
        or any(o.covering == contact for o in overrides[schedule.name])
    }
    return _calendar(person_calendar(contact, shifts, now))
