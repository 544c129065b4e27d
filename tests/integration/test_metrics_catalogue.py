"""The README's metrics catalogue is the registry's: nothing missing, nothing invented.

Dashboards and alert rules are written from the catalogue, so a metric added
in code but not listed, or listed with other labels than it has, is a query
that silently returns nothing. The registered side is read from the code
itself: every counter, gauge and histogram the receiver and the worker
register, and every family the live gauges yield when collected against a
real database and Redis.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from shared.core.settings import load_settings
from webhooks.live_gauges import LiveGauges

README = Path(__file__).resolve().parents[2] / "README.md"
PREFIX = "alert_dispatch_"

Catalogue = dict[str, tuple[str, frozenset[str]]]  # exposed name -> (type, label names)


def documented() -> tuple[Catalogue, list[str]]:
    """The catalogue table of the README's Metrics section, and rows without a meaning."""
    text = README.read_text()
    start = text.index("\n## Metrics")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    found: Catalogue = {}
    unexplained = []
    for line in section.splitlines():
        if not line.startswith(f"| `{PREFIX}"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        found[name] = (cells[1], frozenset(re.findall(r"`([a-z_]+)`", cells[2])))
        if len(cells) < 5 or not cells[-1]:
            unexplained.append(name)
    return found, unexplained


def registered(database_url: str, redis_url: str, data_dir: Path) -> Catalogue:
    import webhooks.app  # noqa: F401  (registers what the receiver counts)
    import worker.tasks  # noqa: F401  (registers what the worker counts)

    found: Catalogue = {}
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, MetricWrapperBase) and collector._name.startswith(PREFIX):
            suffix = "_total" if collector._type == "counter" else ""
            found[collector._name + suffix] = (collector._type, frozenset(collector._labelnames))
    settings = load_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, API_TOKENS="t", DATA_DIR=str(data_dir)
    )
    for family in LiveGauges(database_url, redis_url, settings).collect():
        labels = frozenset(key for sample in family.samples for key in sample.labels)
        # A family with nothing to show yet (no notice sent) still declares its labels.
        labels = labels or frozenset(getattr(family, "_labelnames", ()))
        found[family.name] = (family.type, labels)
    return found


def row(name: str, kind: str, labels: frozenset[str]) -> str:
    listed = ", ".join(f"`{label}`" for label in sorted(labels))
    return f"| `{name}` | {kind} | {listed} | FROM | MEANING |"


def test_every_registered_metric_is_in_the_readme_as_registered(
    database_url, redis_url, redis_client, tmp_path
):
    in_code = registered(database_url, redis_url, tmp_path)
    in_readme, unexplained = documented()

    missing = [row(name, *in_code[name]) for name in sorted(set(in_code) - set(in_readme))]
    assert not missing, "metrics missing from the README catalogue:\n" + "\n".join(missing)
    invented = sorted(set(in_readme) - set(in_code))
    assert not invented, f"the README lists metrics nothing registers: {invented}"
    differing = {
        name: {"readme": in_readme[name], "code": in_code[name]}
        for name in in_code
        if in_readme[name] != in_code[name]
    }
    assert not differing, f"type or labels differ from the code: {differing}"
    assert not unexplained, f"catalogue rows without a meaning: {unexplained}"


def test_the_registry_side_sees_every_kind_of_metric(
    database_url, redis_url, redis_client, tmp_path
):
    """The check above cannot pass vacuously: the code registers the metrics it checks."""
    in_code = registered(database_url, redis_url, tmp_path)
    assert "alert_dispatch_plivo_request_seconds" in in_code
    assert in_code["alert_dispatch_queue_oldest_task_age_seconds"] == ("gauge", {"queue"})
    assert in_code["alert_dispatch_sms_sent_total"] == ("counter", {"result"})
    assert len(in_code) == len(documented()[0])
