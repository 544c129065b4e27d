"""Subscriber lists from CSV: every number checked as E.164, each kept once.

A list of thousands exported from some other system always has a few bad
rows; refusing the whole list for them would tell nobody, so each bad row is
reported with its line and the rest are kept. The file is either one number
a line, or a table whose header names the column (`phone`, `number`,
`mobile` or `msisdn`). Blank lines and lines starting with `#` are skipped.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from shared.core.phone import InvalidPhoneNumber, normalize_e164

NUMBER_COLUMNS = ("phone", "number", "mobile", "msisdn")


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int  # 1-based, as an editor shows it
    text: str
    reason: str

    def __str__(self) -> str:
        return f'line {self.line}: bad phone number "{self.text}": {self.reason}'


@dataclass(frozen=True, slots=True)
class SubscriberCsv:
    numbers: tuple[str, ...]  # E.164, each once, in file order
    bad: tuple[BadRow, ...]
    duplicates: int


def _number_column(header: list[str]) -> int | None:
    names = [cell.strip().lower() for cell in header]
    return next((names.index(name) for name in NUMBER_COLUMNS if name in names), None)


def parse_subscriber_csv(text: str) -> SubscriberCsv:
    """The valid numbers in a CSV text, the bad rows with their lines, the duplicates dropped."""
    reader = csv.reader(io.StringIO(text))
    numbers: dict[str, None] = {}
    bad: list[BadRow] = []
    duplicates = 0
    column: int | None = None
    for row in reader:
        line = reader.line_num
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if column is None:
            column = _number_column(row)
            if column is not None:
                continue  # the header
            column = 0
        raw = row[column].strip() if column < len(row) else ""
        try:
            number = normalize_e164(raw)
        except InvalidPhoneNumber as exc:
            bad.append(BadRow(line, raw, str(exc)))
            continue
        if number in numbers:
            duplicates += 1
        numbers[number] = None
    return SubscriberCsv(tuple(numbers), tuple(bad), duplicates)
