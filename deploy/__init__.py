"""Deployment files: Prometheus rules, Alertmanager, Grafana dashboards and their generator.

Only `deploy.grafana` holds Python (the dashboard generator, a development
tool); nothing here is installed with the application.
"""
