"""The bodies of /api/v1/oncall and /api/v1/schedules/{schedule}/overrides, as models.

The override a client posts is validated by `OverrideIn` itself; what the
on-call file decides (the schedule, the people, the order of the times) is
checked by shared.schedules.override_store and refused with 422 naming the
field. The answers are built as dicts (override_store.oncall_view,
override_view) and described here for /openapi.json, which the contract test
checks the served receiver against.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.alerts.schemas import require_visible

MAX_NEXT = 50  # hand-offs in one answer

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TypedTime = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(
        description="ISO 8601 with an offset (2027-01-08T18:00+01:00), or without one "
        '("2027-01-08 18:00") a wall time in the schedule\'s time zone.'
    ),
]
Local = Annotated[str, Field(description="ISO 8601, in the schedule's time zone with its offset")]
Utc = Annotated[str, Field(description="ISO 8601, UTC")]


class OverrideIn(BaseModel):
    """Someone covers a schedule from `start` to `end`: instead of whoever the rotation
    has on call, or with `replaces` only in place of that person."""

    model_config = ConfigDict(extra="forbid")

    covering: Annotated[Name, Field(description="A contact of the on-call file.")]
    replaces: Annotated[
        Name | None, Field(description="A contact in one of the schedule's layers.")
    ] = None
    start: TypedTime
    end: Annotated[TypedTime, Field(description="After `start`; the override ends before it.")]
    by: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(require_visible)
    ] = "api"


class Handoff(BaseModel):
    start: Local
    on_call: list[str] = Field(description="Empty: nobody, a gap in the schedule.")


class OncallView(BaseModel):
    schedule: str
    time_zone: str
    at: Local
    on_call: list[str] = Field(description="Empty: nobody, a gap in the schedule.")
    overrides: list[int] = Field(description="Ids of the overrides in force at `at`.")
    next: list[Handoff] = Field(description="The next hand-offs after `at`, in order.")


class OncallList(BaseModel):
    schedules: list[OncallView]


class OverrideView(BaseModel):
    id: int
    schedule: str
    covering: str
    replaces: str | None = Field(description="null: instead of whoever is on call.")
    start: Utc
    end: Utc
    created_at: Utc
    created_by: str
    removed_at: Utc | None


class OverrideList(BaseModel):
    overrides: list[OverrideView]
