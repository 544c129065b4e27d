"""`python -m bench.sim_process`: the Plivo simulator as a process, with the account's limits
raised so that the simulator is never what a benchmark measures.

`alert-dispatch simulator` keeps Plivo's default per-account limits (300 API
requests per 5 s, 5 SMS/s), as it must for development and the tests. At 100
alerts a second both would bind, so the benchmarks start this instead: the
same simulator (`simulator.server`), the same Plivo behaviour, a raised account
(Plivo raises them on request), and no per-request log line.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from simulator.config import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, SimulatorConfig
from simulator.server import start_in_thread

DEFAULT_API_REQUESTS_PER_5S = 100_000
DEFAULT_SMS_PER_SECOND = 1_000.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_process", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--receiver-url", required=True)
    parser.add_argument("--auth-id", default=DEFAULT_AUTH_ID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--api-requests-per-5s", type=int, default=DEFAULT_API_REQUESTS_PER_5S)
    parser.add_argument("--sms-per-second", type=float, default=DEFAULT_SMS_PER_SECOND)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SimulatorConfig(
        auth_id=args.auth_id,
        auth_token=args.auth_token,
        receiver_url=args.receiver_url,
        api_requests_per_5s=args.api_requests_per_5s,
        sms_per_second=args.sms_per_second,
        calls_per_second=args.sms_per_second,
    )
    running = start_in_thread(config, port=args.port, quiet=True)
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
