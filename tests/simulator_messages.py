"""What the Plivo simulator of a running stack accepted, read from its request log."""

from __future__ import annotations

import requests


def accepted_times(simulator_url: str) -> dict[str, list[float]]:
    """Each number's messages at the simulator: when each was accepted (epoch seconds)."""
    messages = requests.get(f"{simulator_url}/_sim/messages", timeout=10).json()
    times: dict[str, list[float]] = {}
    for message in messages:
        times.setdefault("+" + message["dst"].lstrip("+"), []).append(message["created"])
    return times
