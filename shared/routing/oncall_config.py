"""The on-call configuration: who can be paged, how, in what order, for which alerts.

One YAML file holds contacts, teams, escalation policies and routes. A mistake
in it is only found when an alert needs it, in the middle of the night, so the
checker reports every problem it can find at once, each with its path and line,
instead of stopping at the first.

Checks happen in three layers, each reporting everything it sees:
1. YAML syntax (with its line) and names defined twice (YAML would keep the
   last one silently).
2. Shape and references, in one pydantic pass: names are collected from the
   raw document first, so an unknown contact is reported even when an
   unrelated part of the file is broken.
3. Checks that need the whole validated configuration: a listed person who
   accepts none of a step's channels, routes hidden behind a catch-all route.

The fallback policy is the top-level `default_policy` key rather than a last
route without `match`: it cannot be shadowed or reordered by accident, and a
route list that forgot it fails the check instead of dropping alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from shared.alerts.schemas import Severity
from shared.core.phone import InvalidPhoneNumber, normalize_e164


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the file, addressed the way a person navigates it.

    `path` is like `policies.primary.steps[1].targets[0]`; empty for the file
    as a whole. `line` is 1-based, when the problem can be placed in the file.
    """

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(file)"
        if self.line is not None:
            where = f"line {self.line}: {where}"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """The configuration cannot be used; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --------------------------------------------------------------------------- field types


@dataclass(frozen=True, slots=True)
class _Names:
    """Names declared in the raw document: references are checked against these.

    Taken from the mapping keys before validation, so a contact whose phone
    number is wrong is still a known name and its references do not pile up
    as "unknown" noise on top of the real problem.
    """

    contacts: frozenset[str]
    teams: frozenset[str]
    policies: frozenset[str]

    @classmethod
    def declared_in(cls, data: Any) -> _Names:
        def keys(section: str) -> frozenset[str]:
            value = data.get(section) if isinstance(data, Mapping) else None
            if not isinstance(value, Mapping):
                return frozenset()
            return frozenset(str(key) for key in value)

        return cls(keys("contacts"), keys("teams"), keys("policies"))


def _names(info: ValidationInfo) -> _Names | None:
    return info.context if isinstance(info.context, _Names) else None


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


Seconds = Annotated[int, BeforeValidator(_duration), Field(ge=0)]


def _non_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Checked after the items, unlike min_length, which counts only the items that
    validated and so would add a misleading "empty" to every list with a bad entry."""
    if not values:
        raise ValueError("must not be empty")
    return values


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def _one_or_many(value: Any) -> Any:
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


def _matches(pattern: str, value: object) -> bool:
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
    names = _names(info)
    if names is not None and value not in names.contacts | names.teams:
        raise ValueError(f'unknown contact or team "{value}"')
    return value


def _known_member(value: str, info: ValidationInfo) -> str:
    names = _names(info)
    if names is None or value in names.contacts:
        return value
    if value in names.teams:
        raise ValueError(f'"{value}" is a team: teams list contacts, not other teams')
    raise ValueError(f'unknown contact "{value}"')


def _not_a_contact(value: str, info: ValidationInfo) -> str:
    """A target naming both a contact and a team would page whichever we looked up first."""
    names = _names(info)
    if names is not None and value in names.contacts:
        raise ValueError(f'"{value}" is also a contact: a target naming it is ambiguous')
    return value


def _known_policy(value: str, info: ValidationInfo) -> str:
    names = _names(info)
    if names is not None and value not in names.policies:
        raise ValueError(f'unknown policy "{value}"')
    return value


Channels = Annotated[tuple[Channel, ...], AfterValidator(_non_empty), AfterValidator(_unique)]
TargetName = Annotated[str, AfterValidator(_known_target)]
MemberName = Annotated[str, AfterValidator(_known_member)]
PolicyName = Annotated[str, AfterValidator(_known_policy)]
ValueMatcher = Annotated[str, AfterValidator(_matcher)]


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    """A person: where to reach them and on which channels they agreed to be reached."""

    name: str
    phone: Annotated[str, AfterValidator(_phone)]
    channels: Channels = (Channel.SMS, Channel.VOICE)
    # True: page at any hour even where quiet hours would hold a page back.
    # Nothing here enforces quiet hours yet; the flag is read by whoever does.
    quiet_hours_off: bool = False

    def accepts(self, channel: Channel) -> bool:
        return channel in self.channels


class Team(_Model):
    name: Annotated[str, AfterValidator(_not_a_contact)]
    members: Annotated[tuple[MemberName, ...], AfterValidator(_non_empty), AfterValidator(_unique)]


class Recall(_Model):
    """Calling an unanswered phone again before escalating: people miss the first ring."""

    attempts: int = Field(ge=1)  # calls after the first one
    interval: Seconds


class Step(_Model):
    targets: Annotated[tuple[TargetName, ...], AfterValidator(_non_empty)]
    channels: Channels
    wait: Seconds  # before the next step; required, as a silent default would set the pace
    recall: Recall | None = None  # overrides the policy's for this step


class Policy(_Model):
    name: str
    steps: Annotated[tuple[Step, ...], AfterValidator(_non_empty)]
    repeat: int = Field(default=0, ge=0)  # extra runs of the whole chain
    recall: Recall | None = None

    def recall_for(self, step: int) -> Recall | None:
        return self.steps[step].recall or self.recall


class RoutableAlert(Protocol):
    """What routing reads: satisfied by shared.alerts.schemas.AlertIn and by
    shared.core.models.Alert."""

    @property
    def severity(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


class Match(_Model):
    """All given conditions must hold; an empty match catches every alert."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    labels: dict[str, ValueMatcher] = Field(default_factory=dict)
    severity: Annotated[tuple[Severity, ...], BeforeValidator(_one_or_many)] = ()
    source: Annotated[tuple[ValueMatcher, ...], BeforeValidator(_one_or_many)] = ()

    @property
    def catches_all(self) -> bool:
        return not (self.labels or self.severity or self.source)

    def matches(self, alert: RoutableAlert) -> bool:
        if self.severity and str(alert.severity) not in self.severity:
            return False
        if self.source and not any(_matches(p, alert.source) for p in self.source):
            return False
        labels = alert.labels or {}
        return all(_matches(pattern, labels.get(key)) for key, pattern in self.labels.items())


class Route(_Model):
    match: Match = Field(default_factory=Match)
    policy: PolicyName


class OncallConfig(_Model):
    """The whole file. Built with references checked, however it is constructed."""

    contacts: dict[str, Contact] = Field(default_factory=dict)
    teams: dict[str, Team] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    default_policy: PolicyName

    def __init__(self, **data: Any) -> None:
        self.__pydantic_validator__.validate_python(
            data, self_instance=self, context=_Names.declared_in(data)
        )

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Supply the declared names as context, so references are always checked."""
        if kwargs.get("context") is None:
            kwargs["context"] = _Names.declared_in(obj)
        return super().model_validate(obj, **kwargs)

    @field_validator("contacts", "teams", "policies", mode="before")
    @classmethod
    def _name_from_key(cls, value: Any) -> Any:
        """The mapping key is the name; copying it in lets a Contact say who it is."""
        if not isinstance(value, Mapping):
            return value
        return {
            key: {**item, "name": key} if isinstance(item, Mapping) else item
            for key, item in value.items()
        }

    def expand_targets(self, step: Step) -> list[Contact]:
        """The people a step pages: teams replaced by their members, each person once, in order."""
        people: dict[str, Contact] = {}
        for target in step.targets:
            for name in self._members_of(target):
                people.setdefault(name, self.contacts[name])
        return list(people.values())

    def _members_of(self, target: str) -> tuple[str, ...]:
        return self.teams[target].members if target in self.teams else (target,)

    def route(self, alert: RoutableAlert) -> tuple[str, Policy]:
        """The policy for an alert: the first matching route wins, else `default_policy`."""
        name = next(
            (route.policy for route in self.routes if route.match.matches(alert)),
            self.default_policy,
        )
        return name, self.policies[name]

    def contact_for_phone(self, number: str) -> Contact | None:
        """Who sent an inbound SMS; None for a number not in the rota."""
        try:
            wanted = normalize_e164(number)
        except InvalidPhoneNumber:
            return None
        return next((c for c in self.contacts.values() if c.phone == wanted), None)


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path) -> OncallConfig:
    """The configuration in `path`, or ConfigError listing every problem in it."""
    config, problems = _parse(_read(Path(path)))
    if config is None or problems:
        raise ConfigError(problems)
    return config


def check_config(path: str | Path) -> list[ConfigProblem]:
    """Every problem in the file at `path`; empty when it can be loaded."""
    try:
        text = _read(Path(path))
    except ConfigError as exc:
        return exc.problems
    return _parse(text)[1]


def parse_config(text: str) -> OncallConfig:
    """Like load_config, for YAML already in memory."""
    config, problems = _parse(text)
    if config is None or problems:
        raise ConfigError(problems)
    return config


def check_config_text(text: str) -> list[ConfigProblem]:
    return _parse(text)[1]


def problem_lines(path: str | Path, problems: list[ConfigProblem]) -> list[str]:
    """The problems as `alert-dispatch config check` prints them: one a line, then the count.

    Shared with the processes that refuse to start on an invalid file, so an
    operator reads the same report wherever it comes from.
    """
    return [*(f"{path}: {problem}" for problem in problems), f"{len(problems)} problem(s)"]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None


def _parse(text: str) -> tuple[OncallConfig | None, list[ConfigProblem]]:
    try:
        node, data = _load_yaml(text)
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(exc)]
    if node is None:
        return None, [ConfigProblem("", "the file is empty")]
    lines, problems = _index(node)
    if not isinstance(data, Mapping):
        message = "must be a mapping of contacts, teams, policies, routes, default_policy"
        return None, [*problems, ConfigProblem("", message, lines.get(()))]
    try:
        config = OncallConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(error, lines) for error in exc.errors()]
        return None, _by_line(problems)
    problems += _whole_config_problems(config, lines)
    return (None if problems else config), _by_line(problems)


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines and duplicates) and the data built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    if mark is None:
        return ConfigProblem("", f"invalid YAML: {detail}")
    return ConfigProblem("", f"invalid YAML at column {mark.column + 1}: {detail}", mark.line + 1)


Loc = tuple[str | int, ...]


def _index(root: yaml.Node) -> tuple[dict[Loc, int], list[ConfigProblem]]:
    """Line of every path in the document, and every key defined twice in one mapping."""
    lines: dict[Loc, int] = {}
    problems: list[ConfigProblem] = []
    for loc, key_node, first_line in _walk(root, (), lines, set()):
        if first_line is not None:
            message = f'"{key_node.value}" is defined twice (first on line {first_line})'
            problems.append(ConfigProblem(_path(loc), message, key_node.start_mark.line + 1))
    return lines, problems


def _walk(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], active: set[int]
) -> Iterator[tuple[Loc, yaml.Node, int | None]]:
    """Record lines under `loc`; yield (loc, key node, first line) for each duplicate key."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if id(node) in active:  # a recursive alias: already being walked
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":  # merge key: its contents belong to this mapping
                continue
            child = (*loc, key)
            key_line = key_node.start_mark.line + 1
            if key in seen:
                yield child, key_node, seen[key]
                continue
            seen[key] = key_line
            lines[child] = key_line
            yield from _walk(value_node, child, lines, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*loc, index), lines, active)
    active.discard(id(node))


def _path(loc: Loc) -> str:
    """('policies', 'primary', 'steps', 1) -> 'policies.primary.steps[1]'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _line_of(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    """The line of the deepest part of `loc` present in the file (a missing key: its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
}


def _problem(error: ErrorDetails, lines: Mapping[Loc, int]) -> ConfigProblem:
    loc: Loc = tuple(part for part in error["loc"] if part != "[key]")
    if len(loc) == 3 and loc[2] == "name":  # the name is the key it was copied from
        loc = loc[:2]
    return ConfigProblem(_path(loc), _message(error), _line_of(loc, lines))


def _message(error: ErrorDetails) -> str:
    """Pydantic's wording, made to read like advice about a config file."""
    ctx = error.get("ctx") or {}
    if error["type"] in _MESSAGES:
        return _MESSAGES[error["type"]]
    if error["type"] == "enum":
        return f'"{error["input"]}" is not one of {ctx["expected"]}'
    if error["type"] == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    return error["msg"].removeprefix("Value error, ")


def _by_line(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: p.line if p.line is not None else 0)


def _whole_config_problems(config: OncallConfig, lines: Mapping[Loc, int]) -> list[ConfigProblem]:
    found = [*_unreachable_people(config), *_unreachable_routes(config)]
    return [ConfigProblem(_path(loc), message, _line_of(loc, lines)) for loc, message in found]


def _unreachable_people(config: OncallConfig) -> Iterator[tuple[Loc, str]]:
    """A person a step lists but cannot page: that step would skip them without a word."""
    for policy in config.policies.values():
        for s, step in enumerate(policy.steps):
            wanted = ", ".join(step.channels)
            for t, target in enumerate(step.targets):
                for name in config._members_of(target):
                    contact = config.contacts[name]
                    if not any(contact.accepts(channel) for channel in step.channels):
                        who = f'"{name}"' if name == target else f'"{name}" (team "{target}")'
                        loc = ("policies", policy.name, "steps", s, "targets", t)
                        yield loc, f"{who} accepts none of this step's channels ({wanted})"


def _unreachable_routes(config: OncallConfig) -> Iterator[tuple[Loc, str]]:
    """Routes after one that catches every alert can never be chosen."""
    catch_all = next((i for i, r in enumerate(config.routes) if r.match.catches_all), None)
    if catch_all is None:
        return
    for index in range(catch_all + 1, len(config.routes)):
        yield ("routes", index), f"never used: routes[{catch_all}] before it matches every alert"
