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
travels as one string, and PostgreSQL takes it apart (`json_to_record`). Rows
are inserted in the order given (ORDER BY their ordinality), so generated ids
ascend with it.

A list of keys to look up (`= ANY(...)`) goes as a text array's literal written
here with two C-level replaces per key: the planner then matches the keys on an
index, which it does not for keys unpacked from JSON in the statement (it cannot
tell how many there are, and scanned every open alert instead).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert, literal_column, select, text
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
    JSON columns keep nested values as JSON; a JSON null in any column is SQL NULL."""
    return _built(table, tuple(columns), tuple(constants), returning)


def json_document(rows: Sequence[Mapping[str, Any]]) -> str:
    """The `rows` parameter of `insert_rows`: the rows as one JSON text."""
    return json.dumps(rows, separators=(",", ":"))


def text_array(values: Sequence[str]) -> str:
    """A PostgreSQL text array's literal, for `CAST(:param AS VARCHAR[])`: every
    element quoted, its backslashes and double quotes escaped."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


@lru_cache(maxsize=16)
def _built(
    table: Table, columns: tuple[str, ...], constants: tuple[str, ...], returning: str | None
) -> Insert:
    record = ", ".join(f"{name} {table.c[name].type.compile(dialect=_DIALECT)}" for name in columns)
    source = text(
        "json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS given(v, ordinal)"
        f" CROSS JOIN LATERAL json_to_record(given.v) AS item({record})"
    ).bindparams(bindparam("rows"))
    values = [
        *(literal_column(f"item.{name}") for name in columns),
        *(bindparam(name, type_=table.c[name].type) for name in constants),
    ]
    chosen = select(*values).select_from(source).order_by(literal_column("given.ordinal"))
    statement = insert(table).from_select([*columns, *constants], chosen, include_defaults=True)
    return statement.returning(table.c[returning]) if returning else statement
