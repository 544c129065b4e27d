"""Everything that makes one simulator run differ from another.

Defaults are Plivo's own per-account limits and fast-but-realistic delays, so a
test only overrides what it is about (a small API limit, a short stall) and the
demo runs with no configuration at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.outbound import normalized_receiver_url
from simulator.scenarios import NumberScenario

# The simulator's own account, read from its own variables and never from the
# application's PLIVO_AUTH_*: a simulator that inherited a real token would
# sign callbacks for the real account. The defaults are public (the
# application's development defaults match them) and sign for nothing real.
AUTH_ID_ENV = "SIMULATOR_AUTH_ID"
AUTH_TOKEN_ENV = "SIMULATOR_AUTH_TOKEN"
RECEIVER_URL_ENV = "SIMULATOR_RECEIVER_URL"
DEFAULT_AUTH_ID = "MASIMULATOR000000000"
DEFAULT_AUTH_TOKEN = "simulator-auth-token"
# Where `alert-dispatch web` listens by default.
DEFAULT_RECEIVER_URL = "http://127.0.0.1:8000"


@dataclass
class SimulatorConfig:
    """Settings of one simulated Plivo account.

    Delays are in seconds of real time: the simulator does not fake a clock, so
    the times it reports are the times things really happened.
    """

    auth_id: str = DEFAULT_AUTH_ID
    auth_token: str = field(default=DEFAULT_AUTH_TOKEN, repr=False)
    # The application's origin: every callback, answer-URL fetch and inbound
    # text goes there and nowhere else. None (in-process use) allows loopback
    # hosts only; the command line always names one.
    receiver_url: str | None = None

    # Plivo's default per-account limits.
    sms_per_second: float = 5.0
    calls_per_second: float = 2.0
    api_requests_per_5s: int = 300
    # Meta's default throughput for a WhatsApp Business number (messages per second).
    whatsapp_per_second: float = 80.0
    # WhatsApp templates approved for the account's WhatsApp Business Account; a
    # message naming any other is refused (simulator.whatsapp).
    whatsapp_templates: tuple[str, ...] = ("maintenance_notice", "maintenance_update")

    # Message lifecycle: queued at once, sent when the pacer allows (never
    # before sms_sent_delay_s), final report sms_delivery_delay_s after sent.
    sms_sent_delay_s: float = 0.05
    sms_delivery_delay_s: float = 0.2

    # Call lifecycle: ring_delay_s before answer (a scenario's answer_delay_s
    # wins), call_talk_s between the end of the XML and the hangup.
    ring_delay_s: float = 0.2
    call_talk_s: float = 0.1
    max_xml_steps: int = 10

    # Callback delivery.
    callback_timeout_s: float = 5.0
    callback_retry_delay_s: float = 0.5
    duplicate_final_callback: bool = False
    shuffle_callbacks: bool = False
    callback_workers: int = 16

    # How long a `timeout_after_receive` fault holds the answer back: longer
    # than any sane client read timeout.
    stall_seconds: float = 30.0

    # Per-number behaviour; the key is the number with or without "+".
    scenarios: Mapping[str, NumberScenario | Mapping[str, Any]] = field(default_factory=dict)

    # Number used as "From" when a message is sent through a powerpack.
    powerpack_number: str = "14155550000"
    # Seed for fault sampling and shuffled callbacks; None means random.
    seed: int | None = None

    def __post_init__(self) -> None:
        if len(self.auth_id) < 2 or not self.auth_id.isalnum():
            raise ValueError("auth_id must be letters and digits")
        if not self.auth_token:
            raise ValueError("auth_token must not be empty")
        if min(self.sms_per_second, self.calls_per_second, self.whatsapp_per_second) <= 0:
            raise ValueError("sms, calls and whatsapp per second must be positive")
        if self.api_requests_per_5s <= 0:
            raise ValueError("api_requests_per_5s must be positive")
        if self.receiver_url is not None:
            self.receiver_url = normalized_receiver_url(self.receiver_url)
        self.scenarios = self.number_scenarios()

    def number_scenarios(self) -> dict[str, NumberScenario]:
        """The configured scenarios, JSON-style entries parsed (errors surface at start-up)."""
        return {
            number: spec
            if isinstance(spec, NumberScenario)
            else NumberScenario.parse({**spec, "number": number})
            for number, spec in self.scenarios.items()
        }
