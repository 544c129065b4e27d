"""The bodies of /api/v1/subscriber-lists, read and answered, as models.

The requests are validated by these very models (every number an
international number, named `numbers.N` when it is not); the answers are
built as dicts by `webhooks.subscribers_api` and described here for
/openapi.json, which the contract test checks the served receiver against.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.alerts.schemas import PhoneNumber

MAX_NUMBERS = 10_000  # per request: a bigger list goes in several

ListName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64),
    Field(description="What a notice's audience names under `lists`."),
]
Numbers = Annotated[
    list[PhoneNumber],
    Field(max_length=MAX_NUMBERS, description="Each kept once; stored as E.164."),
]


class SubscriberListIn(BaseModel):
    """A new stored list, with its first numbers if any."""

    model_config = ConfigDict(extra="forbid")

    name: ListName
    numbers: Numbers = Field(default_factory=list)


class NumbersIn(BaseModel):
    """Numbers to add to a list or take off it: one invalid number and nothing changes."""

    model_config = ConfigDict(extra="forbid")

    numbers: Annotated[Numbers, Field(min_length=1)]


class SubscriberListSummary(BaseModel):
    name: str
    stored: int | None = Field(description="Numbers stored here; null: no stored list.")
    in_file: int | None = Field(description="Numbers in the on-call file; null: not there.")


class SubscriberLists(BaseModel):
    lists: list[SubscriberListSummary]


class SubscriberListView(BaseModel):
    name: str
    numbers: list[str] = Field(description="Every number a notice to this list reaches.")
    stored: list[str] | None = Field(description="Those stored here; null: no stored list.")
    in_file: list[str] | None = Field(description="Those of the on-call file; null: none.")


class NumbersAdded(BaseModel):
    name: str
    added: int = Field(ge=0)
    already: int = Field(ge=0, description="Were on the list before.")
    total: int = Field(ge=0, description="Numbers stored on the list now.")


class NumbersRemoved(BaseModel):
    name: str
    removed: int = Field(ge=0)
    missing: int = Field(ge=0, description="Were not on the list.")
    total: int = Field(ge=0)


class ListDeleted(BaseModel):
    name: str
    removed_numbers: int = Field(ge=0)
