"""The Flask receiver: ingestion, Plivo callbacks, operations."""

from __future__ import annotations

from types import ModuleType

from flask import Flask

from shared.alerts import after_close
from shared.core.db import one_writer_at_a_time
from shared.core.embedded_redis import resolve_redis_url
from shared.core.redis_url import redis_from_url
from shared.core.settings import Settings, load_settings
from webhooks import (
    alert_actions,
    alert_queries,
    change_events,
    ingest,
    notice_voice,
    notice_whatsapp,
    ops,
    plivo_callbacks,
    plivo_conference,
    plivo_phone_line,
    plivo_sms_inbound,
    plivo_voice,
    status_page,
)
from webhooks.errors import register_error_handlers
from webhooks.ical_feeds import bp as ical_feeds_bp
from webhooks.integrations import bp as integrations_bp
from webhooks.notices_api import bp as notices_api_bp
from webhooks.oncall_api import bp as oncall_api_bp
from webhooks.openapi import bp as openapi_bp
from webhooks.subscribers_api import bp as subscribers_api_bp


def create_app(
    settings: Settings | None = None,
    *,
    enqueue: ModuleType | None = None,
    route_on_arrival: bool = False,
) -> Flask:
    """Build the app from one settings object; nothing is read from globals later.

    `enqueue` is the module that hands work to the broker (worker.enqueue);
    it is a parameter so the app can be built without importing the worker.
    `route_on_arrival`: this process routes a new alert itself while idle
    (worker.route_on_arrival); only for a receiver whose settings are the
    environment's, as the workers read them.
    """
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["REDIS_URL"] = resolve_redis_url(settings.redis_url, settings.data_dir)
    app.config["REDIS"] = redis_from_url(app.config["REDIS_URL"], socket_timeout=5)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if enqueue is None:
        from worker import enqueue as worker_enqueue

        enqueue = worker_enqueue
    app.config["ENQUEUE"] = enqueue
    if route_on_arrival:
        from worker.route_on_arrival import ArrivalRouter

        app.config["ROUTE_ON_ARRIVAL"] = ArrivalRouter(
            one_writer=one_writer_at_a_time(settings.effective_database_url)
        )
    after_close.register(
        "hang_up_calls", lambda alert_id: app.config["ENQUEUE"].hang_up_calls(alert_id)
    )
    app.register_blueprint(ingest.bp)
    app.register_blueprint(alert_queries.bp)
    app.register_blueprint(alert_actions.bp)
    app.register_blueprint(plivo_callbacks.bp)
    app.register_blueprint(plivo_voice.bp)
    app.register_blueprint(notice_voice.bp)
    app.register_blueprint(notice_whatsapp.bp)
    app.register_blueprint(plivo_sms_inbound.bp)
    app.register_blueprint(plivo_phone_line.bp)
    app.register_blueprint(plivo_conference.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(integrations_bp)
    app.register_blueprint(notices_api_bp)
    app.register_blueprint(subscribers_api_bp)
    app.register_blueprint(oncall_api_bp)
    app.register_blueprint(ical_feeds_bp)
    app.register_blueprint(change_events.bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(status_page.bp)
    register_error_handlers(app)
    return app
