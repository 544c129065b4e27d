"""Settings from environment variables and an optional `.env` file.

One object, built once at start-up and passed to whatever needs it, so a wrong
value stops the process before it accepts work, with one line naming the
setting at fault.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it in one line."""


class Settings(BaseSettings):
    """Everything alert-dispatch reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    data_dir: Path = Field(default=Path("data"), alias="DATA_DIR")
    # The rate limiter, locks, bundle windows and breaker (shared.core.redis_url for
    # the forms, Sentinel included); unset: a Redis of this machine's own (embedded).
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # Celery's broker: unset, the Redis of REDIS_URL; amqp:// for RabbitMQ (worker.broker_config).
    broker_url: str | None = Field(default=None, alias="BROKER_URL")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    plivo_auth_id: str = Field(default="MASIMULATOR000000000", alias="PLIVO_AUTH_ID")
    plivo_auth_token: str = Field(default="simulator-auth-token", alias="PLIVO_AUTH_TOKEN")
    plivo_base_url: str = Field(default="http://127.0.0.1:8010", alias="PLIVO_BASE_URL")
    plivo_from: str = Field(default="+14155550000", alias="PLIVO_FROM")
    # A second Plivo account (or region) used while the primary's circuit is open.
    plivo_backup_auth_id: str | None = Field(default=None, alias="PLIVO_BACKUP_AUTH_ID")
    plivo_backup_auth_token: str | None = Field(default=None, alias="PLIVO_BACKUP_AUTH_TOKEN")
    plivo_backup_base_url: str | None = Field(default=None, alias="PLIVO_BACKUP_BASE_URL")
    # A pending notification (or escalation step) handed to the broker this long ago
    # and still pending was lost, with the broker or with a worker that died holding
    # it: it is handed over again (a step by escalation.hand_over_steps, a send by
    # notify.hand_over_sends).
    # Longer than the longest wait kept in the broker
    # (worker.sending.handover.BROKER_HOLD_MAX_S, 5 s) with room for a queue.
    requeue_lost_after_s: float = Field(default=10.0, ge=5, alias="REQUEUE_LOST_AFTER_S")
    # How long an unknown send waits for its own status callback before Plivo is asked.
    reconcile_grace_s: float = Field(default=20.0, ge=0, alias="RECONCILE_GRACE_S")
    breaker_failures: int = Field(default=5, ge=1, alias="BREAKER_FAILURES")
    breaker_open_s: float = Field(default=30.0, gt=0, alias="BREAKER_OPEN_S")
    # Send SMS through a Plivo Powerpack (its number pool) instead of PLIVO_FROM.
    plivo_powerpack_uuid: str | None = Field(default=None, alias="PLIVO_POWERPACK_UUID")
    # A person paged within this many seconds gets further alerts bundled into one message.
    bundle_window_s: float = Field(default=60.0, ge=0, le=600, alias="BUNDLE_WINDOW_S")
    # A person's first page waits this long for more alerts arriving for them in
    # separate requests, and names them all (alerts of one request always ride
    # together, with no wait). 0: the first page leaves at once.
    coalesce_window_s: float = Field(default=0.0, ge=0, le=5, alias="COALESCE_WINDOW_S")
    # Changes (deploys) to an alert's service this many seconds before it began are
    # shown with it (shared.alerts.changes).
    change_window_s: float = Field(default=1800.0, ge=0, le=86400, alias="CHANGE_WINDOW_S")
    # A page call offers "3 to join the incident bridge", a Plivo conference per alert
    # (shared.incident_bridge); INCIDENT_BRIDGE_RECORD records it (the URL in the timeline).
    incident_bridge: bool = Field(default=False, alias="INCIDENT_BRIDGE")
    incident_bridge_record: bool = Field(default=False, alias="INCIDENT_BRIDGE_RECORD")
    # The receiver routes a new alert itself while it has nothing else in hand, saving
    # the first page a trip through the broker (worker.route_on_arrival).
    route_on_arrival: bool = Field(default=True, alias="ROUTE_ON_ARRIVAL")
    plivo_connect_timeout: float = Field(default=3.05, gt=0, alias="PLIVO_CONNECT_TIMEOUT")
    plivo_read_timeout: float = Field(default=8.0, gt=0, alias="PLIVO_READ_TIMEOUT")
    call_ring_timeout: int = Field(default=30, ge=5, le=120, alias="CALL_RING_TIMEOUT")
    public_base_url: str = Field(default="http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")
    api_tokens: str = Field(default="dev-token", alias="API_TOKENS")
    # The read-only status page (/status): tokens of its own, comma-separated; unset,
    # API_TOKENS open it. Its own token in a URL (?token=) cannot post or ack alerts.
    status_page_token: str | None = Field(default=None, alias="STATUS_PAGE_TOKEN")
    # Per-integration tokens: "alertmanager=tok1,grafana=tok2,pagerduty=tok3".
    integration_tokens: str = Field(default="", alias="INTEGRATION_TOKENS")
    grafana_hmac_secret: str | None = Field(default=None, alias="GRAFANA_HMAC_SECRET")
    # Signs the token in each iCalendar feed's URL (shared.schedules.ical); no default,
    # so unset the feeds answer 404 everywhere. At least 16 characters.
    ical_secret: str | None = Field(default=None, alias="ICAL_SECRET")
    config_file: Path | None = Field(default=None, alias="CONFIG_FILE")
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, alias="MAX_BODY_BYTES")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # Each Celery worker serves the metrics of all its children here (0: not served).
    worker_metrics_port: int = Field(default=9808, ge=0, le=65535, alias="WORKER_METRICS_PORT")
    worker_metrics_host: str = Field(default="127.0.0.1", alias="WORKER_METRICS_HOST")
    # Rate limits, global across every worker (shared.sending.limits).
    sms_per_second: float = Field(default=5.0, gt=0, alias="SMS_PER_SECOND")
    calls_per_second: float = Field(default=2.0, gt=0, alias="CALLS_PER_SECOND")
    sender_sms_per_second: float = Field(default=5.0, gt=0, alias="SENDER_SMS_PER_SECOND")
    person_sms_per_15m: int = Field(default=5, ge=1, alias="PERSON_SMS_PER_15M")
    person_sms_per_hour: int = Field(default=11, ge=1, alias="PERSON_SMS_PER_HOUR")
    person_calls_per_15m: int = Field(default=3, ge=1, alias="PERSON_CALLS_PER_15M")
    # Look-ups (listing an account's messages or calls to settle a send of unknown
    # outcome) share Plivo's 300 API requests per 5 s with the sends: this many of
    # them per account, so a storm of look-ups cannot get the sends refused (429).
    plivo_lookups_per_5s: int = Field(default=150, ge=1, le=300, alias="PLIVO_LOOKUPS_PER_5S")
    # A notice's send found late (beat was down) still goes this long after its due
    # time; later it is missed: logged at ERROR and counted, never sent.
    notice_grace_s: float = Field(default=900.0, ge=0, alias="NOTICE_GRACE_S")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """Empty is unset (compose's `${REDIS_URL:-}`)."""
        if not value:
            return None
        from shared.core.redis_url import check_redis_url

        return check_redis_url(value)

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        """Empty is unset: the broker is then the Redis of REDIS_URL."""
        if not value:
            return None
        from shared.core.redis_url import check_redis_url, scheme_of

        if scheme_of(value) in ("amqp", "amqps"):
            return value
        try:
            return check_redis_url(value)
        except ValueError:
            raise ValueError(
                "must start with amqp:// or amqps:// (RabbitMQ), or redis://, rediss:// "
                "or sentinel:// (Redis); unset, the broker is the Redis of REDIS_URL"
            ) from None

    @field_validator("plivo_auth_id", "plivo_backup_auth_id")
    @classmethod
    def _auth_id_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) != 20 or value[:2] not in ("MA", "SA") or not value.isalnum():
            raise ValueError("must be 20 letters and digits starting with MA or SA")
        return value

    @field_validator("plivo_base_url", "public_base_url", "plivo_backup_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://example.com")
        return value.rstrip("/")

    @field_validator("plivo_from")
    @classmethod
    def _sender_e164(cls, value: str) -> str:
        """One sender number, or a pool of them separated by commas."""
        from shared.core.phone import InvalidPhoneNumber, normalize_e164

        numbers = [part.strip() for part in value.split(",") if part.strip()]
        if not numbers:
            raise ValueError("give at least one sender number")
        try:
            return ",".join(dict.fromkeys(normalize_e164(n) for n in numbers))
        except InvalidPhoneNumber as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("status_page_token")
    @classmethod
    def _optional_tokens(cls, value: str | None) -> str | None:
        """Empty is unset (compose's `${STATUS_PAGE_TOKEN:-}`); only commas is a mistake."""
        if not value:
            return None
        if not [t for t in value.split(",") if t.strip()]:
            raise ValueError("must hold at least one token (comma-separated), or be unset")
        return value

    @field_validator("ical_secret")
    @classmethod
    def _ical_secret(cls, value: str | None) -> str | None:
        """Empty is unset; a short secret could be guessed from one feed's token."""
        if not value:
            return None
        if len(value.strip()) < 16:
            raise ValueError("must be at least 16 characters (or unset: no calendar feeds)")
        return value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_present(cls, value: str) -> str:
        if not [t for t in value.split(",") if t.strip()]:
            raise ValueError("must hold at least one token (comma-separated)")
        return value

    @field_validator("config_file")
    @classmethod
    def _config_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @property
    def sender_numbers(self) -> tuple[str, ...]:
        return tuple(self.plivo_from.split(","))

    @property
    def ingest_tokens(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.api_tokens.split(",") if t.strip())

    @property
    def status_page_tokens(self) -> tuple[str, ...]:
        """The tokens that open the status page: its own when set, else the API's."""
        if not self.status_page_token:
            return self.ingest_tokens
        return tuple(t.strip() for t in self.status_page_token.split(",") if t.strip())

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'alert-dispatch.db').resolve()}"

    @property
    def has_backup_account(self) -> bool:
        return bool(self.plivo_backup_auth_id and self.plivo_backup_auth_token)

    @property
    def callback_tokens(self) -> tuple[str, ...]:
        """Every auth token whose signature a Plivo callback may carry."""
        tokens = [self.plivo_auth_token]
        if self.has_backup_account and self.plivo_backup_auth_token:
            tokens.append(self.plivo_backup_auth_token)
        return tuple(tokens)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per wrong setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            field = Settings.model_fields.get(name)
            env_name = field.alias if field and field.alias else name.upper()
            problems.append(f"{env_name}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None
