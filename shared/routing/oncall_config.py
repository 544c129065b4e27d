"""The on-call configuration: who can be paged, how, in what order, for which alerts.

One YAML file holds contacts, teams, on-call schedules, escalation policies and
routes. A mistake in it is only found when an alert needs it, in the middle of
the night, so the checker reports every problem it can find at once, each with
its path and line, instead of stopping at the first.

Checks happen in three layers, each reporting everything it sees:
1. YAML syntax (with its line) and names defined twice (YAML would keep the
   last one silently).
2. Shape and references, in one pydantic pass: names are collected from the
   raw document first, so an unknown contact is reported even when an
   unrelated part of the file is broken.
3. Checks that need the whole validated configuration: a listed person who
   accepts none of a step's channels, routes hidden behind a catch-all route,
   notices whose parts do not fit together (shared.notices.checks).

Subscriber lists named as CSV files (paths relative to the on-call file)
are read with it. Four kinds of problem are reported by `config check` only,
never refusing a load: bad rows of a CSV (the rest of the list is kept), a
one-off notice whose window has passed, a time in the next two weeks at
which a schedule has nobody on call, and a webhook step's secret variable not
set (it may be set for the workers alone). The middle two appear or go with time
alone, and none of them stops a page (a step whose schedule has nobody moves
on to the next step): paging must not stop starting over them.

The fallback policy is the top-level `default_policy` key rather than a last
route without `match`: it cannot be shadowed or reordered by accident, and a
route list that forgot it fails the check instead of dropping alerts.

This module reads the file; the shape is in config_models (with the field
types in config_fields) and the problems, placed by path and line, in
config_check. Their public names are importable from here, the one place
callers look for the on-call file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.notices.checks import stale_notice_problems, subscriber_csv_problems
from shared.notices.model import SubscriberList
from shared.notices.subscribers import SubscriberCsv, parse_subscriber_csv
from shared.routing.config_check import (
    ConfigError,
    ConfigProblem,
    by_line,
    index_lines,
    placed,
    problem_lines,
    validation_problem,
    whole_config_problems,
    yaml_problem,
)
from shared.routing.config_models import (
    Channel,
    Contact,
    Match,
    OncallConfig,
    Policy,
    Recall,
    RoutableAlert,
    Route,
    Step,
    Team,
)
from shared.routing.step_kinds import missing_secret_problems
from shared.schedules.checks import gap_problems

__all__ = [
    "Channel",
    "ConfigError",
    "ConfigProblem",
    "Contact",
    "Match",
    "OncallConfig",
    "Policy",
    "Recall",
    "RoutableAlert",
    "Route",
    "Step",
    "Team",
    "check_config",
    "check_config_text",
    "load_config",
    "parse_config",
    "problem_lines",
]


def load_config(path: str | Path) -> OncallConfig:
    """The configuration in `path`, or ConfigError listing every problem in it."""
    path = Path(path)
    config, problems = _parse(_read(path), path.parent)
    if config is None or problems:
        raise ConfigError(problems)
    return config


def check_config(path: str | Path, now: datetime | None = None) -> list[ConfigProblem]:
    """Every problem in the file at `path`; empty when it can be loaded and nothing in it
    is stale at `now` (default: the current time)."""
    path = Path(path)
    try:
        text = _read(path)
    except ConfigError as exc:
        return exc.problems
    return _parse(text, path.parent, checked_at=now or datetime.now(UTC))[1]


def parse_config(text: str, base_dir: str | Path = ".") -> OncallConfig:
    """Like load_config, for YAML already in memory (CSV paths relative to `base_dir`)."""
    config, problems = _parse(text, Path(base_dir))
    if config is None or problems:
        raise ConfigError(problems)
    return config


def check_config_text(
    text: str, base_dir: str | Path = ".", now: datetime | None = None
) -> list[ConfigProblem]:
    return _parse(text, Path(base_dir), checked_at=now or datetime.now(UTC))[1]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None


def _parse(
    text: str, base_dir: Path, checked_at: datetime | None = None
) -> tuple[OncallConfig | None, list[ConfigProblem]]:
    """The configuration and its problems; with `checked_at`, also those `config check`
    alone reports (stale notices, bad CSV rows, schedule gaps)."""
    try:
        node, data = _load_yaml(text)
    except yaml.YAMLError as exc:
        return None, [yaml_problem(exc)]
    if node is None:
        return None, [ConfigProblem("", "the file is empty")]
    lines, problems = index_lines(node)
    if not isinstance(data, Mapping):
        message = "must be a mapping of contacts, teams, policies, routes, default_policy"
        return None, [*problems, ConfigProblem("", message, lines.get(()))]
    try:
        config = OncallConfig.model_validate(data)
    except ValidationError as exc:
        problems += [validation_problem(error, lines) for error in exc.errors()]
        return None, by_line(problems)
    problems += whole_config_problems(config, lines)
    config, read, unreadable = _with_subscribers(config, base_dir)
    problems += placed(unreadable, lines)
    if checked_at is not None:
        problems += placed(subscriber_csv_problems(config.subscriber_lists, read), lines)
        problems += placed(stale_notice_problems(config.notices, checked_at), lines)
        problems += placed(gap_problems(config.schedules, checked_at), lines)
        problems += placed(missing_secret_problems(config.policies), lines)
    return (None if problems else config), by_line(problems)


def _with_subscribers(
    config: OncallConfig, base_dir: Path
) -> tuple[OncallConfig, dict[str, SubscriberCsv], list[tuple[tuple[str, ...], str]]]:
    """The configuration with each list's CSV numbers added; what each CSV held; the CSV
    files that could not be read (a wrong path is an error in the file, not in the list)."""
    lists: dict[str, SubscriberList] = {}
    read: dict[str, SubscriberCsv] = {}
    unreadable = []
    for name, entry in config.subscriber_lists.items():
        if entry.csv is None:
            lists[name] = entry
            continue
        path = base_dir / entry.csv
        try:
            read[name] = parse_subscriber_csv(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            unreadable.append((("subscriber_lists", name, "csv"), f"cannot read {path}: {exc}"))
            lists[name] = entry
            continue
        numbers = tuple(dict.fromkeys((*entry.numbers, *read[name].numbers)))
        lists[name] = entry.model_copy(update={"numbers": numbers})
    if not read:
        return config, read, unreadable
    return config.model_copy(update={"subscriber_lists": lists}), read, unreadable


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines and duplicates) and the data built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()
