"""`/_sim/*`: steer the simulator and look inside it.

Tests, the demo and people with curl use these to set per-number scenarios,
inject API faults, fake an inbound text or call, and read back every request, message,
call and callback. They are not part of Plivo's API and need no credentials:
the simulator is a local test double with its own public credentials (never
the application's), listens on loopback unless told otherwise, and sends
requests only to its configured receiver (simulator.outbound).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from simulator.errors import ApiError
from simulator.faults import FaultError
from simulator.inbound import send_inbound_sms
from simulator.inbound_call import place_inbound_call
from simulator.runtime import Simulator
from simulator.scenarios import ScenarioError

bp = Blueprint("sim_control", __name__, url_prefix="/_sim")


def simulator() -> Simulator:
    return current_app.extensions["plivo_simulator"]


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "body must be JSON")
    return data


@bp.get("/health")
def health() -> Response:
    return jsonify({"ok": True, "pending_events": simulator().dispatcher.pending()})


@bp.get("/scenarios")
def list_scenarios() -> Response:
    return jsonify([s.to_json() for s in simulator().scenarios.all()])


@bp.post("/scenarios")
def set_scenario() -> Response:
    try:
        scenario = simulator().scenarios.update(_body())
    except ScenarioError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(scenario.to_json())


@bp.delete("/scenarios")
def clear_scenarios() -> Response:
    simulator().scenarios.reset()
    return jsonify([s.to_json() for s in simulator().scenarios.all()])


@bp.get("/faults")
def get_fault() -> Response:
    fault = simulator().faults.current()
    return jsonify(fault.to_json() if fault else None)


@bp.post("/faults")
def set_fault() -> Response:
    try:
        fault = simulator().faults.set(_body())
    except FaultError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(fault.to_json())


@bp.delete("/faults")
def clear_fault() -> Response:
    simulator().faults.clear()
    return jsonify(None)


@bp.get("/requests")
def api_requests() -> Response:
    return jsonify(simulator().state.requests())


@bp.get("/messages")
def messages() -> Response:
    return jsonify([{"uuid": m.message_uuid, **m.to_json()} for m in simulator().state.messages()])


@bp.get("/calls")
def calls() -> Response:
    return jsonify([c.to_json() for c in simulator().state.calls()])


@bp.get("/conferences")
def conferences() -> Response:
    """The live conference rooms and who is in them (simulator.conference)."""
    return jsonify(simulator().state.conferences.rooms())


@bp.post("/conferences/<name>/end")
def end_conference(name: str) -> Response:
    """End a room as Plivo's "hang up a conference" does: every member leaves."""
    if not simulator().state.conferences.end(name):
        raise ApiError(404, "no such conference")
    return jsonify({"ok": True})


@bp.get("/phlo_runs")
def phlo_runs() -> Response:
    """Every PHLO run and how it ended (simulator.phlo)."""
    return jsonify(simulator().phlos.runs())


@bp.get("/callbacks")
def callbacks() -> Response:
    return jsonify(simulator().state.callbacks())


@bp.post("/reset")
def reset() -> Response:
    simulator().reset()
    return jsonify({"ok": True})


@bp.post("/inbound_sms")
def inbound_sms() -> Response:
    running = simulator()
    return jsonify(send_inbound_sms(running.sender, _body(), running.config.receiver_url))


@bp.post("/inbound_call")
def inbound_call() -> Response:
    """A call to one of the account's numbers, played out; answers once it has ended."""
    running = simulator()
    call = place_inbound_call(
        state=running.state,
        sender=running.sender,
        data=_body(),
        receiver_url=running.config.receiver_url,
        max_documents=running.config.max_xml_steps,
        stopping=running.dispatcher.stopping,
    )
    return jsonify(call)
