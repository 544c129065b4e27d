"""A notice defined by API or CLI: checked exactly as the on-call file's, stored as JSON.

The same pydantic model (shared.notices.model.Notice) with the names the
on-call file declares as its context, then the checks the file gets
(shared.notices.checks), plus the one `config check` alone makes for the
file: a window already over. The file is the directory: a notice made by API
may only name the file's teams and contacts, and subscriber lists of the file
or of the database. Each problem
names its field as a dotted path (`audience.teams.0`), for a 422 or a CLI line.

Pure: `now` and the loaded file are passed in. What is stored is the notice
in the words a person writes (reminders as `-24h`, `start`), which the model
reads back unchanged (`to_definition`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.notices.checks import Loc, notice_problems, stale_notice_problems
from shared.notices.model import Notice
from shared.notices.schedule import next_occurrence
from shared.routing.config_check import validation_problem
from shared.routing.config_fields import DeclaredNames
from shared.routing.config_models import OncallConfig


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition: the field (dotted; empty: the whole body) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class DefinitionError(ValueError):
    """A definition that cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def dotted(loc: Loc) -> str:
    """('audience', 'teams', 0) -> 'audience.teams.0', as the API names fields."""
    return ".".join(str(part) for part in loc)


def declared_names(config: OncallConfig | None) -> DeclaredNames:
    """The names a notice may use; none without an on-call file (nobody to tell)."""
    if config is None:
        return DeclaredNames(frozenset(), frozenset(), frozenset())
    return DeclaredNames(
        frozenset(config.contacts), frozenset(config.teams), frozenset(config.policies)
    )


def list_names(config: OncallConfig | None, stored: Collection[str] = ()) -> frozenset[str]:
    """The subscriber lists a notice may name: the file's and those kept in the database
    (shared.notices.subscriber_store)."""
    return frozenset(config.subscriber_lists if config is not None else ()) | frozenset(stored)


def model_problems(exc: ValidationError) -> list[Problem]:
    found = []
    for error in exc.errors():
        loc: Loc = tuple(part for part in error["loc"] if part != "[key]")
        found.append(Problem(dotted(loc), validation_problem(error, {}).message))
    return found


def _under_notice(found: Iterable[tuple[Loc, str]], name: str) -> list[Problem]:
    """Findings addressed in the file (`notices.NAME.window.start`), addressed in the body."""
    prefix = ("notices", name)
    return [
        Problem(dotted(loc[2:] if loc[:2] == prefix else loc), message) for loc, message in found
    ]


def check_definition(
    data: Any, config: OncallConfig | None, now: datetime, stored_lists: Collection[str] = ()
) -> Notice:
    """The notice `data` defines, or DefinitionError naming every field at fault.
    `stored_lists`: the names of the subscriber lists kept in the database."""
    if not isinstance(data, Mapping):
        raise DefinitionError([Problem("", "a notice is a mapping (a JSON object)")])
    try:
        notice = Notice.model_validate(dict(data), context=declared_names(config))
    except ValidationError as exc:
        raise DefinitionError(model_problems(exc)) from None
    problems = check_notice(notice, config, now, stored_lists)
    if problems:
        raise DefinitionError(problems)
    return notice


def check_notice(
    notice: Notice, config: OncallConfig | None, now: datetime, stored_lists: Collection[str] = ()
) -> list[Problem]:
    """What the model alone cannot see: parts that do not fit, lists, a window already over."""
    one = {notice.name: notice}
    found = _under_notice(notice_problems(one, list_names(config, stored_lists)), notice.name)
    found += _under_notice(stale_notice_problems(one, now), notice.name)
    if notice.window.recurring and next_occurrence(notice.window, now) is None:
        found.append(Problem("window", "every window of the series is over"))
    return found


def to_definition(notice: Notice) -> dict[str, Any]:
    """The notice as JSON, in the words of the file: reminders as `-24h`, `start`."""
    data = notice.model_dump(mode="json", exclude_none=True)
    data["reminders"] = [reminder.key for reminder in notice.reminders]
    return data


def stored_notice(definition: Mapping[str, Any]) -> Notice:
    """A stored definition read back (checked when stored; the names are not re-checked:
    a team removed from the file since is left out when a send starts, and reported)."""
    return Notice.model_validate(dict(definition))
