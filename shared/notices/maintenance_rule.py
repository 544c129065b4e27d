"""Maintenance mode's shape in the on-call file: which alerts a notice's window holds back
or downgrades (`maintenance:` under a notice).

Like an Alertmanager silence, a rule names label matchers: every `name: value`
(or `name: ~regex`, matched whole) must hold. `severity` and `source` match the
alert's own fields when the alert has no label of that name, so `severity:
~(warning|info)` keeps critical alerts out of a rule. What the rule does while
the window runs is decided in shared.alerts.maintenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.routing.config_fields import ValueMatcher, value_matches


class MaintenanceAction(StrEnum):
    HOLD = "hold"  # stored and shown, paged when the window ends if still open
    DOWNGRADE = "downgrade"  # paged at once, one severity lower


class MatchableAlert(Protocol):
    """What a rule reads of an alert (an incoming one or a stored row)."""

    @property
    def severity(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


# Alert fields a matcher may name when the alert has no label of that name.
ALERT_FIELDS = ("severity", "source")


def _some_matcher(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("name at least one label: an empty match would hold every alert")
    return value


class MaintenanceRule(BaseModel):
    """`maintenance: {match: {service: db, env: prod}, action: hold}` under a notice."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    match: Annotated[
        dict[str, ValueMatcher],
        AfterValidator(_some_matcher),
        Field(json_schema_extra={"minProperties": 1}),
    ]
    action: MaintenanceAction

    def matches(self, alert: MatchableAlert) -> bool:
        labels = alert.labels or {}
        for name, pattern in self.match.items():
            value: object = labels.get(name)
            if value is None and name in ALERT_FIELDS:
                value = str(getattr(alert, name))
            if not value_matches(pattern, value):
                return False
        return True
