"""WSGI entry point for gunicorn: `gunicorn webhooks.wsgi:app`."""

from shared.logging_setup import configure_logging
from shared.settings import load_settings
from webhooks.app import create_app

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings)
