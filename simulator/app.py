"""The simulator as a Flask app: Plivo's API plus the `/_sim` control surface."""

from __future__ import annotations

from flask import Flask

from simulator import api, control
from simulator.config import SimulatorConfig
from simulator.runtime import Simulator

EXTENSION = "plivo_simulator"


def create_app(config: SimulatorConfig | None = None) -> Flask:
    """A ready app whose background dispatcher is already running.

    Stop it with `simulator_of(app).stop()` (the server helpers do) so the
    callback threads do not outlive the app.
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Simulator(config or SimulatorConfig())
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    api.register_error_handlers(app)
    return app


def simulator_of(app: Flask) -> Simulator:
    return app.extensions[EXTENSION]
