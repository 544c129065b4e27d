"""`python -m simulator [--host H] [--port P]`: the simulator without the project CLI."""

from __future__ import annotations

import argparse
import logging
import os

from simulator.config import SimulatorConfig
from simulator.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Plivo simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    config = SimulatorConfig(
        auth_id=os.environ.get("PLIVO_AUTH_ID", "MASIMULATOR000000000"),
        auth_token=os.environ.get("PLIVO_AUTH_TOKEN", "simulator-auth-token"),
    )
    serve(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
