"""`python -m simulator [--host H] [--port P] [--receiver-url URL]`: the simulator without
the project CLI.

Its account comes from SIMULATOR_AUTH_ID / SIMULATOR_AUTH_TOKEN, never from the
application's PLIVO_AUTH_* (see simulator.config).
"""

from __future__ import annotations

import argparse
import os

from shared.core.logging_setup import configure_logging
from simulator.config import (
    AUTH_ID_ENV,
    AUTH_TOKEN_ENV,
    DEFAULT_AUTH_ID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_RECEIVER_URL,
    RECEIVER_URL_ENV,
    SimulatorConfig,
)
from simulator.server import serve


def port_number(text: str) -> int:
    """A TCP port that can be bound: out of range, the OS would take the number modulo
    65536 and the simulator would listen where nobody asked."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in the range 1-65535")
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Plivo simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=8010)
    parser.add_argument(
        "--receiver-url",
        default=os.environ.get(RECEIVER_URL_ENV, DEFAULT_RECEIVER_URL),
        help="the only origin callbacks and inbound texts are sent to",
    )
    args = parser.parse_args()
    configure_logging("INFO")  # numbers masked here too, as in every process
    try:
        config = SimulatorConfig(
            auth_id=os.environ.get(AUTH_ID_ENV, DEFAULT_AUTH_ID),
            auth_token=os.environ.get(AUTH_TOKEN_ENV, DEFAULT_AUTH_TOKEN),
            receiver_url=args.receiver_url,
        )
    except ValueError as exc:
        parser.error(str(exc))
    serve(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
