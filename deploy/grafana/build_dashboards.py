"""Write the Grafana dashboards of `catalogue.DASHBOARDS` as the JSON Grafana provisions.

    python -m deploy.grafana.build_dashboards            # rewrite deploy/grafana/dashboards/
    python -m deploy.grafana.build_dashboards --check    # exit 1 if the JSON is stale

The JSON is checked in, so a deployment needs neither Python nor this
generator; a test fails when the checked-in files differ from what this
module produces. Built with grafana-foundation-sdk (Grafana's own typed
builders, in the `dev` extras), so the output follows Grafana's schema
rather than hand-kept JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as gmodel

from deploy.grafana.catalogue import DASHBOARDS
from deploy.grafana.model import Dashboard, Panel

OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"
# The provisioned datasource (provisioning/datasources/prometheus.yml).
DATASOURCE = gmodel.DataSourceRef(type_val="prometheus", uid="prometheus")
TAG = "alert-dispatch"
REF_IDS = "ABCDEFGH"


def _panel(spec: Panel, panel_id: int) -> timeseries.Panel | stat.Panel:
    builder = timeseries.Panel() if spec.kind == "timeseries" else stat.Panel()
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .span(spec.width)
        .height(spec.height)
    )
    for ref_id, query in zip(REF_IDS, spec.queries, strict=False):
        builder = builder.with_target(
            prometheus.Dataquery()
            .ref_id(ref_id)
            .expr(query.expr)
            .legend_format(query.legend)
            .datasource(DATASOURCE)
        )
    return builder


def build(spec: Dashboard) -> dict[str, Any]:
    """One dashboard as the JSON object Grafana loads."""
    builder = (
        gdash.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags([TAG])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
        .link(
            gdash.DashboardLink("alert-dispatch")
            .type(gmodel.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
        )
    )
    panel_id = 0
    for row in spec.rows:
        panel_id += 1
        builder = builder.with_row(gdash.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            builder = builder.with_panel(_panel(panel, panel_id))
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def render(spec: Dashboard) -> str:
    """The file text: stable key order and a final newline, so diffs stay readable."""
    return json.dumps(build(spec), indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> text of every dashboard."""
    return {f"{spec.uid}.json": render(spec) for spec in DASHBOARDS}


def stale_files(directory: Path = OUTPUT_DIR) -> list[str]:
    """Names of the files in `directory` that are missing, differ, or are not generated."""
    expected = expected_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    stale += sorted(p.name for p in directory.glob("*.json") if p.name not in expected)
    return stale


def write(directory: Path = OUTPUT_DIR) -> list[str]:
    """Rewrite every dashboard and drop JSON files no dashboard produces; returns the names."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for extra in directory.glob("*.json"):
        if extra.name not in expected:
            extra.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text)
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: deploy/grafana/dashboards/{name}", file=sys.stderr)
        if stale:
            print("run: python -m deploy.grafana.build_dashboards", file=sys.stderr)
        return 1 if stale else 0
    for name in write():
        print(f"wrote deploy/grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
