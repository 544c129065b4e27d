"""The bodies the notices API answers with (webhooks.notices_api), as models.

As in webhooks.api_models: the handlers build plain dicts (from
shared.notices.views), and these models exist so /openapi.json describes each
answer from one typed description; the contract test checks the served
answers against them. Requests are described by the models that validate
them: shared.notices.model.Notice (POST) and shared.notices.updates.NoticeChange
(PATCH).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Moment = Annotated[str, Field(description="ISO 8601 date and time, UTC")]
Source = Annotated[
    Literal["file", "api"],
    Field(description="file: the on-call file is its source; api: made by API or CLI."),
]
SendKind = Annotated[
    Literal["reminder", "correction", "rest", "moved"],
    Field(
        description="reminder: a reminder of a window; correction: an update's message to "
        "those already told; rest: an update's new words for those not yet told; moved: a "
        "reminder of a moved window counted as sent (its people got the correction)."
    ),
]
Counts = Annotated[dict[str, int], Field(description="Deliveries per state.")]


class WindowTimes(BaseModel):
    start: Moment
    end: Moment


class NoticeSummary(BaseModel):
    name: str
    source: Source
    title: str | None
    kind: str | None = Field(description="one-off, cron or rrule")
    channels: list[str]
    reminders: list[str]
    next_window: WindowTimes | None = Field(description="null when every window is over.")
    cancelled_at: Moment | None


class NoticeList(BaseModel):
    notices: list[NoticeSummary]


class ReminderDue(BaseModel):
    reminder: str
    due_at: Moment
    send_id: str | None
    state: str = Field(
        description="The send's state (scheduled, sending, done, missed, cancelled), else "
        "upcoming, or `not sent` (due before the notice existed, or past)."
    )


class UpcomingWindow(BaseModel):
    start: Moment
    end: Moment
    reminders: list[ReminderDue]


class NoticeSendView(BaseModel):
    id: str
    kind: SendKind
    reminder: str
    occurrence: str = Field(description="The window, named by its start in UTC.")
    due_at: Moment
    state: str
    created_at: Moment
    finished_at: Moment | None
    deliveries: Counts


class NoticeView(BaseModel):
    name: str
    source: Source
    created_at: Moment | None
    updated_at: Moment | None
    cancelled_at: Moment | None
    definition: dict[str, Any] = Field(description="The notice, as POST takes it.")
    next_windows: list[UpcomingWindow]
    sends: list[NoticeSendView] = Field(description="Every send so far, oldest first.")


class NoticeUpdated(BaseModel):
    name: str
    corrected: int = Field(ge=0, description="People already told: each gets the correction.")
    rewritten: int = Field(ge=0, description="Messages not yet sent: they go with the new words.")
    moved_reminders: int = Field(ge=0, description="Reminders of a moved window not repeated.")
    new_sends: list[str]
    queued: bool = Field(description="false: the broker was down; beat hands the sends over.")
    notice: NoticeView


class NoticeCancelled(BaseModel):
    name: str
    changed: bool = Field(description="false: it was cancelled already")
    cancelled_at: Moment
    sends_stopped: int = Field(ge=0)
    deliveries_skipped: int = Field(ge=0)


class SendRef(BaseModel):
    id: str
    state: str
    kind: SendKind


class NoticeStatus(BaseModel):
    """The figures of `alert-dispatch notice status`."""

    notice: str
    sends: list[SendRef] = Field(
        description="The sends followed: those going out, else the latest ones."
    )
    total: int = Field(ge=0)
    handed_off: int = Field(ge=0, description="Accepted by Plivo (delivered ones included).")
    delivered: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    remaining: int = Field(ge=0, description="Not yet handed to Plivo.")
    percent_done: float = Field(ge=0, le=100)
    by_state: Counts
    skipped_by_reason: Counts
    eta: Moment | None = Field(description="At the account's rate; null when nothing is left.")
    done: bool = Field(description="Nothing of the followed sends is left to send.")
