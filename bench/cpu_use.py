"""CPU time spent while a benchmark measures: by the receiver's process tree, by the
worker's, and by the whole machine (the rest: simulator, database, broker, client).

At a rate the machine cannot keep, latency only says that the pipeline fell
behind; the CPU each part used per alert says which part to make cheaper, and
whether the load fits on these cores at all. Read from /proc (Linux), as the
kernel accounts it: no sampling profiler and nothing added to the processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds over one measured block, and its wall time."""

    web_s: float
    worker_s: float
    machine_s: float
    wall_s: float

    @property
    def rest_s(self) -> float:
        return max(0.0, self.machine_s - self.web_s - self.worker_s)

    def per_item_text(self, items: int, item: str = "alert") -> str:
        """Milliseconds of CPU per item (an alert, a report), by part, and the machine's load."""
        if items <= 0 or self.wall_s <= 0:
            return "-"
        cores = os.cpu_count() or 1
        busy = 100 * self.machine_s / (self.wall_s * cores)

        def ms(seconds: float) -> str:
            return f"{1000 * seconds / items:.1f}"

        return (
            f"receiver {ms(self.web_s)}, worker {ms(self.worker_s)}, everything else "
            f"{ms(self.rest_s)} (total {ms(self.machine_s)} ms per {item}; "
            f"{cores} cores {busy:.0f} % busy)"
        )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields after it follow its ")".
    return text.rsplit(")", 1)[1].split()


def tree_cpu_s(root: int) -> float:
    """User and system seconds of `root` and every live process under it."""
    parent_of: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        pid = int(entry.name)
        parent_of[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    total = 0.0
    for pid, seconds in used.items():
        walk = pid
        while walk > 1 and walk != root:
            walk = parent_of.get(walk, 0)
        if walk == root:
            total += seconds
    return total


def machine_cpu_s() -> float:
    """Busy seconds of every core since boot (all but idle and I/O wait)."""
    fields = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


@contextmanager
def measuring(web_pid: int, worker_pid: int) -> Iterator[list[CpuUse]]:
    """Yields a list that holds the block's CpuUse once the block has ended."""
    found: list[CpuUse] = []
    start = (tree_cpu_s(web_pid), tree_cpu_s(worker_pid), machine_cpu_s(), time.monotonic())
    yield found
    end = (tree_cpu_s(web_pid), tree_cpu_s(worker_pid), machine_cpu_s(), time.monotonic())
    found.append(CpuUse(*(after - before for after, before in zip(end, start, strict=True))))


def cpu_wait_us() -> int | None:
    """Microseconds since boot in which some runnable task waited for a CPU (the
    kernel's pressure stall information, /proc/pressure/cpu "some"); None where the
    kernel does not keep it."""
    try:
        first = (PROC / "pressure" / "cpu").read_text().split("\n", 1)[0]
    except OSError:
        return None
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return int(fields["total"])


@contextmanager
def cpu_wait_share() -> Iterator[list[float]]:
    """Yields a list that holds, once the block has ended, the share of its wall time
    in which some runnable task waited for a CPU (empty where the kernel does not
    say). A drill whose figures are times (a request leaving on its booked slot)
    measures the machine instead when its processes queue for the cores: this says
    whether they did, over the drill itself, not before it."""
    found: list[float] = []
    start, started = cpu_wait_us(), time.monotonic()
    yield found
    end, wall = cpu_wait_us(), time.monotonic() - started
    if start is not None and end is not None and wall > 0:
        found.append((end - start) / 1e6 / wall)
