"""The sustained benchmark's CPU accounting: a process tree's CPU, read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bench.cpu_use import CpuUse, measuring

# Says it is ready (its start-up is done), burns 0.4 s of CPU once told to go, says
# so, then stays alive (idle) so it is still in its tree when read. The test waits
# on these lines, not on the clock: on a loaded machine the burn takes longer.
BURN_WHEN_TOLD = (
    "import sys, time\nprint('ready', flush=True)\nsys.stdin.readline()\n"
    "end = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    "print('burnt', flush=True)\ntime.sleep(60)\n"
)


def test_cpu_burnt_by_a_grandchild_counts_for_its_tree_and_the_machine_not_another_tree() -> None:
    # A shell (like the worker's launcher) whose child does the work.
    tree = subprocess.Popen(
        ["/bin/sh", "-c", f'{sys.executable} -c "$CODE"'],
        env={"CODE": BURN_WHEN_TOLD, "PATH": "/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    idle = subprocess.Popen(["sleep", "60"])
    assert tree.stdin is not None and tree.stdout is not None
    try:
        assert tree.stdout.readline().strip() == "ready"
        with measuring(tree.pid, idle.pid) as found:
            tree.stdin.write("go\n")
            tree.stdin.flush()
            assert tree.stdout.readline().strip() == "burnt"
    finally:
        os.killpg(tree.pid, signal.SIGKILL)  # the shell and its child
        idle.kill()
        tree.wait()
        idle.wait()
    use = found[0]
    # The kernel counts in clock ticks (10 ms): 0.4 s burnt reads 0.38 to 0.45 or so.
    assert 0.35 <= use.web_s <= 0.6
    assert use.worker_s < 0.05
    assert use.machine_s >= use.web_s
    assert use.wall_s >= 0.35


def test_per_alert_text_names_each_part_in_milliseconds() -> None:
    use = CpuUse(web_s=1.0, worker_s=2.0, machine_s=4.0, wall_s=2.0)
    text = use.per_item_text(100)
    assert text.startswith("receiver 10.0, worker 20.0, everything else 10.0 (total 40.0 ms")
    assert CpuUse(0, 0, 0, 0).per_item_text(100) == "-"
