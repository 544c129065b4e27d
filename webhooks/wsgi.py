"""WSGI entry point for gunicorn: `gunicorn webhooks.wsgi:app`.

A wrong setting, a public default secret in production or an invalid on-call
file stops the start with the reasons on stderr (see shared.startup_checks).
"""

import os
import sys
import tempfile
from pathlib import Path

from shared.core.logging_setup import configure_logging
from shared.core.settings import load_settings
from shared.startup_checks import StartupRefused, exit_with, load_checked
from webhooks.app import create_app

# Gunicorn's "App failed to load": its arbiter shuts down on this status, where
# any other would make it start the worker again and again.
APP_LOAD_ERROR = 4
# For a worker whose sibling already reported the same refusal.
QUIET_REFUSAL = 2


def first_to_refuse() -> bool:
    """Whether this is the first worker of its gunicorn master to refuse to start.

    The arbiter halts on a worker's APP_LOAD_ERROR, but when a second worker
    exits so while it shuts down it raises again: a traceback and status 1.
    So one worker per master reports and exits with APP_LOAD_ERROR, the
    others exit quietly. A marker named after the master's pid and start time
    (pid 1 in every container) says who came first.
    """
    if "gunicorn.arbiter" not in sys.modules:
        return True
    master = os.getppid()
    try:
        started = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return True
    marker = Path(tempfile.gettempdir()) / f"alert-dispatch-refused-{master}-{started}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except OSError:
        return True
    return True


try:
    settings = load_checked(load_settings, oncall_config=True)
except StartupRefused as refused:
    if first_to_refuse():
        exit_with(refused.lines, APP_LOAD_ERROR)
    sys.exit(QUIET_REFUSAL)
configure_logging(settings.log_level)
app = create_app(settings, route_on_arrival=settings.route_on_arrival)
