"""Where each problem in the on-call file is: its path and line, in words a person acts on.

`alert-dispatch config check` and the processes that refuse to start on an
invalid file report the same problems, so an operator reads one report
wherever it comes from. The lines come from the YAML node tree, which also
shows keys defined twice (the data built from it keeps only the last one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic_core import ErrorDetails

from shared.notices.checks import notice_problems
from shared.routing.config_models import OncallConfig
from shared.schedules.checks import schedule_problems

Loc = tuple[str | int, ...]


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


def problem_lines(path: str | Path, problems: list[ConfigProblem]) -> list[str]:
    """The problems as `alert-dispatch config check` prints them: one a line, then the count.

    Shared with the processes that refuse to start on an invalid file, so an
    operator reads the same report wherever it comes from.
    """
    return [*(f"{path}: {problem}" for problem in problems), f"{len(problems)} problem(s)"]


def yaml_problem(exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    if mark is None:
        return ConfigProblem("", f"invalid YAML: {detail}")
    return ConfigProblem("", f"invalid YAML at column {mark.column + 1}: {detail}", mark.line + 1)


def index_lines(root: yaml.Node) -> tuple[dict[Loc, int], list[ConfigProblem]]:
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


def validation_problem(error: ErrorDetails, lines: Mapping[Loc, int]) -> ConfigProblem:
    """One pydantic error, placed in the file and worded for the person editing it."""
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


def by_line(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: p.line if p.line is not None else 0)


def whole_config_problems(config: OncallConfig, lines: Mapping[Loc, int]) -> list[ConfigProblem]:
    """Problems only the validated whole shows: people a step cannot reach, dead routes,
    schedule layers that cover nothing (shared.schedules.checks), notices whose parts do
    not fit together (shared.notices.checks)."""
    found = [
        *_unreachable_people(config),
        *_unreachable_routes(config),
        *schedule_problems(config.schedules),
        *notice_problems(config.notices, config.subscriber_lists),
    ]
    return placed(found, lines)


def placed(found: Iterable[tuple[Loc, str]], lines: Mapping[Loc, int]) -> list[ConfigProblem]:
    """Findings given as (path, message), each on its line in the file."""
    return [ConfigProblem(_path(loc), message, _line_of(loc, lines)) for loc, message in found]


def _unreachable_people(config: OncallConfig) -> Iterator[tuple[Loc, str]]:
    """A person a step lists but cannot page: that step would skip them without a word."""
    for policy in config.policies.values():
        for s, step in enumerate(policy.steps):
            wanted = ", ".join(step.channels)
            for t, target in enumerate(step.targets):
                for name, who in _people_behind(config, target):
                    contact = config.contacts[name]
                    if not any(contact.accepts(channel) for channel in step.channels):
                        loc = ("policies", policy.name, "steps", s, "targets", t)
                        yield loc, f"{who} accepts none of this step's channels ({wanted})"


def _people_behind(config: OncallConfig, target: str) -> Iterator[tuple[str, str]]:
    """Each contact a target may page, and how to name them: a schedule stands for everyone
    its layers may put on call."""
    schedule = config.schedule_named(target)
    if schedule is not None:
        for name in schedule.members:
            yield name, f'"{name}" (schedule "{target}")'
        return
    for name in config.members_of(target):
        yield name, f'"{name}"' if name == target else f'"{name}" (team "{target}")'


def _unreachable_routes(config: OncallConfig) -> Iterator[tuple[Loc, str]]:
    """Routes after one that catches every alert can never be chosen."""
    catch_all = next((i for i, r in enumerate(config.routes) if r.match.catches_all), None)
    if catch_all is None:
        return
    for index in range(catch_all + 1, len(config.routes)):
        yield ("routes", index), f"never used: routes[{catch_all}] before it matches every alert"
