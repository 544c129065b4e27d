"""Routing on arrival: when a receiver routes an alert itself, and what it always publishes."""

from __future__ import annotations

import threading

import pytest

from worker.route_on_arrival import (
    BACKUP_DELAY_S,
    MOST_ALERTS_HERE,
    QUIET_S,
    ArrivalRouter,
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
def test_only_a_quiet_idle_process_routes_a_few_alerts_here(
    count, routing_here, storing_elsewhere, since_last_s, expected
):
    assert routes_here(count, routing_here, storing_elsewhere, since_last_s) is expected


class Clock:
    """Time as the router reads it: each hand-over a second after the last unless told."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.step = 1.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Recorder:
    """The broker as the router sees it: every publish, and whether it takes them."""

    def __init__(self, takes: bool = True) -> None:
        self.takes = takes
        self.published: list[tuple[list[int], int | None, float | None]] = []

    def __call__(self, alert_ids: list[int], priority: int | None, countdown) -> bool:
        self.published.append((alert_ids, priority, countdown))
        return self.takes


def test_an_idle_process_routes_the_alert_and_publishes_its_backup_for_later():
    routed = []
    broker = Recorder()
    router = ArrivalRouter(route=routed.append, publish=broker, clock=Clock())

    assert router.hand_over([7], 0, storing_elsewhere=False) is True
    assert router.wait(5)
    assert routed == [[7]]
    assert broker.published == [([7], 0, BACKUP_DELAY_S)]


def test_while_one_alert_is_routed_here_the_next_goes_to_the_workers_at_once():
    release = threading.Event()
    routed = []

    def slow_route(alert_ids: list[int]) -> None:
        routed.append(alert_ids)
        release.wait(5)

    broker = Recorder()
    router = ArrivalRouter(route=slow_route, publish=broker, clock=Clock())
    router.hand_over([1, 2], 0, storing_elsewhere=False)
    router.hand_over([3], 3, storing_elsewhere=False)
    assert router.wait(0.2) is False  # the first is still being routed
    release.set()
    assert router.wait(5)
    assert routed == [[1, 2]]
    assert broker.published == [([1, 2], 0, BACKUP_DELAY_S), ([3], 3, None)]


def test_a_process_storing_other_alerts_leaves_routing_to_the_workers():
    routed = []
    broker = Recorder()
    router = ArrivalRouter(route=routed.append, publish=broker, clock=Clock())

    router.hand_over([4], 6, storing_elsewhere=True)
    assert router.wait(5)
    assert routed == []
    assert broker.published == [([4], 6, None)]


def test_routing_that_fails_here_is_left_to_the_backup_and_the_router_stays_usable(caplog):
    def broken_route(alert_ids: list[int]) -> None:
        raise RuntimeError("database went away")

    broker = Recorder()
    router = ArrivalRouter(route=broken_route, publish=broker, clock=Clock())
    router.hand_over([9], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert "alerts [9]: routing on arrival failed" in caplog.text
    assert broker.published == [([9], 0, BACKUP_DELAY_S)]
    routed_after = []
    router._route = routed_after.append  # the next idle alert is routed here again
    router.hand_over([10], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert routed_after == [[10]]


def test_the_answer_says_whether_the_broker_took_the_hand_over():
    routed = []
    router = ArrivalRouter(route=routed.append, publish=Recorder(takes=False), clock=Clock())
    assert router.hand_over([5], 0, storing_elsewhere=False) is False  # queued: false
    assert router.hand_over([6], 0, storing_elsewhere=True) is False
    assert router.wait(5)


def test_posts_in_quick_succession_are_left_to_the_workers_after_the_first():
    routed = []
    broker = Recorder()
    clock = Clock()
    router = ArrivalRouter(route=routed.append, publish=broker, clock=clock)
    router.hand_over([1], 0, storing_elsewhere=False)
    assert router.wait(5)
    clock.step = QUIET_S / 5  # 250 a second: the stream of an incident
    for alert_id in (2, 3, 4):
        router.hand_over([alert_id], 0, storing_elsewhere=False)
    clock.step = 1.0  # quiet again
    router.hand_over([5], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert routed == [[1], [5]]
    assert [countdown for _, _, countdown in broker.published] == [
        BACKUP_DELAY_S,
        None,
        None,
        None,
        BACKUP_DELAY_S,
    ]
