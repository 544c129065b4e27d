"""A change to a notice made by API or CLI: a longer or moved window, new words.

`NoticeChange` is the request (`PATCH /api/v1/notices/{name}`, `notice update`);
`changed_definition` applies it to the notice in force and gives the new
definition, which is then checked like a new one
(shared.notices.definitions.check_definition): a change that would make the
notice invalid is refused whole, and nothing stored changes. Pure.

A change keeps the audience, channels, reminders and recurrence: a notice
about other people or on other days is another notice (cancel this one and
create it). A recurring series' `start` is its first possible window, so it
cannot move one window; its duration and words may change.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.notices.definitions import DefinitionError, Problem, to_definition
from shared.notices.model import LocalTime, Notice, PositiveSeconds, TemplateText


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowChange(_Change):
    start: LocalTime | None = Field(
        default=None, description="New local start, in the window's time zone (one-off only)."
    )
    duration: PositiveSeconds | None = Field(
        default=None, description="New length: seconds, or 30m, 2h, 1h30m."
    )


class TemplatesChange(_Change):
    sms: TemplateText | None = None
    voice: TemplateText | None = None


class NoticeChange(_Change):
    """What to change; every field is optional, at least one is given."""

    extend: PositiveSeconds | None = Field(
        default=None, description="Make the window this much longer (30m, 1h): a later end."
    )
    window: WindowChange | None = None
    title: Annotated[str, Field(min_length=1)] | None = None
    impact: Annotated[str, Field(min_length=1)] | None = None
    link: Annotated[str, Field(min_length=1)] | None = None
    templates: TemplatesChange | None = None

    @model_validator(mode="after")
    def _something(self) -> NoticeChange:
        if not any(value != {} for value in self.model_dump(exclude_none=True).values()):
            raise ValueError(
                "nothing to change: give extend, window, title, impact, link or templates"
            )
        if self.extend is not None and self.window is not None and self.window.duration:
            raise ValueError("give `extend` or `window.duration`, not both")
        return self


def changed_definition(notice: Notice, change: NoticeChange) -> dict[str, Any]:
    """The definition with the change applied (not yet checked as a whole)."""
    data = to_definition(notice)
    window = data["window"]
    if change.window is not None:
        if change.window.start is not None:
            if notice.window.recurring:
                raise DefinitionError(
                    [
                        Problem(
                            "window.start",
                            f"the windows of a {notice.window.kind} series follow its rule; "
                            "change the duration or the words, or cancel it and create another",
                        )
                    ]
                )
            window["start"] = change.window.start.isoformat()
        if change.window.duration is not None:
            window["duration"] = change.window.duration
    if change.extend is not None:
        window["duration"] = notice.window.duration + change.extend
    for field in ("title", "impact", "link"):
        value = getattr(change, field)
        if value is not None:
            data[field] = value
    if change.templates is not None:
        texts = change.templates.model_dump(exclude_none=True)
        data["templates"] = {**data.get("templates", {}), **texts}
    return data
