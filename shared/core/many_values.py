"""Many values handed to PostgreSQL as one parameter: rows as a JSON document, keys as
a text array written here.

Why: a body of 100 alerts is 100 rows of alerts and 100 of events, stored by a
receiver while the producer waits. Each way of handing psycopg many rows at
once cost the receiver more than the database's work:
- one multi-row INSERT with 1,500 named parameters: psycopg converts such a
  statement again on every execution (it caches only statements under 4,096
  bytes and 50 parameters);
- one array per column, unnested: psycopg writes a text array element by
  element in Python, escaping each through a regular expression (17 % of a
  receiver's samples storing Alertmanager bodies);
- executemany: one bind and execute per row, each read back in a pipeline.
One JSON document is encoded by the standard library's C encoder in one call,
travels as one string, and PostgreSQL takes it apart (`->>`, each field cast to
its column's type). Rows are inserted in the order given (ORDER BY their
ordinality), so generated ids ascend with it.

A list of keys to look up goes as a text array's literal, written here with two
C-level replaces per key, which the statement unnests and probes one key at a
time on an index (shared.alerts.bulk_accept). Keys unpacked from JSON in the
statement were not matched on the index: the planner cannot tell how many there
are, and scanned every open alert instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Insert, Table, bindparam, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()


def insert_rows(
    table: Table,
    columns: Sequence[str],
    constants: Sequence[str] = (),
    *,
    returning: str | None = None,
) -> Insert:
    """PostgreSQL: INSERT into `table` the rows of the JSON document bound as `rows`
    (a list of objects with the keys `columns`), with `constants` bound once by name
    for every row; RETURNING the column `returning` when given. Built once per shape.
    A row stores what the ORM would have stored from the same values."""
    return _built(table, tuple(columns), tuple(constants), returning)


def json_document(table: Table, rows: Sequence[Mapping[str, Any]]) -> str:
    """The `rows` parameter of `insert_rows` for `table`: the rows as one JSON text.
    A JSON column's value goes as its own JSON text, a string in the document:
    PostgreSQL refuses to take apart a document holding an escaped NUL (`\\u0000`)
    anywhere, and a JSON column may hold one (its json type keeps it escaped)."""
    json_columns = _json_columns(table)
    encoded = [
        {name: json.dumps(value) if name in json_columns else value for name, value in row.items()}
        for row in rows
    ]
    return json.dumps(encoded, separators=(",", ":"))


def text_array(values: Sequence[str]) -> str:
    """A PostgreSQL text array's literal, for `CAST(:param AS VARCHAR[])`: every
    element quoted, its backslashes and double quotes escaped."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


@lru_cache(maxsize=16)
def _built(
    table: Table, columns: tuple[str, ...], constants: tuple[str, ...], returning: str | None
) -> Insert:
    source = text(
        "json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS given(v, ordinal)"
    ).bindparams(bindparam("rows"))
    values = [
        *(literal_column(_field(table, name)) for name in columns),
        *(bindparam(name, type_=table.c[name].type) for name in constants),
    ]
    chosen = select(*values).select_from(source).order_by(literal_column("given.ordinal"))
    statement = insert(table).from_select([*columns, *constants], chosen, include_defaults=True)
    return statement.returning(table.c[returning]) if returning else statement


def _field(table: Table, name: str) -> str:
    """One row's field (its text, `->>`: JSON's null is NULL) cast to its column's type;
    a JSON column's field is its JSON text (`json_document`)."""
    return f"CAST(given.v ->> '{name}' AS {table.c[name].type.compile(dialect=_DIALECT)})"


@lru_cache(maxsize=16)
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.c if isinstance(column.type, JSON))
