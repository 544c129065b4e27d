"""On-call files the benchmarks and the tests share."""

from __future__ import annotations


def two_step_chain(ann: str, bob: str, first_wait_s: int) -> str:
    """Policy `two`, the default: ann by SMS, then bob `first_wait_s` later (then
    nobody for ten minutes)."""
    return f"""
contacts:
  ann: {{phone: "{ann}", channels: [sms]}}
  bob: {{phone: "{bob}", channels: [sms]}}
policies:
  two:
    steps:
      - {{targets: [ann], channels: [sms], wait: {first_wait_s}}}
      - {{targets: [bob], channels: [sms], wait: 600}}
default_policy: two
"""
