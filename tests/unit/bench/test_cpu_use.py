"""The sustained benchmark's CPU accounting: a process tree's CPU, read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.cpu_use import CpuUse, measuring

# Burns 0.4 s of CPU, then stays alive (idle) so it is still in its tree when read.
BURN_THEN_WAIT = (
    "import time\nend = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass\ntime.sleep(5)\n"
)


def test_cpu_burnt_by_a_grandchild_counts_for_its_tree_and_the_machine_not_another_tree() -> None:
    # A shell (like the worker's launcher) whose child does the work.
    tree = subprocess.Popen(
        ["/bin/sh", "-c", f'{sys.executable} -c "$CODE"'],
        env={"CODE": BURN_THEN_WAIT, "PATH": "/usr/bin:/bin"},
        start_new_session=True,
    )
    idle = subprocess.Popen(["sleep", "5"])
    try:
        with measuring(tree.pid, idle.pid) as found:
            time.sleep(1.2)
    finally:
        os.killpg(tree.pid, signal.SIGKILL)  # the shell and its child
        idle.kill()
        tree.wait()
        idle.wait()
    use = found[0]
    assert 0.3 <= use.web_s <= 1.2
    assert use.worker_s < 0.05
    assert use.machine_s >= use.web_s
    assert use.wall_s >= 1.2


def test_per_alert_text_names_each_part_in_milliseconds() -> None:
    use = CpuUse(web_s=1.0, worker_s=2.0, machine_s=4.0, wall_s=2.0)
    text = use.per_item_text(100)
    assert text.startswith("receiver 10.0, worker 20.0, everything else 10.0 (total 40.0 ms")
    assert CpuUse(0, 0, 0, 0).per_item_text(100) == "-"
