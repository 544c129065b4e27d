"""What a bridge consumes and how: streams, group, channels, limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BridgeConfig:
    streams: tuple[str, ...] = ("alert-dispatch:events",)
    group: str = "alert-dispatch"
    consumer: str = "bridge"
    channel_patterns: tuple[str, ...] = ("if.bus:*",)
    channel_dead_letter: str = "alert-dispatch:channels:dead"
    claim_idle_ms: int = 60_000
    batch: int = 50
    block_ms: int = 1_000
    max_deliveries: int = 5
