"""The shape of the on-call file: contacts, teams, on-call schedules (their shape is in
shared.schedules.model), escalation policies, routes, and the maintenance notices with
their subscriber lists (their shape is in shared.notices.model).

The models also answer the questions asked of a loaded configuration: which
policy an alert follows, whom a step pages, who sent an inbound SMS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from shared.alerts.schemas import Severity
from shared.core.phone import InvalidPhoneNumber, normalize_e164
from shared.notices.model import Notice, SubscriberList
from shared.routing.config_fields import (
    DeclaredNames,
    MemberName,
    Phone,
    PolicyName,
    ScheduleName,
    Seconds,
    TargetName,
    TeamName,
    ValueMatcher,
    _duration,
    non_empty,
    one_or_many,
    unique,
    value_matches,
)
from shared.routing.step_kinds import (
    BridgeFlag,
    PhloAction,
    WebhookAction,
    bridge_problem,
    missing_step_keys,
)
from shared.schedules.model import Schedule, TimeOfDay, _zone
from shared.schedules.overrides import Override
from shared.schedules.resolve import on_call


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"


Channels = Annotated[tuple[Channel, ...], AfterValidator(non_empty), AfterValidator(unique)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# An IANA zone, refused with the schedules' wording when unknown.
TimeZone = Annotated[str, AfterValidator(_zone)]


class QuietHours(_Model):
    """Local wall-clock hours in which a person is not woken for less than a critical
    alert (shared.escalation.quiet_hours). `to` before `from` runs past midnight.

    The times and zone are read as the schedules' are, so one file has one way to
    write a time; dumped with the file's names, so a frozen chain reads back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    start: TimeOfDay = Field(alias="from")
    end: TimeOfDay = Field(alias="to")
    time_zone: TimeZone

    @model_validator(mode="after")
    def _covers_something(self) -> Self:
        if self.start == self.end:
            raise ValueError('"from" and "to" are the same time: quiet hours would cover nothing')
        return self


class Contact(_Model):
    """A person: where to reach them and on which channels they agreed to be reached."""

    name: str
    phone: Phone
    channels: Channels = (Channel.SMS, Channel.VOICE)
    quiet_hours: QuietHours | None = None
    # True: page at any hour; quiet hours, if also given, never hold a page back.
    quiet_hours_off: bool = False

    def accepts(self, channel: Channel) -> bool:
        return channel in self.channels


class Team(_Model):
    name: TeamName
    members: Annotated[tuple[MemberName, ...], AfterValidator(non_empty), AfterValidator(unique)]


class Recall(_Model):
    """Calling an unanswered phone again before escalating: people miss the first ring."""

    attempts: int = Field(ge=1)  # calls after the first one
    interval: Seconds


class Step(_Model):
    """People to page (`targets` on `channels`), a PHLO to run, a webhook to post to, or a
    mix of them (shared.routing.step_kinds); then `wait` before the next step. `bridge`:
    the step's answered calls join the alert's incident bridge instead of the menu."""

    targets: Annotated[tuple[TargetName, ...], AfterValidator(non_empty)] = ()
    channels: Channels = ()
    wait: Seconds  # before the next step; required, as a silent default would set the pace
    recall: Recall | None = None  # overrides the policy's for this step
    phlo: PhloAction | None = None
    webhook: WebhookAction | None = None
    # Answered voice calls of this step join the alert's incident bridge at once.
    bridge: BridgeFlag = False

    @field_validator("bridge")
    @classmethod
    def _bridge_needs_voice_calls(cls, value: bool, info: ValidationInfo) -> bool:
        problem = bridge_problem(value, info.data)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _required_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Step]) -> Step:
        """`targets` and `channels` are required unless the step runs a PHLO or posts to a
        webhook: reported at their own paths, beside every other problem of the step."""
        missing = [
            InitErrorDetails(type="missing", loc=(key,), input=data)
            for key in missing_step_keys(data)
        ]
        try:
            step = handler(data)
        except ValidationError as exc:
            errors = [*missing, *exc.errors()]
            raise ValidationError.from_exception_data(exc.title, errors) from None
        if missing:
            raise ValidationError.from_exception_data(cls.__name__, missing)
        return step

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A frozen step reads back as it was written: no `targets: []` (refused as
        empty) when it pages nobody, no PHLO or webhook keys when it has none."""
        data = handler(self)
        return {key: value for key, value in data.items() if value or key not in _OPTIONAL}


_OPTIONAL = ("targets", "channels", "phlo", "webhook", "bridge")


def _positive(seconds: int) -> int:
    if seconds <= 0:
        raise ValueError("must be a duration longer than 0, like 30m")
    return seconds


# Read as a step's `wait` is ("30m", "1h30m", seconds), but 0 would re-page at once.
PositiveSeconds = Annotated[int, BeforeValidator(_duration), AfterValidator(_positive)]


class Policy(_Model):
    name: str
    steps: Annotated[tuple[Step, ...], AfterValidator(non_empty)]
    repeat: int = Field(default=0, ge=0)  # extra runs of the whole chain
    recall: Recall | None = None
    # An acknowledgement not followed by a resolve within this time puts the alert
    # back into escalation from the first step (shared.escalation.ack_timeout):
    # acknowledged is not forgotten. None: an acknowledgement stops paging for good.
    ack_timeout: PositiveSeconds | None = None

    def recall_for(self, step: int) -> Recall | None:
        return self.steps[step].recall or self.recall


class RoutableAlert(Protocol):
    """What routing reads: satisfied by shared.alerts.schemas.AlertIn and by
    shared.core.models.Alert."""

    @property
    def severity(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


class Match(_Model):
    """All given conditions must hold; an empty match catches every alert."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    labels: dict[str, ValueMatcher] = Field(default_factory=dict)
    severity: Annotated[tuple[Severity, ...], BeforeValidator(one_or_many)] = ()
    source: Annotated[tuple[ValueMatcher, ...], BeforeValidator(one_or_many)] = ()

    @property
    def catches_all(self) -> bool:
        return not (self.labels or self.severity or self.source)

    def matches(self, alert: RoutableAlert) -> bool:
        if self.severity and str(alert.severity) not in self.severity:
            return False
        if self.source and not any(value_matches(p, alert.source) for p in self.source):
            return False
        labels = alert.labels or {}
        return all(value_matches(pattern, labels.get(key)) for key, pattern in self.labels.items())


class Route(_Model):
    match: Match = Field(default_factory=Match)
    policy: PolicyName


class OncallConfig(_Model):
    """The whole file. Built with references checked, however it is constructed."""

    contacts: dict[str, Contact] = Field(default_factory=dict)
    teams: dict[str, Team] = Field(default_factory=dict)
    schedules: dict[ScheduleName, Schedule] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    default_policy: PolicyName
    subscriber_lists: dict[str, SubscriberList] = Field(default_factory=dict)
    notices: dict[str, Notice] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        self.__pydantic_validator__.validate_python(
            data, self_instance=self, context=DeclaredNames.declared_in(data)
        )

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Supply the declared names as context, so references are always checked."""
        if kwargs.get("context") is None:
            kwargs["context"] = DeclaredNames.declared_in(obj)
        return super().model_validate(obj, **kwargs)

    @field_validator(
        "contacts", "teams", "schedules", "policies", "subscriber_lists", "notices", mode="before"
    )
    @classmethod
    def _name_from_key(cls, value: Any) -> Any:
        """The mapping key is the name; copying it in lets a Contact say who it is."""
        if not isinstance(value, Mapping):
            return value
        return {
            key: {**item, "name": key} if isinstance(item, Mapping) else item
            for key, item in value.items()
        }

    def expand_targets(
        self,
        step: Step,
        at: datetime | None = None,
        overrides: Sequence[Override] = (),
    ) -> list[Contact]:
        """The people a step pages: teams replaced by their members, a schedule by
        whoever is on call at `at` (with `overrides`), each person once, in order.

        Without `at` a schedule stands for nobody: only firing a step knows the moment.
        """
        people: dict[str, Contact] = {}
        for target in step.targets:
            for name in self.people_of(target, at, overrides):
                if name in self.contacts:  # an override naming someone since removed: nobody
                    people.setdefault(name, self.contacts[name])
        return list(people.values())

    def people_of(
        self, target: str, at: datetime | None, overrides: Sequence[Override] = ()
    ) -> tuple[str, ...]:
        """The contact names a step target stands for at `at`."""
        schedule = self.schedules.get(target)
        if schedule is None:
            return self.members_of(target)
        return on_call(schedule, at, overrides) if at is not None else ()

    def members_of(self, target: str) -> tuple[str, ...]:
        """The contact names a step target stands for: a team's members, or the contact."""
        return self.teams[target].members if target in self.teams else (target,)

    def schedule_named(self, name: str) -> Schedule | None:
        """The schedule a step target names; None when the target is a contact or team."""
        return self.schedules.get(name)

    def route(self, alert: RoutableAlert) -> tuple[str, Policy]:
        """The policy for an alert: the first matching route wins, else `default_policy`."""
        name = next(
            (route.policy for route in self.routes if route.match.matches(alert)),
            self.default_policy,
        )
        return name, self.policies[name]

    def contact_for_phone(self, number: str) -> Contact | None:
        """Who sent an inbound SMS; None for a number not in the rota."""
        try:
            wanted = normalize_e164(number)
        except InvalidPhoneNumber:
            return None
        return next((c for c in self.contacts.values() if c.phone == wanted), None)
