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

This module reads the file; the shape is in config_models (with the field
types in config_fields) and the problems, placed by path and line, in
config_check. Their public names are importable from here, the one place
callers look for the on-call file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.routing.config_check import (
    ConfigError,
    ConfigProblem,
    by_line,
    index_lines,
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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None


def _parse(text: str) -> tuple[OncallConfig | None, list[ConfigProblem]]:
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
    return (None if problems else config), by_line(problems)


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines and duplicates) and the data built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()
