"""Field types of the on-call file: durations, phone numbers, matchers, names.

Each type checks one field on its own. References (a step naming a contact,
a route naming a policy) are checked against the names declared in the raw
document, passed in as validation context, so one broken part of the file
does not hide the references elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from shared.core.phone import InvalidPhoneNumber, normalize_e164


@dataclass(frozen=True, slots=True)
class DeclaredNames:
    """Names declared in the raw document: references are checked against these.

    Taken from the mapping keys before validation, so a contact whose phone
    number is wrong is still a known name and its references do not pile up
    as "unknown" noise on top of the real problem.
    """

    contacts: frozenset[str]
    teams: frozenset[str]
    policies: frozenset[str]
    schedules: frozenset[str] = frozenset()

    @classmethod
    def declared_in(cls, data: Any) -> DeclaredNames:
        def keys(section: str) -> frozenset[str]:
            value = data.get(section) if isinstance(data, Mapping) else None
            if not isinstance(value, Mapping):
                return frozenset()
            return frozenset(str(key) for key in value)

        return cls(keys("contacts"), keys("teams"), keys("policies"), keys("schedules"))


def _names(info: ValidationInfo) -> DeclaredNames | None:
    return info.context if isinstance(info.context, DeclaredNames) else None


def _phone(value: str) -> str:
    try:
        return normalize_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(f'bad phone number "{value}": {exc}') from None


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(value: Any) -> Any:
    """Seconds, from an int or a string like "90", "30s", "5m", "1h30m".

    Units make a rota readable ("5m" rather than 300); bools are refused
    because YAML turns `yes` into True, which int would accept as 1.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a duration like 30s, 5m, 1h")
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f'not a duration: "{value}" (use seconds, or 30s, 5m, 1h, 1h30m)')
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def non_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Checked after the items, unlike min_length, which counts only the items that
    validated and so would add a misleading "empty" to every list with a bad entry."""
    if not values:
        raise ValueError("must not be empty")
    return values


def unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def one_or_many(value: Any) -> Any:
    """Let `severity: critical` stand for `severity: [critical]`."""
    return [value] if isinstance(value, str) else value


def _matcher(value: str) -> str:
    """A label/source value: exact text, or a regex when written `~regex`."""
    if value.startswith("~"):
        try:
            re.compile(value[1:])
        except re.error as exc:
            raise ValueError(f'invalid regular expression "{value[1:]}": {exc}') from None
    return value


def value_matches(pattern: str, value: object) -> bool:
    """Regexes must match the whole value, as in Alertmanager: `~db-.*` is not `~.*db-.*`.

    An absent label never matches, even `~.*`: a route on a label should only
    catch alerts that carry it. Values are compared as text, as stored labels
    may have come back from JSON as numbers.
    """
    if value is None:
        return False
    if pattern.startswith("~"):
        return re.fullmatch(pattern[1:], str(value)) is not None
    return pattern == str(value)


def _known_target(value: str, info: ValidationInfo) -> str:
    """A step pages a contact, a team, or whoever a schedule has on call when it fires."""
    names = _names(info)
    if names is None or value in names.contacts | names.teams | names.schedules:
        return value
    if names.schedules:
        raise ValueError(f'unknown contact, team or schedule "{value}"')
    raise ValueError(f'unknown contact or team "{value}"')


def _known_member(value: str, info: ValidationInfo) -> str:
    names = _names(info)
    if names is None or value in names.contacts:
        return value
    if value in names.teams:
        raise ValueError(f'"{value}" is a team: teams list contacts, not other teams')
    if value in names.schedules:
        raise ValueError(f'"{value}" is a schedule: teams list contacts')
    raise ValueError(f'unknown contact "{value}"')


def _not_a_contact(value: str, info: ValidationInfo) -> str:
    """A target naming both a contact and a team would page whichever we looked up first."""
    names = _names(info)
    if names is not None and value in names.contacts:
        raise ValueError(f'"{value}" is also a contact: a target naming it is ambiguous')
    return value


def _free_schedule_name(value: str, info: ValidationInfo) -> str:
    """A step target naming a schedule and a contact (or team) would page whichever we
    looked up first."""
    names = _names(info)
    if names is None:
        return value
    for kind, taken in (("contact", names.contacts), ("team", names.teams)):
        if value in taken:
            raise ValueError(f'schedule "{value}" has the name of a {kind}: use another name')
    return value


def _known_policy(value: str, info: ValidationInfo) -> str:
    names = _names(info)
    if names is not None and value not in names.policies:
        raise ValueError(f'unknown policy "{value}"')
    return value


Phone = Annotated[str, AfterValidator(_phone)]
Seconds = Annotated[int, BeforeValidator(_duration), Field(ge=0)]
TargetName = Annotated[str, AfterValidator(_known_target)]
MemberName = Annotated[str, AfterValidator(_known_member)]
TeamName = Annotated[str, AfterValidator(_not_a_contact)]
ScheduleName = Annotated[str, AfterValidator(_free_schedule_name)]
PolicyName = Annotated[str, AfterValidator(_known_policy)]
ValueMatcher = Annotated[str, AfterValidator(_matcher)]
