"""`python -m bench.scale_out_sim --host H --port P --receiver-url URL`: the Plivo simulator
of `bench.sim_process` (the account's limits raised, no request log line), on an
address of the caller's choosing: the scale-out runs serve it to hosts in network
namespaces, on the lab's service address rather than on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from types import FrameType

from bench.sim_process import DEFAULT_API_REQUESTS_PER_5S, DEFAULT_SMS_PER_SECOND
from simulator.config import SimulatorConfig
from simulator.server import start_in_thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out_sim", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--receiver-url", required=True)
    args = parser.parse_args(argv)
    # It stands in for Plivo, on machines of its own: the times it records must not
    # wait for this machine's scheduler behind the system it measures.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    config = SimulatorConfig(
        receiver_url=args.receiver_url,
        api_requests_per_5s=DEFAULT_API_REQUESTS_PER_5S,
        sms_per_second=DEFAULT_SMS_PER_SECOND,
        calls_per_second=DEFAULT_SMS_PER_SECOND,
    )
    running = start_in_thread(config, host=args.host, port=args.port, quiet=True)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    print(f"simulator on {running.url}, callbacks to {config.receiver_url}", flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
