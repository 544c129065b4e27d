"""What a worker child and a receiver process loaded at start leaves full garbage
collections alone (shared.core.startup_objects): measured here, a full collection
of a worker child took about 100 ms without, 3 to 7 ms with."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PROBE = textwrap.dedent(
    """
    import gc, json
    import worker.celery_app, webhooks.app  # what a worker child and the receiver load
    before = len(gc.get_objects(2))
    from shared.core.startup_objects import freeze_startup_objects
    frozen = freeze_startup_objects()
    print(json.dumps({"before": before, "frozen": frozen, "after": len(gc.get_objects(2))}))
    """
)


def test_the_objects_loaded_at_start_leave_the_oldest_generation(tmp_path):
    env = {"PYTHONPATH": str(REPO), "DATA_DIR": str(tmp_path), "APP_ENV": "development"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["before"] > 50_000  # the modules' objects, scanned by each full collection
    assert counts["frozen"] >= counts["before"]
    assert counts["after"] < counts["before"] / 100
