"""One simulated Plivo account: its state and the parts that act on it.

Built once per app so that every request thread, the callback workers and the
control endpoints share the same records, limits, scenarios and faults.
"""

from __future__ import annotations

import random

from simulator.callbacks import CallbackSender
from simulator.config import SimulatorConfig
from simulator.dispatcher import Dispatcher
from simulator.faults import FaultBook
from simulator.limits import SlidingWindowLimiter
from simulator.messaging import MessageService
from simulator.phlo import PhloService
from simulator.scenarios import ScenarioBook
from simulator.state import SimulatorState
from simulator.voice import CallService
from simulator.whatsapp import WhatsAppService

API_WINDOW_S = 5.0


class Simulator:
    """Everything behind the HTTP surface; `stop()` ends its background threads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimulatorState()
        self.scenarios = ScenarioBook(config.number_scenarios())
        self.faults = FaultBook(config.seed)
        self.api_limiter = SlidingWindowLimiter(config.api_requests_per_5s, API_WINDOW_S)
        self.dispatcher = Dispatcher(config.callback_workers)
        self.sender = CallbackSender(
            auth_token=config.auth_token,
            state=self.state,
            timeout_s=config.callback_timeout_s,
            retry_delay_s=config.callback_retry_delay_s,
            stopping=self.dispatcher.stopping,
            receiver_url=config.receiver_url,
        )
        self.messages = MessageService(
            config=config,
            state=self.state,
            scenarios=self.scenarios,
            dispatcher=self.dispatcher,
            sender=self.sender,
            rng=random.Random(config.seed),
        )
        self.calls = CallService(
            config=config,
            state=self.state,
            scenarios=self.scenarios,
            dispatcher=self.dispatcher,
            sender=self.sender,
        )
        self.whatsapp = WhatsAppService(
            config=config,
            state=self.state,
            scenarios=self.scenarios,
            dispatcher=self.dispatcher,
            sender=self.sender,
            messages=self.messages,
        )
        self.phlos = PhloService(
            config=config, scenarios=self.scenarios, dispatcher=self.dispatcher
        )

    def reset(self) -> None:
        """Forget everything, as if freshly started with the same config."""
        self.dispatcher.clear()
        self.state.reset()
        self.scenarios.reset()
        self.faults.clear()
        self.api_limiter.reset()
        self.messages.reset()
        self.calls.reset()
        self.whatsapp.reset()
        self.phlos.reset()

    def pause(self, seconds: float) -> bool:
        """Sleep that `stop()` cuts short; True when stopping."""
        return self.dispatcher.stopping.wait(seconds)

    def stop(self) -> None:
        self.dispatcher.stop()
