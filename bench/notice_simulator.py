"""`python -m bench.notice_simulator`: the Plivo simulator as the notice benchmark's Plivo.

The same simulator as `alert-dispatch simulator` (simulator.server), with
Plivo's own API limit (300 requests per 5 s, refused with 429 above it) and
the account's SMS rate raised to the benchmark's (`--sms-per-second`, Plivo
raises it on request). The numbers listed in `--quiet-numbers` (a file, one
a line) send no delivery reports: with reports off, a 10,000-recipient run
measures the send path, not how fast this machine's receiver takes 10,000
callbacks.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from simulator.config import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, SimulatorConfig
from simulator.server import start_in_thread


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.notice_simulator", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--receiver-url", required=True)
    parser.add_argument("--auth-id", default=DEFAULT_AUTH_ID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--sms-per-second", type=float, required=True)
    parser.add_argument("--quiet-numbers", type=Path, default=None)
    return parser.parse_args(argv)


def quiet_scenarios(path: Path | None) -> dict[str, dict[str, str]]:
    """No delivery report for each number listed in `path` (one a line)."""
    if path is None:
        return {}
    numbers = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return {number: {"sms": "no-callback"} for number in numbers}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SimulatorConfig(
        auth_id=args.auth_id,
        auth_token=args.auth_token,
        receiver_url=args.receiver_url,
        sms_per_second=args.sms_per_second,
        scenarios=quiet_scenarios(args.quiet_numbers),
    )
    running = start_in_thread(config, port=args.port, quiet=True)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    print(f"simulator on {running.url}, {args.sms_per_second:g} SMS/s", flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
