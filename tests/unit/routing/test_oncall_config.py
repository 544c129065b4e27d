"""The on-call configuration: the example loads, every mistake is named where it is."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.alerts.schemas import AlertIn, Severity
from shared.routing.oncall_config import (
    Channel,
    ConfigError,
    ConfigProblem,
    OncallConfig,
    check_config,
    check_config_text,
    load_config,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "oncall.example.yaml"

VALID = """\
contacts:
  alice: {phone: "+14155550101"}
  bob: {phone: "+14155550102", channels: [voice]}
  carol: {phone: "+14155550103", channels: [sms]}
teams:
  db: {members: [alice, carol]}
policies:
  primary:
    steps:
      - {targets: [alice], channels: [sms, voice], wait: 5m}
      - {targets: [bob], channels: [voice], wait: 300}
  db:
    steps:
      - {targets: [db, alice], channels: [sms], wait: 1h30m}
  info:
    steps:
      - {targets: [carol], channels: [sms], wait: 0}
routes:
  - match: {severity: [critical], labels: {service: "~db-.*"}}
    policy: db
  - match: {severity: critical}
    policy: primary
  - match: {source: [grafana, "~prom.*"]}
    policy: info
default_policy: primary
"""


def problems_of(text: str) -> dict[str, str]:
    return {p.path: p.message for p in check_config_text(textwrap.dedent(text))}


def alert(severity: str = "error", source: str = "api", **labels: str) -> AlertIn:
    return AlertIn(summary="x", severity=Severity(severity), source=source, labels=labels)


# --------------------------------------------------------------------------- valid files


def test_example_file_passes_the_check() -> None:
    assert check_config(EXAMPLE) == []
    config = load_config(EXAMPLE)
    primary = config.policies["primary"]
    assert [step.wait for step in primary.steps] == [300, 300, 600]
    assert primary.repeat == 1
    assert primary.recall is not None
    assert (primary.recall.attempts, primary.recall.interval) == (2, 60)
    assert config.contacts["alice"].phone == "+14155550101"


def test_names_durations_and_defaults() -> None:
    config = parse_config(VALID)
    assert config.contacts["alice"].name == "alice"
    assert config.contacts["alice"].channels == (Channel.SMS, Channel.VOICE)
    assert config.contacts["bob"].channels == (Channel.VOICE,)
    assert config.policies["db"].steps[0].wait == 5400
    assert config.policies["primary"].repeat == 0
    assert config.policies["primary"].recall is None


def test_expand_targets_replaces_teams_and_keeps_first_appearance() -> None:
    config = parse_config(VALID)
    step = config.policies["db"].steps[0]  # targets: [db (alice, carol), alice]
    assert [c.name for c in config.expand_targets(step)] == ["alice", "carol"]


def test_contact_for_phone() -> None:
    config = parse_config(VALID)
    assert config.contact_for_phone("+1 415 555 0102").name == "bob"  # type: ignore[union-attr]
    assert config.contact_for_phone("+14155550199") is None
    assert config.contact_for_phone("not a number") is None


# --------------------------------------------------------------------------- routing


def test_first_matching_route_wins() -> None:
    config = parse_config(VALID)
    name, policy = config.route(alert("critical", service="db-main"))
    assert name == "db"
    assert policy is config.policies["db"]
    assert config.route(alert("critical", service="web"))[0] == "primary"


def test_regex_labels_match_the_whole_value() -> None:
    config = parse_config(VALID)
    assert config.route(alert("critical", service="db-"))[0] == "db"
    assert config.route(alert("critical", service="old-db-main"))[0] == "primary"


def test_missing_label_does_not_match_a_regex() -> None:
    config = parse_config(VALID)
    assert config.route(alert("critical"))[0] == "primary"


def test_source_list_with_exact_and_regex_values() -> None:
    config = parse_config(VALID)
    assert config.route(alert(source="grafana"))[0] == "info"
    assert config.route(alert(source="prometheus"))[0] == "info"
    assert config.route(alert(source="grafana-2"))[0] == "primary"


def test_unmatched_alert_goes_to_default_policy() -> None:
    config = parse_config(VALID)
    name, policy = config.route(alert("warning", service="db-main"))
    assert name == "primary"
    assert policy is config.policies["primary"]


def test_route_with_empty_match_catches_everything() -> None:
    config = parse_config(VALID.replace("default_policy:", "  - policy: info\ndefault_policy:"))
    assert config.route(alert("warning"))[0] == "info"
    assert config.route(alert("critical", service="db-main"))[0] == "db"


def test_number_label_values_compare_as_text() -> None:
    text = VALID.replace("routes:\n", "routes:\n  - {match: {labels: {code: 500}}, policy: info}\n")
    config = parse_config(text)
    assert config.route(alert(code="500"))[0] == "info"


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("replace", "by", "path", "message"),
    [
        (
            "targets: [bob]",
            "targets: [bob, dave]",
            "policies.primary.steps[1].targets[1]",
            'unknown contact or team "dave"',
        ),
        (
            '"+14155550102"',
            '"+1415555010"',
            "contacts.bob.phone",
            'bad phone number "+1415555010"',
        ),
        (
            '"+14155550102"',
            '"4155550102"',
            "contacts.bob.phone",
            "starting with +",
        ),
        ("targets: [bob]", "targets: []", "policies.primary.steps[1].targets", "must not be empty"),
        ("targets: [bob], ", "", "policies.primary.steps[1].targets", "required"),
        ("channels: [voice], ", "", "policies.primary.steps[1].channels", "required"),
        ("[voice], wait: 300", "[fax], wait: 300", "policies.primary.steps[1].channels[0]", "fax"),
        ("wait: 300", "wait: soon", "policies.primary.steps[1].wait", 'not a duration: "soon"'),
        ("wait: 300", "wait: -1", "policies.primary.steps[1].wait", "at least 0"),
        ("wait: 300", "wait: yes", "policies.primary.steps[1].wait", "number of seconds"),
        ("members: [alice, carol]", "members: [alice, dan]", "teams.db.members[1]", '"dan"'),
        ("members: [alice, carol]", "members: [db]", "teams.db.members[0]", "is a team"),
        ("members: [alice, carol]", "members: []", "teams.db.members", "must not be empty"),
        ("    policy: db\n", "    policy: dbx\n", "routes[0].policy", 'unknown policy "dbx"'),
        ("default_policy: primary", "default_policy: nope", "default_policy", "unknown policy"),
        ("default_policy: primary", "", "default_policy", "required"),
        ('"~db-.*"', '"~db-("', "routes[0].match.labels.service", "invalid regular expression"),
        ("[critical]", "[fatal]", "routes[0].match.severity[0]", '"fatal" is not one of'),
        ("  db: {members", "  bob: {members", "teams.bob", "is also a contact"),
        ("    steps:\n", "    stepz:\n", "policies.primary.stepz", "unknown key"),
    ],
)
def test_each_problem_is_named_with_its_path(
    replace: str, by: str, path: str, message: str
) -> None:
    assert replace in VALID
    problems = check_config_text(VALID.replace(replace, by, 1))
    matching = [p for p in problems if p.path == path and message in p.message]
    assert matching, problems
    assert all(p.line is not None for p in problems)


def test_problem_points_at_the_right_line() -> None:
    text = VALID.replace("targets: [bob]", "targets: [bobby]")
    (problem,) = check_config_text(text)
    assert problem.path == "policies.primary.steps[1].targets[0]"
    assert problem.line == 11
    assert str(problem) == (
        'line 11: policies.primary.steps[1].targets[0]: unknown contact or team "bobby"'
    )


def test_all_problems_are_reported_together() -> None:
    problems = problems_of(
        """\
        contacts:
          alice: {phone: "+1415555010"}
          bob: {phone: "+14155550102"}
        teams:
          ops: {members: [bob, zoe]}
        policies:
          primary:
            steps:
              - {targets: [alice, nobody], channels: [sms], wait: 5m}
              - {channels: [voice], wait: 1m}
            repeat: -1
        routes:
          - {match: {severity: [critical]}, policy: secondary}
        default_policy: primary
        """
    )
    assert set(problems) == {
        "contacts.alice.phone",
        "teams.ops.members[1]",
        "policies.primary.steps[0].targets[1]",
        "policies.primary.steps[1].targets",
        "policies.primary.repeat",
        "routes[0].policy",
    }


def test_a_contact_with_a_bad_number_is_still_a_known_name() -> None:
    problems = problems_of(VALID.replace('"+14155550101"', '"+1415555010"'))
    assert list(problems) == ["contacts.alice.phone"]


def test_load_config_raises_with_one_problem_per_line(tmp_path: Path) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(VALID.replace("[bob]", "[dave]").replace("policy: db\n", "policy: nope\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 2
    assert lines[0].endswith('policies.primary.steps[1].targets[0]: unknown contact or team "dave"')
    assert lines[1].endswith('routes[0].policy: unknown policy "nope"')


def test_invalid_yaml_is_reported_with_its_line() -> None:
    text = 'contacts:\n  alice:\n    phone: "+14155550101"\n  bob: [voice\npolicies: {}\n'
    (problem,) = check_config_text(text)
    assert problem.path == ""
    assert problem.message.startswith("invalid YAML")
    assert problem.line == 5
    assert str(problem).startswith("line 5: (file): invalid YAML")


def test_duplicate_names_are_reported_with_both_lines() -> None:
    text = VALID.replace("  carol: {", '  alice: {phone: "+14155550199"}\n  carol: {')
    problems = check_config_text(text)
    (duplicate,) = [p for p in problems if "twice" in p.message]
    assert duplicate.path == "contacts.alice"
    assert duplicate.line == 4
    assert duplicate.message == '"alice" is defined twice (first on line 2)'


def test_person_who_accepts_none_of_the_steps_channels() -> None:
    text = VALID.replace("targets: [bob], channels: [voice]", "targets: [carol], channels: [voice]")
    problems = check_config_text(text)
    assert [(p.path, p.message) for p in problems] == [
        (
            "policies.primary.steps[1].targets[0]",
            '"carol" accepts none of this step\'s channels (voice)',
        )
    ]


def test_team_member_who_accepts_none_of_the_steps_channels() -> None:
    text = VALID.replace(
        "targets: [db, alice], channels: [sms]", "targets: [db], channels: [voice]"
    )
    (problem,) = check_config_text(text)
    assert problem.path == "policies.db.steps[0].targets[0]"
    assert problem.message.startswith('"carol" (team "db") accepts none')


def test_routes_after_a_catch_all_are_reported() -> None:
    text = VALID.replace(
        "  - match: {severity: critical}\n    policy: primary\n", "  - policy: info\n"
    )
    (problem,) = check_config_text(text)
    assert problem.path == "routes[2]"
    assert "routes[1]" in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("# nothing\n", "empty"), ("- a\n- b\n", "must be a mapping")],
)
def test_empty_or_wrongly_shaped_file(text: str, message: str) -> None:
    (problem,) = check_config_text(text)
    assert message in problem.message


def test_unreadable_file(tmp_path: Path) -> None:
    (problem,) = check_config(tmp_path / "missing.yaml")
    assert problem == ConfigProblem("", problem.message)
    assert "cannot read" in problem.message
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.yaml")


def test_python_tags_are_refused() -> None:
    (problem,) = check_config_text("contacts: !!python/object:os.system {}\n")
    assert problem.message.startswith("invalid YAML")


def test_references_are_checked_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        OncallConfig(default_policy="nope")
    with pytest.raises(ValueError, match="unknown contact or team"):
        OncallConfig.model_validate(
            {
                "policies": {"p": {"steps": [{"targets": ["x"], "channels": ["sms"], "wait": 0}]}},
                "default_policy": "p",
            }
        )
