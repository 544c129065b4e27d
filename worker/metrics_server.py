"""The worker host's scrape endpoint: the metrics of every prefork child, added up.

The children count in their own processes and serve nothing; the worker parent
(never a child, never beat) serves what they wrote to its multiprocess
directory, so web and workers may run on different hosts and each is scraped
where it runs. A port already taken (a second worker on the host, another
program) costs one log line, never the worker: paging matters more than its
metrics.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from shared.core.metrics import multiprocess_registry

log = logging.getLogger(__name__)


def serve_worker_metrics(directory: Path, host: str, port: int) -> bool:
    """Serve `directory`'s added-up metrics on http://host:port/metrics in a daemon
    thread; False (and one log line) when it is off or the address cannot be had."""
    if port == 0:
        log.info("worker metrics not served: WORKER_METRICS_PORT is 0")
        return False
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=multiprocess_registry(directory))
    except OSError as exc:
        log.error(
            "worker metrics not served: cannot listen on %s:%s (%s); "
            "set WORKER_METRICS_PORT to a free port, or 0 for none",
            host,
            port,
            exc.strerror or exc,
        )
        return False
    log.info("worker metrics served on http://%s:%s/metrics (pid %s)", host, port, os.getpid())
    return True
