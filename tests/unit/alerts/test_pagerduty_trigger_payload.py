"""A PagerDuty trigger without a payload is refused in PagerDuty's words, however it was built."""

from __future__ import annotations

import pytest

from shared.alerts.formats import FormatError
from shared.alerts.formats.pagerduty import PagerDutyEvent, error_strings, event_to_alert


def test_a_trigger_built_without_a_payload_is_a_format_error() -> None:
    # model_construct skips the model's own check, as any caller building an event could.
    event = PagerDutyEvent.model_construct(
        routing_key="k", event_action="trigger", dedup_key=None, payload=None
    )
    with pytest.raises(FormatError) as refused:
        event_to_alert(event)
    assert error_strings(refused.value) == ["'payload' is missing or blank (required to trigger)"]
