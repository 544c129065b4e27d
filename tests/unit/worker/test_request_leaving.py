"""The signal a receiver routing an alert waits for: its page's request is leaving."""

from __future__ import annotations

import threading

from worker.sending.request_leaving import on_request_leaving, request_leaving


def test_the_callback_is_called_in_its_own_thread_and_only_within_its_block():
    calls: list[str] = []
    with on_request_leaving(lambda: calls.append("left")):
        request_leaving()
        other = threading.Thread(target=request_leaving)  # a worker's send, say
        other.start()
        other.join()
    request_leaving()  # after the block: nobody is told
    assert calls == ["left"]


def test_blocks_nest_and_the_inner_callback_wins_until_it_ends():
    calls: list[str] = []
    with on_request_leaving(lambda: calls.append("outer")):
        with on_request_leaving(lambda: calls.append("inner")):
            request_leaving()
        request_leaving()
    assert calls == ["inner", "outer"]
