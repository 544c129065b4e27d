"""Pages fired together: one lead per person and channel, the most urgent first."""

from __future__ import annotations

from shared.escalation.engine import Planned
from worker.escalation_runner import Page, followers_by_person, split_leads

ANA, BO = "+14155550101", "+14155550102"


def page(nid: int, channel: str, number: str, priority: int) -> Page:
    return Page(Planned(nid, channel, number), priority)


def test_one_lead_per_person_and_channel_the_rest_ride_with_it() -> None:
    pages = [
        page(1, "sms", ANA, 6),
        page(2, "sms", ANA, 0),
        page(3, "voice", ANA, 6),
        page(4, "sms", BO, 3),
        page(5, "sms", ANA, 3),
    ]
    leads, followers = split_leads(pages)
    assert [p.planned.notification_id for p in leads] == [2, 4, 3]
    assert sorted(p.planned.notification_id for p in followers) == [1, 5]


def test_pages_to_different_people_are_all_leads() -> None:
    leads, followers = split_leads([page(1, "sms", ANA, 0), page(2, "sms", BO, 0)])
    assert [p.planned.notification_id for p in leads] == [1, 2] and followers == []


def test_nothing_planned_is_nothing_to_send() -> None:
    assert split_leads([]) == ([], [])


def test_followers_are_grouped_by_person_and_channel_most_urgent_first() -> None:
    followers = [page(5, "sms", ANA, 0), page(6, "sms", BO, 3), page(7, "sms", ANA, 6)]
    followers.append(page(8, "voice", ANA, 6))
    groups = followers_by_person(followers)
    assert {key: [p.planned.notification_id for p in group] for key, group in groups.items()} == {
        (ANA, "sms"): [5, 7],
        (BO, "sms"): [6],
        (ANA, "voice"): [8],
    }
