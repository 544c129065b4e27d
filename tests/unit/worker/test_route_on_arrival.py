"""Routing on arrival: when a receiver routes an alert itself, and what it always publishes."""

from __future__ import annotations

import threading
import time

import pytest

from worker.route_on_arrival import (
    BACKUP_DELAY_S,
    LEAVING_WAIT_S,
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


class Routes:
    """Routing as the router runs it: the alerts routed, each page's request leaving at once."""

    def __init__(self) -> None:
        self.routed: list[list[int]] = []

    def __call__(self, alert_ids: list[int], leaving) -> None:
        self.routed.append(alert_ids)
        leaving()


def test_an_idle_process_routes_the_alert_and_publishes_nothing_once_its_page_left():
    routes = Routes()
    broker = Recorder()
    router = ArrivalRouter(route=routes, publish=broker, clock=Clock())

    assert router.hand_over([7], 0, storing_elsewhere=False) is True  # in hand
    assert router.wait(5)
    assert routes.routed == [[7]]
    assert broker.published == []  # routed and committed before its page left


def test_the_answer_waits_for_the_first_page_to_leave_and_not_for_plivo():
    order: list[str] = []
    plivo_answers = threading.Event()

    def route(alert_ids: list[int], leaving) -> None:
        order.append("routed and committed")
        leaving()
        plivo_answers.wait(5)
        order.append("Plivo's answer recorded")

    router = ArrivalRouter(route=route, publish=Recorder(), clock=Clock())
    assert router.hand_over([8], 0, storing_elsewhere=False) is True
    order.append("answered")
    plivo_answers.set()
    assert router.wait(5)
    assert order == ["routed and committed", "answered", "Plivo's answer recorded"]


def test_a_routing_that_sends_nothing_here_is_backed_up_once_it_ends():
    """Held, delayed or failed before any request: the backup follows the routing's end."""
    order: list[str] = []

    def route(alert_ids: list[int], leaving) -> None:
        order.append("routed, page held")

    def publish(alert_ids, priority, countdown) -> bool:
        order.append(f"backup published to run in {countdown} s")
        return True

    router = ArrivalRouter(route=route, publish=publish, clock=Clock())
    assert router.hand_over([11], 0, storing_elsewhere=False) is True
    assert order == ["routed, page held", f"backup published to run in {BACKUP_DELAY_S} s"]


def test_a_slow_routing_holds_the_answer_no_longer_than_the_leaving_wait():
    release = threading.Event()
    broker = Recorder()
    router = ArrivalRouter(
        route=lambda alert_ids, leaving: release.wait(5), publish=broker, clock=Clock()
    )
    started = time.monotonic()
    assert router.hand_over([12], 0, storing_elsewhere=False) is True
    waited = time.monotonic() - started
    assert broker.published == [([12], 0, BACKUP_DELAY_S)]
    assert LEAVING_WAIT_S <= waited < LEAVING_WAIT_S + 2
    release.set()
    assert router.wait(5)


def test_while_one_alert_is_routed_here_the_next_goes_to_the_workers_at_once():
    release = threading.Event()
    routed = []

    def slow_route(alert_ids: list[int], leaving) -> None:
        routed.append(alert_ids)
        leaving()  # the page left; Plivo's answer is slow
        release.wait(5)

    broker = Recorder()
    router = ArrivalRouter(route=slow_route, publish=broker, clock=Clock())
    router.hand_over([1, 2], 0, storing_elsewhere=False)
    router.hand_over([3], 3, storing_elsewhere=False)
    assert router.wait(0.2) is False  # the first is still being routed
    release.set()
    assert router.wait(5)
    assert routed == [[1, 2]]
    assert broker.published == [([3], 3, None)]


def test_a_process_storing_other_alerts_leaves_routing_to_the_workers():
    routes = Routes()
    broker = Recorder()
    router = ArrivalRouter(route=routes, publish=broker, clock=Clock())

    router.hand_over([4], 6, storing_elsewhere=True)
    assert router.wait(5)
    assert routes.routed == []
    assert broker.published == [([4], 6, None)]


def test_routing_that_fails_here_is_left_to_the_backup_and_the_router_stays_usable(caplog):
    def broken_route(alert_ids: list[int], leaving) -> None:
        raise RuntimeError("database went away")

    broker = Recorder()
    router = ArrivalRouter(route=broken_route, publish=broker, clock=Clock())
    router.hand_over([9], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert "alerts [9]: routing on arrival failed" in caplog.text
    assert broker.published == [([9], 0, BACKUP_DELAY_S)]
    routes_after = Routes()
    router._route = routes_after  # the next idle alert is routed here again
    router.hand_over([10], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert routes_after.routed == [[10]]


def test_the_answer_says_whether_the_alerts_are_in_hand():
    """Routed here with the page gone: in hand whatever the broker does. Otherwise
    only if the broker took the task (`queued: false` tells the producer it did not)."""
    refusing = Recorder(takes=False)
    router = ArrivalRouter(route=Routes(), publish=refusing, clock=Clock())
    assert router.hand_over([5], 0, storing_elsewhere=False) is True
    assert router.hand_over([6], 0, storing_elsewhere=True) is False
    router._route = lambda alert_ids, leaving: None  # routed, its page held
    assert router.hand_over([7], 0, storing_elsewhere=False) is False
    assert router.wait(5)
    assert [alert_ids for alert_ids, _, _ in refusing.published] == [[6], [7]]


def test_posts_in_quick_succession_are_left_to_the_workers_after_the_first():
    routes = Routes()
    broker = Recorder()
    clock = Clock()
    router = ArrivalRouter(route=routes, publish=broker, clock=clock)
    router.hand_over([1], 0, storing_elsewhere=False)
    assert router.wait(5)
    clock.step = QUIET_S / 5  # 250 a second: the stream of an incident
    for alert_id in (2, 3, 4):
        router.hand_over([alert_id], 0, storing_elsewhere=False)
    clock.step = 1.0  # quiet again
    router.hand_over([5], 0, storing_elsewhere=False)
    assert router.wait(5)
    assert routes.routed == [[1], [5]]
    assert broker.published == [([2], 0, None), ([3], 0, None), ([4], 0, None)]
