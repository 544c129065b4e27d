"""Grafana dashboards for alert-dispatch, generated from code.

`panels` says what each dashboard shows (titles, PromQL, units) as plain data,
so tests can check every query without Grafana; `build_dashboards` turns it
into the JSON Grafana provisions from `dashboards/` (with
grafana-foundation-sdk, a development dependency).
"""
