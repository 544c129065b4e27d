"""The naive pager's settings, from environment variables (the benchmark sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class NaiveConfig:
    database_url: str
    broker_url: str
    plivo_base_url: str
    plivo_auth_id: str
    plivo_auth_token: str
    plivo_from: str
    public_url: str
    api_token: str
    oncall_number: str

    @classmethod
    def from_env(cls) -> NaiveConfig:
        """Every NAIVE_* variable; a missing one stops the process naming it."""
        names = {
            "database_url": "NAIVE_DATABASE_URL",
            "broker_url": "NAIVE_BROKER_URL",
            "plivo_base_url": "NAIVE_PLIVO_BASE_URL",
            "plivo_auth_id": "NAIVE_PLIVO_AUTH_ID",
            "plivo_auth_token": "NAIVE_PLIVO_AUTH_TOKEN",
            "plivo_from": "NAIVE_PLIVO_FROM",
            "public_url": "NAIVE_PUBLIC_URL",
            "api_token": "NAIVE_API_TOKEN",
            "oncall_number": "NAIVE_ONCALL_NUMBER",
        }
        missing = [env for env in names.values() if not os.environ.get(env)]
        if missing:
            raise SystemExit(f"naive pager: set {', '.join(missing)}")
        return cls(**{field: os.environ[env] for field, env in names.items()})


STATUS_PATH = "/plivo/sms/status"
