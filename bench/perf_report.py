"""The performance suite's results: one figure per row, kept across runs, rendered as markdown.

Runs add up: `python -m bench` on SQLite and `python -m bench first-page
--db postgresql` later write their results into one JSON store
(`bench/results/performance.json`), each benchmark replacing its own earlier
result for that database kind, and `bench/results/performance.md` is
rendered from the whole store. Whatever follows `KEEP_MARKER` in the markdown
file (the reading of a profile, written by a person) is kept when the file
is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEEP_MARKER = "<!-- written by hand below this line: kept when the suite rewrites the file -->"
DATABASE_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
LOAD_KEY = "load average at start"
COLUMNS = ("benchmark", "measure", "this project", "naive pager, same run", "ratio", "goal", "")


@dataclass(frozen=True)
class Row:
    """One measure: both systems' figures as text, their ratio, and the issue's goal."""

    measure: str
    project: str
    naive: str = "-"
    ratio: str = "-"
    goal: str = ""
    met: bool | None = None


@dataclass(frozen=True)
class Result:
    """What one benchmark measured in one run."""

    name: str
    database: str
    date: str
    command: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        data["context"] = dict(self.context)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            name=str(data["name"]),
            database=str(data["database"]),
            date=str(data["date"]),
            command=str(data["command"]),
            rows=tuple(Row(**row) for row in data.get("rows", ())),
            notes=tuple(str(n) for n in data.get("notes", ())),
            context={str(k): str(v) for k, v in (data.get("context") or {}).items()},
        )


Store = dict[str, dict[str, dict[str, Any]]]  # database -> benchmark name -> Result JSON


def merge(store: Mapping[str, Mapping[str, Any]], results: Sequence[Result]) -> Store:
    """The store with each result replacing the earlier one of its benchmark and database."""
    merged: Store = {db: dict(by_name) for db, by_name in store.items()}
    for result in results:
        merged.setdefault(result.database, {})[result.name] = result.to_json()
    return merged


def load_store(path: Path) -> Store:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(db): dict(by_name) for db, by_name in data.items()}


def save_store(path: Path, store: Store) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: ""}[met]


def table(results: Sequence[Result]) -> list[str]:
    """One markdown table of every row of `results`, the benchmark named on its first row."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for result in results:
        for index, row in enumerate(result.rows):
            cells = (
                result.name if index == 0 else "",
                row.measure,
                row.project,
                row.naive,
                row.ratio,
                row.goal,
                verdict(row.met),
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def section(database: str, results: Sequence[Result], order: Sequence[str]) -> list[str]:
    """The part of the file for one database kind: runs, context, table, notes."""
    ranked = sorted(results, key=lambda r: (order.index(r.name) if r.name in order else 99, r.name))
    lines = [f"## {DATABASE_TITLES.get(database, database)}", ""]
    runs: dict[str, Result] = {}
    for r in sorted(ranked, key=lambda r: r.date):
        runs.setdefault(r.command, r)
    for command, first in runs.items():
        load = first.context.get(LOAD_KEY)
        lines.append(
            f"- run {first.date}: `{command}`" + (f" (load average {load})" if load else "")
        )
    newest = max(ranked, key=lambda r: r.date)
    lines += [f"- {k}: {v}" for k, v in sorted(newest.context.items()) if k != LOAD_KEY]
    lines += ["", *table(ranked), ""]
    for result in ranked:
        lines += [f"- {result.name}: {note}" for note in result.notes]
    return [*lines, ""]


def render(store: Store, preamble: Sequence[str], order: Sequence[str], kept: str = "") -> str:
    """The whole markdown file: preamble, one section per database kind, the kept tail."""
    lines = list(preamble)
    for database in sorted(store, key=lambda d: (d != "sqlite", d)):
        results = [Result.from_json(data) for data in store[database].values()]
        lines += section(database, results, order)
    lines += [KEEP_MARKER, ""]
    text = "\n".join(lines)
    if not kept.strip():
        return text
    return text + "\n" + kept.strip("\n") + "\n"


def kept_tail(path: Path) -> str:
    """What follows the marker in an existing results file (empty when none)."""
    if not path.exists():
        return ""
    _, marker, tail = path.read_text().partition(KEEP_MARKER)
    return tail if marker else ""
