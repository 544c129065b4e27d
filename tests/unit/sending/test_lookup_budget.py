"""The look-ups' share of Plivo's API requests (PLIVO_LOOKUPS_PER_5S)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.core.settings import Settings
from shared.sending.gcra import max_in_window
from shared.sending.limits import SendLimits

PLIVO_API_REQUESTS_PER_5S = 300  # ../reference: 300 requests per 5 s per account


def limits(monkeypatch: pytest.MonkeyPatch, **env: str) -> SendLimits:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return SendLimits.from_settings(Settings(_env_file=None))


@pytest.mark.parametrize("per_5s", [1, 10, 150, 300])
def test_look_ups_never_exceed_their_share_in_any_5_s(
    monkeypatch: pytest.MonkeyPatch, per_5s: int
) -> None:
    limit = limits(monkeypatch, PLIVO_LOOKUPS_PER_5S=str(per_5s)).account_lookups
    assert max_in_window(limit, 5.0) >= int(0.9 * per_5s)  # used, but for its headroom
    # Look-ups leaving up to half a second after their slots still put no more than
    # the share in any 5 s window at Plivo: as if exactly paced over 5.5 s.
    assert max_in_window(limit, 5.5) <= per_5s


def test_by_default_look_ups_and_sends_together_stay_under_plivos_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = limits(monkeypatch)
    together = sum(
        max_in_window(limit, 5.0)
        for limit in (defaults.account_lookups, defaults.account_sms, defaults.account_calls)
    )
    assert together <= PLIVO_API_REQUESTS_PER_5S


@pytest.mark.parametrize("bad", ["0", "301", "many"])
def test_a_share_plivo_cannot_give_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    with pytest.raises(ValidationError, match="PLIVO_LOOKUPS_PER_5S"):
        limits(monkeypatch, PLIVO_LOOKUPS_PER_5S=bad)


def test_each_account_has_its_own_look_up_pace() -> None:
    limits = SendLimits.from_settings(Settings(_env_file=None))
    [(primary, _)] = limits.lookup_checks("MAPRIMARY")
    [(backup, _)] = limits.lookup_checks("MABACKUP")
    assert primary != backup
