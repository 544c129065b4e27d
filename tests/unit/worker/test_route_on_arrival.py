"""Routing on arrival: when a receiver routes alerts in their storing transaction, what it
sends after the commit, and what it leaves to the workers."""

from __future__ import annotations

import threading
import time

import pytest

from worker.route_on_arrival import (
    LEAVING_WAIT_S,
    MOST_ALERTS_HERE,
    QUIET_S,
    ArrivalRouter,
    RoutedHere,
    RoutingFailed,
    routes_here,
)


@pytest.mark.parametrize(
    ("count", "routing_here", "storing_elsewhere", "since_last_s", "expected"),
    [
        (1, 0, False, 10.0, True),
        (MOST_ALERTS_HERE, 0, False, QUIET_S, True),
        (MOST_ALERTS_HERE + 1, 0, False, 10.0, False),  # a large body: the workers route it
        (1, 1, False, 10.0, False),  # one request's alerts at a time here
        (1, 0, True, 10.0, False),  # another request is storing alerts
        (1, 0, False, QUIET_S / 2, False),  # a steady stream of posts
    ],
)
def test_on_sqlite_only_a_quiet_idle_process_routes_a_few_alerts_here(
    count, routing_here, storing_elsewhere, since_last_s, expected
):
    assert routes_here(count, routing_here, storing_elsewhere, since_last_s) is expected


@pytest.mark.parametrize(
    ("count", "routing_here", "storing_elsewhere", "since_last_s", "expected"),
    [
        (1, 0, False, 10.0, True),
        (MOST_ALERTS_HERE, 3, True, 0.0, True),  # busy and in a stream: still here
        (MOST_ALERTS_HERE + 1, 0, False, 10.0, False),  # a large body: the workers route it
    ],
)
def test_on_postgresql_every_request_of_a_few_alerts_is_routed_here(
    count, routing_here, storing_elsewhere, since_last_s, expected
):
    routed = routes_here(count, routing_here, storing_elsewhere, since_last_s, one_writer=False)
    assert routed is expected


class Clock:
    """Time as the router reads it: each reservation a second after the last unless told."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.step = 1.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Broker:
    """The broker as the router sees it: every publish, and whether it takes them."""

    def __init__(self, takes: bool = True) -> None:
        self.takes = takes
        self.published: list[tuple[list[int], int | None]] = []

    def __call__(self, alert_ids: list[int], priority: int | None) -> bool:
        self.published.append((alert_ids, priority))
        return self.takes


# The storing transaction: the stand-ins of these tests route without touching it.
TRANSACTION = object()


class FirstPageStub:
    """The first page's claim: its bundle window released when the commit fails."""

    def __init__(self) -> None:
        self.released = False

    def rolled_back(self) -> None:
        self.released = True


def routed_here() -> RoutedHere:
    return RoutedHere(fired=[], first=FirstPageStub())  # type: ignore[arg-type]


def sends_at_once(routed: RoutedHere, leaving) -> None:
    leaving()


def router(**overrides) -> ArrivalRouter:
    parts = {
        "route_in": lambda session, alert_ids: routed_here(),
        "send": sends_at_once,
        "publish": Broker(),
        "clock": Clock(),
    }
    return ArrivalRouter(**{**parts, **overrides})


def test_an_idle_process_reserves_one_request_at_a_time():
    arrival = router()
    assert arrival.reserve(1, storing_elsewhere=False) is True
    assert arrival.reserve(1, storing_elsewhere=False) is False  # the first is in hand
    arrival.abandon(None)
    assert arrival.reserve(MOST_ALERTS_HERE + 1, storing_elsewhere=False) is False
    assert arrival.reserve(1, storing_elsewhere=True) is False
    assert arrival.wait(1)


def test_with_many_writers_posts_in_quick_succession_are_all_routed_here():
    clock = Clock()
    clock.step = QUIET_S / 5  # 250 a second: the stream of an incident
    arrival = router(clock=clock, one_writer=False)
    reserved = [arrival.reserve(1, storing_elsewhere=True) for _ in range(3)]
    assert reserved == [True] * 3
    assert arrival.reserve(MOST_ALERTS_HERE + 1, storing_elsewhere=False) is False
    for _ in reserved:
        arrival.abandon(None)
    assert arrival.wait(1)


def test_posts_in_quick_succession_are_left_to_the_workers_after_the_first():
    clock = Clock()
    arrival = router(clock=clock)
    assert arrival.reserve(1, storing_elsewhere=False)
    arrival.abandon(None)
    clock.step = QUIET_S / 5  # 250 a second: the stream of an incident
    assert [arrival.reserve(1, storing_elsewhere=False) for _ in range(3)] == [False] * 3
    clock.step = 1.0  # quiet again
    assert arrival.reserve(1, storing_elsewhere=False)


def test_routed_here_the_page_is_sent_and_nothing_is_published():
    broker = Broker(takes=False)  # even a broker that is down changes nothing
    sent: list[RoutedHere] = []

    def send(routed: RoutedHere, leaving) -> None:
        sent.append(routed)
        leaving()

    arrival = router(send=send, publish=broker)
    assert arrival.reserve(1, storing_elsewhere=False)
    routed = arrival.route_in(TRANSACTION, [7])
    assert routed is not None
    assert arrival.hand_over([7], 0, routed) is True  # in hand: routed and committed
    assert arrival.wait(5)
    assert sent == [routed]
    assert broker.published == []


def test_the_answer_waits_for_the_first_page_to_leave_and_not_for_plivo():
    order: list[str] = []
    plivo_answers = threading.Event()

    def send(routed: RoutedHere, leaving) -> None:
        leaving()
        plivo_answers.wait(5)
        order.append("Plivo's answer recorded")

    arrival = router(send=send)
    assert arrival.reserve(1, storing_elsewhere=False)
    arrival.hand_over([8], 0, routed_here())
    order.append("answered")
    plivo_answers.set()
    assert arrival.wait(5)
    assert order == ["answered", "Plivo's answer recorded"]


def test_a_slow_send_holds_the_answer_no_longer_than_the_leaving_wait():
    release = threading.Event()
    arrival = router(send=lambda routed, leaving: release.wait(5))
    assert arrival.reserve(1, storing_elsewhere=False)
    started = time.monotonic()
    assert arrival.hand_over([12], 0, routed_here()) is True
    assert LEAVING_WAIT_S <= time.monotonic() - started < LEAVING_WAIT_S + 2
    assert arrival.wait(0.1) is False  # still sending
    release.set()
    assert arrival.wait(5)


def test_routing_that_fails_says_so_and_leaves_the_alerts_to_the_workers(caplog):
    def broken(session, alert_ids):
        raise RuntimeError("no route table")

    broker = Broker()
    arrival = router(route_in=broken, publish=broker)
    assert arrival.reserve(2, storing_elsewhere=False)
    with pytest.raises(RoutingFailed):  # the caller rolls back and stores them again
        arrival.route_in(TRANSACTION, [9, 10])
    assert "alerts [9, 10]: routing on arrival failed" in caplog.text
    assert arrival.hand_over([9, 10], 3, None) is True  # the broker took the task
    assert broker.published == [([9, 10], 3)]
    assert arrival.wait(1)
    assert arrival.reserve(1, storing_elsewhere=False)  # usable again


def test_a_failing_send_is_logged_and_the_router_stays_usable(caplog):
    def broken_send(routed, leaving):
        raise RuntimeError("Redis went away")

    arrival = router(send=broken_send)
    assert arrival.reserve(1, storing_elsewhere=False)
    assert arrival.hand_over([11], 0, routed_here()) is True
    assert arrival.wait(5)
    assert "sending failed; the hand-over of sends takes it" in caplog.text
    assert arrival.reserve(1, storing_elsewhere=False)


def test_a_storing_transaction_that_failed_releases_the_first_pages_window():
    arrival = router()
    assert arrival.reserve(1, storing_elsewhere=False)
    routed = arrival.route_in(TRANSACTION, [13])
    assert routed is not None
    arrival.abandon(routed)  # the commit failed: nothing was stored, nobody paged
    assert routed.first.released  # type: ignore[union-attr]
    assert arrival.wait(1)
