"""What happens to a message or call to a given number.

Tests and the demo need phones that misbehave on purpose (a handset that is
off, a voicemail, a carrier that drops the delivery report), chosen per number
so that one run can mix them. The text forms ("undelivered:80", "answer:1")
are what the control endpoint and the config accept, so a scenario can be set
from curl as easily as from code.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SMS_STATUSES = ("delivered", "undelivered", "failed", "no-callback")
WHATSAPP_STATUSES = ("read", "delivered", "failed", "no-callback")
VOICE_KINDS = ("answer", "no-answer", "busy", "failed", "timeout", "machine")
UNKNOWN_ERROR = 1000


class ScenarioError(ValueError):
    """A scenario text or body the simulator cannot act on; the message says which part."""


def number_key(number: str) -> str:
    """Plivo writes numbers without "+"; people write them with. Both name one phone."""
    return "".join(ch for ch in str(number) if ch not in "+ -()").strip()


@dataclass(frozen=True)
class SmsOutcome:
    """The fate of an SMS: final status and, for failures, Plivo's ErrorCode."""

    status: str = "delivered"
    error_code: int | None = None

    @classmethod
    def parse(cls, text: str) -> SmsOutcome:
        status, _, code = str(text).strip().lower().partition(":")
        if status not in SMS_STATUSES:
            raise ScenarioError(f"sms must be one of {', '.join(SMS_STATUSES)} (got {text!r})")
        if status in ("undelivered", "failed"):
            if code and not code.isdigit():
                raise ScenarioError(f"sms error code must be a number (got {code!r})")
            return cls(status, int(code) if code else UNKNOWN_ERROR)
        if code:
            raise ScenarioError(f"only undelivered and failed take an error code (got {text!r})")
        return cls(status)

    def text(self) -> str:
        return f"{self.status}:{self.error_code}" if self.error_code is not None else self.status


@dataclass(frozen=True)
class VoiceOutcome:
    """How the callee behaves: who picks up and which keys they press, prompt by prompt."""

    kind: str = "answer"
    digits: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VoiceOutcome:
        kind, _, keys = str(text).strip().lower().partition(":")
        if kind not in VOICE_KINDS:
            raise ScenarioError(f"voice must be one of {', '.join(VOICE_KINDS)} (got {text!r})")
        if keys and kind != "answer":
            raise ScenarioError(f"only answer takes digits (got {text!r})")
        digits = tuple(part.strip() for part in keys.split(",") if part.strip())
        allowed = set("0123456789*#")
        if any(not set(d) <= allowed for d in digits):
            raise ScenarioError(f"digits must be 0-9, * or # (got {keys!r})")
        return cls(kind, digits)

    @property
    def answered(self) -> bool:
        return self.kind in ("answer", "machine")

    def text(self) -> str:
        return f"{self.kind}:{','.join(self.digits)}" if self.digits else self.kind


@dataclass(frozen=True)
class WhatsAppOutcome:
    """The fate of a WhatsApp message: read (the default: delivered, then read, as for
    a reader with read receipts on), delivered only, failed with an ErrorCode, or no
    callbacks at all."""

    status: str = "read"
    error_code: int | None = None

    @classmethod
    def parse(cls, text: str) -> WhatsAppOutcome:
        status, _, code = str(text).strip().lower().partition(":")
        if status not in WHATSAPP_STATUSES:
            choices = ", ".join(WHATSAPP_STATUSES)
            raise ScenarioError(f"whatsapp must be one of {choices} (got {text!r})")
        if status != "failed":
            if code:
                raise ScenarioError(f"only failed takes an error code (got {text!r})")
            return cls(status)
        if code and not code.isdigit():
            raise ScenarioError(f"whatsapp error code must be a number (got {code!r})")
        return cls(status, int(code) if code else UNKNOWN_ERROR)

    def text(self) -> str:
        return f"{self.status}:{self.error_code}" if self.error_code is not None else self.status


@dataclass(frozen=True)
class NumberScenario:
    """One number's behaviour for SMS and voice; answer_delay_s None means the config's.

    input_delay_s is how long the callee listens to each prompt before pressing
    its key (or before the prompt runs out without one): an answered call that
    stays mid-prompt that long, so it can be hung up while someone listens.

    detection_delay_s is how long Plivo's machine detection takes to reach its
    verdict on this number, counted from the answer. None: the call's whole
    `machine_detection_time` (Plivo documents detection as taking up to that
    long). A machine whose greeting needs longer than `machine_detection_time`
    is not detected: Plivo stops listening then and reports nothing.
    """

    number: str = ""
    sms: SmsOutcome = SmsOutcome()
    voice: VoiceOutcome = VoiceOutcome()
    whatsapp: WhatsAppOutcome = WhatsAppOutcome()
    answer_delay_s: float | None = None
    input_delay_s: float = 0.0
    detection_delay_s: float | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], base: NumberScenario | None = None) -> NumberScenario:
        """Build from a JSON body; fields left out keep `base`'s values."""
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario must be a JSON object")
        number = number_key(data.get("number") or (base.number if base else ""))
        if not number.isdigit():
            raise ScenarioError("number is required, as digits with an optional leading +")
        scenario = replace(base or cls(), number=number)
        if data.get("sms") is not None:
            scenario = replace(scenario, sms=SmsOutcome.parse(data["sms"]))
        if data.get("voice") is not None:
            scenario = replace(scenario, voice=VoiceOutcome.parse(data["voice"]))
        if data.get("whatsapp") is not None:
            scenario = replace(scenario, whatsapp=WhatsAppOutcome.parse(data["whatsapp"]))
        for name in ("answer_delay_s", "input_delay_s", "detection_delay_s"):
            if data.get(name) is not None:
                scenario = replace(scenario, **{name: _seconds(data[name], name)})
        return scenario

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "sms": self.sms.text(),
            "voice": self.voice.text(),
            "whatsapp": self.whatsapp.text(),
            "answer_delay_s": self.answer_delay_s,
            "input_delay_s": self.input_delay_s,
            "detection_delay_s": self.detection_delay_s,
        }


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ScenarioError(f"{name} must be a number of seconds >= 0")
    return float(value)


class ScenarioBook:
    """Per-number scenarios, changed by the control endpoint while requests are served."""

    def __init__(self, initial: Mapping[str, NumberScenario]) -> None:
        self._initial = {
            number_key(k): replace(v, number=number_key(k)) for k, v in initial.items()
        }
        self._lock = threading.Lock()
        self._by_number = dict(self._initial)

    def get(self, number: str) -> NumberScenario:
        key = number_key(number)
        with self._lock:
            return self._by_number.get(key) or NumberScenario(number=key)

    def update(self, data: Mapping[str, Any]) -> NumberScenario:
        """Merge a control-endpoint body into the number's current scenario."""
        key = number_key(data.get("number", "")) if isinstance(data, Mapping) else ""
        with self._lock:
            scenario = NumberScenario.parse(data, base=self._by_number.get(key))
            self._by_number[scenario.number] = scenario
            return scenario

    def reset(self) -> None:
        """Back to the scenarios the simulator was started with."""
        with self._lock:
            self._by_number = dict(self._initial)

    def all(self) -> list[NumberScenario]:
        with self._lock:
            return list(self._by_number.values())
