from shared.notifications.state import (
    TERMINAL,
    sources_for,
    state_for_sms_status,
)
from shared.notifications.state import (
    NotificationState as S,
)


def test_terminal_states_never_move():
    for state in TERMINAL:
        for target in S:
            assert state not in sources_for(target)


def test_a_report_cannot_move_a_delivered_message_back_to_sent():
    assert S.SENT in sources_for(S.DELIVERED)
    assert S.DELIVERED not in sources_for(S.SENT)
    assert S.SENT not in sources_for(S.QUEUED)


def test_only_pending_can_be_claimed_for_sending():
    assert sources_for(S.SENDING) == {S.PENDING}


def test_ambiguous_send_is_never_claimed_again_directly():
    # An UNKNOWN send must be reconciled (back to PENDING) before any resend.
    assert S.UNKNOWN not in sources_for(S.SENDING)
    assert S.UNKNOWN in sources_for(S.PENDING)
    assert S.UNKNOWN in sources_for(S.DELIVERED)


def test_plivo_statuses_map_case_insensitively():
    assert state_for_sms_status("Delivered") is S.DELIVERED
    assert state_for_sms_status("rejected") is S.FAILED
    assert state_for_sms_status("bogus") is None
