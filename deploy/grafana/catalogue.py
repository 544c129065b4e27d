"""Every provisioned dashboard, in the order Grafana lists them."""

from __future__ import annotations

from deploy.grafana.model import Dashboard
from deploy.grafana.paging_panels import DELIVERY, PAGING
from deploy.grafana.system_panels import NOTICES, PLIVO, QUEUES

DASHBOARDS: tuple[Dashboard, ...] = (PAGING, DELIVERY, PLIVO, QUEUES, NOTICES)
