"""Numbers and list names given to the subscriber-list CLI and API, checked. Pure.

Every number must be a valid international number for its country (checked
with phonenumbers, stored as E.164) and is kept once; a list name is what a
notice's audience can name in the on-call file. CSV files are read by
shared.notices.subscribers (bad rows reported with their line, the rest kept).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.core.phone import InvalidPhoneNumber, normalize_e164

LIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LIST_NAME_RULE = "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"


class ListNameError(ValueError):
    """A name no list may have; the message says which names are allowed."""


def checked_list_name(name: str) -> str:
    if LIST_NAME.fullmatch(name) is None:
        raise ListNameError(f'"{name}" is not a list name: {LIST_NAME_RULE}')
    return name


@dataclass(frozen=True, slots=True)
class BadNumber:
    index: int  # 0-based position among the numbers given
    text: str
    reason: str

    def __str__(self) -> str:
        return f'bad phone number "{self.text}": {self.reason}'


@dataclass(frozen=True, slots=True)
class CheckedNumbers:
    numbers: tuple[str, ...]  # E.164, each once, in the order given
    bad: tuple[BadNumber, ...]
    duplicates: int


def checked_numbers(values: Sequence[str]) -> CheckedNumbers:
    """The valid numbers of `values` in E.164, each once; every bad one with its position."""
    numbers: dict[str, None] = {}
    bad: list[BadNumber] = []
    duplicates = 0
    for index, value in enumerate(values):
        try:
            number = normalize_e164(value)
        except InvalidPhoneNumber as exc:
            bad.append(BadNumber(index, value, str(exc)))
            continue
        if number in numbers:
            duplicates += 1
        numbers[number] = None
    return CheckedNumbers(tuple(numbers), tuple(bad), duplicates)
