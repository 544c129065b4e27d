"""Who the phone line names and puts a caller through to, from the file and the moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.phone_line.on_call_now import dial_target, on_call_now, schedule_order
from shared.routing.oncall_config import parse_config
from shared.schedules.overrides import Override

NOW = datetime(2027, 3, 3, 12, 0, tzinfo=UTC)  # a Wednesday

CONTACTS = """
contacts:
  ann: {phone: "+14155550123"}
  bob: {phone: "+14155550124"}
  cy: {phone: "+14155550125", channels: [sms]}
  dee: {phone: "+14155550126"}
"""


def config(policy_targets: str, schedules: str = ""):
    return parse_config(
        CONTACTS
        + f"""
policies:
  p:
    steps:
      - {{targets: {policy_targets}, channels: [sms, voice], wait: 5m}}
      - {{targets: [dee], channels: [voice], wait: 5m}}
default_policy: p
"""
        + schedules
    )


def weekly(*members: str) -> str:
    return f'{{members: [{", ".join(members)}], shift: 1w, handoff: "00:00", start: 2027-03-01}}'


SCHEDULES = f"""
schedules:
  alpha:
    time_zone: UTC
    layers: [{{name: w, rotation: {weekly("ann", "bob")}}}]
  zulu:
    time_zone: UTC
    layers: [{{name: w, rotation: {weekly("bob", "ann")}}}]
"""


def names(people):
    return [(entry.contact.name, entry.schedule) for entry in people]


def test_the_schedule_the_first_step_names_comes_first():
    file = config("[zulu]", SCHEDULES)
    assert schedule_order(file) == ["zulu", "alpha"]
    assert names(on_call_now(file, NOW)) == [("bob", "zulu"), ("ann", "alpha")]


def test_an_override_in_force_changes_who_is_named():
    file = config("[alpha]", SCHEDULES)
    cover = Override("alpha", "dee", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert names(on_call_now(file, NOW, [cover])) == [("dee", "alpha"), ("bob", "zulu")]
    later = NOW + timedelta(hours=2)
    assert names(on_call_now(file, later, [cover]))[0] == ("ann", "alpha")


def test_without_schedules_the_default_policys_first_step_is_on_call():
    assert names(on_call_now(config("[ann, cy]"), NOW)) == [("ann", None), ("cy", None)]


def test_schedules_with_nobody_now_fall_back_to_the_first_step():
    gap = """
schedules:
  later:
    time_zone: UTC
    layers: [{name: w, rotation: {members: [bob], shift: 1w, handoff: "00:00", start: 2030-01-07}}]
"""
    assert names(on_call_now(config("[later, ann]", gap), NOW)) == [("ann", None)]


def test_the_caller_is_put_through_to_someone_else_who_takes_calls():
    file = config("[ann, cy, bob]")
    people = on_call_now(file, NOW)
    ann, bob = file.contacts["ann"], file.contacts["bob"]
    assert dial_target(people, ann) == bob  # cy takes texts only
    assert dial_target(people, bob) == ann
    assert dial_target(on_call_now(config("[ann]"), NOW), ann) is None
