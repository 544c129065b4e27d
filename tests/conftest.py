"""Shared fixtures: real Redis, real databases, real processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from shared.core.embedded_redis import ensure_embedded_redis
from shared.core.settings import Settings, load_settings
from tests.bridge_harness import BridgeProcess

FIXTURES = Path(__file__).parent / "fixtures"

# The 45 files that took longest (13 s or more, setup included) in a run of the
# suite on a two-core machine, run first, longest first. Each worker takes whole files
# (--dist loadfile) in collection order, so a long file collected last (the two-host
# drill sorts near the end) kept the suite waiting on one worker alone at its end.
LONGEST_FIRST = (
    "test_long_waits_in_database.py",
    "test_openapi_contract.py",
    "test_bridge_dead_letters.py",
    "test_resolved_while_held.py",
    "test_log_masking.py",
    "test_escalation_flows.py",
    "test_cli_papercuts.py",
    "test_notice_worker_killed.py",
    "test_storm.py",
    "test_security_ingest.py",
    "test_bridge.py",
    "test_two_hosts.py",
    "test_metrics_as_deployed.py",
    "test_escalation_snapshot.py",
    "test_prometheus_as_deployed.py",
    "test_security_startup.py",
    "test_notice_sending.py",
    "test_ack_timeout.py",
    "test_notice_api.py",
    "test_broker_outage.py",
    "test_slow_clients.py",
    "test_hang_up_calls.py",
    "test_queue_depth_rabbitmq.py",
    "test_worker_killed_mid_send.py",
    "test_simulator.py",
    "test_demo_notice.py",
    "test_maintenance_mode.py",
    "test_lookup_budget.py",
    "test_end_to_end.py",
    "test_phlo_webhook_steps.py",
    "test_group_paging.py",
    "test_delivery_faults.py",
    "test_celery_tools.py",
    "test_beat_leader.py",
    "test_escalation_in_a_storm.py",
    "test_send_handover.py",
    "test_notice_whatsapp_phlo.py",
    "test_notice_voice.py",
    "test_step_handover.py",
    "test_rabbitmq_broker.py",
    "test_sms_delivery_reports.py",
    "test_no_send_after_ack.py",
    "test_bridge_step.py",
    "test_notice_replies.py",
    "test_prometheus_rules.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files of LONGEST_FIRST first, in that order; the rest keep theirs."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL when set, else a real embedded redis-server for this session."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = ensure_embedded_redis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on an emptied database, so tests do not see each other's keys."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _postgres_for_this_worker(url: str) -> str:
    """Under pytest-xdist each worker gets its own database (`test_gw0`, ...), made
    once: the tests drop and recreate the schema, which workers must not share."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not found:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per process, copied for each test (tests.fresh_databases)."""
    from tests.fresh_databases import migrated_sqlite as migrate

    return migrate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite always, PostgreSQL too when TEST_DATABASE_URL is set."""
    from tests.fresh_databases import copy_of, fresh_postgres

    if request.param == "postgresql":
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("TEST_DATABASE_URL is not set")
        url = _postgres_for_this_worker(url)
        fresh_postgres(url)
        return url
    return copy_of(request.getfixturevalue("migrated_sqlite"), tmp_path / "test.db")


@pytest.fixture(scope="session")
def broker_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Point this process's Celery producer at the test Redis before it is first imported."""
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DATA_DIR", str(tmp_path_factory.mktemp("data")))
    return redis_url


@pytest.fixture
def in_process_env(database_url: str, broker_env: str, tmp_path: Path) -> dict[str, str]:
    """The environment of worker tasks run in this process: this test's database, the
    test broker, its own data directory. A test adds what it needs and applies it with
    tests.worker_caches.worker_environment."""
    return {"DATABASE_URL": database_url, "REDIS_URL": broker_env, "DATA_DIR": str(tmp_path)}


@pytest.fixture(scope="module")
def stack_broker(broker_env: str) -> str:
    """The test Redis, emptied for one module's stack: what an earlier test of this
    process left there must not reach it (a delivery report waiting in the inbox made
    every later push wait for a tick that a stack without beat never runs)."""
    client = redis.Redis.from_url(broker_env)
    try:
        client.flushdb()
    finally:
        client.close()
    return broker_env


class ServedApp:
    """A WSGI app served over real HTTP on loopback, in a thread."""

    def __init__(self, app, port: int) -> None:  # type: ignore[no-untyped-def]
        import threading

        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def receiver_settings(
    database_url: str, broker_url: str, data_dir: Path, port: int, **overrides: str
) -> Settings:
    """Settings of an in-process receiver served on `port`: this test's database and
    broker, Plivo's signatures checked with the simulator's token; `overrides` add or
    replace settings (API_TOKENS is the tests' pair unless given)."""
    from cli.stack import SIMULATOR_AUTH_TOKEN

    return load_settings(
        **{
            "DATABASE_URL": database_url,
            "REDIS_URL": broker_url,
            "DATA_DIR": str(data_dir),
            "API_TOKENS": "token-one,token-two",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
            **overrides,
        }
    )


@pytest.fixture
def receiver(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The Flask receiver over HTTP, on a real database and the real broker."""
    from cli.stack import free_port
    from webhooks.app import create_app
    from worker import enqueue

    port = free_port()
    settings = receiver_settings(
        database_url, broker_env, tmp_path, port, MAX_BODY_BYTES=str(1024 * 1024)
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    served.settings = settings  # type: ignore[attr-defined]
    yield served
    served.stop()


@pytest.fixture
def names() -> dict[str, str]:
    """Stream, group and dead-letter channel names of one bus-bridge test."""
    import uuid

    suffix = uuid.uuid4().hex[:8]
    return {
        "stream": f"test:events:{suffix}",
        "group": f"group-{suffix}",
        "dead_channel": f"test:channels:dead:{suffix}",
    }


@pytest.fixture
def start_bridge(
    database_url: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path, names
) -> Iterator[Callable[..., BridgeProcess]]:
    """`start(consumer, ...)`: a real `alert-dispatch bridge` on this test's stream and channels."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }
    started: list[BridgeProcess] = []

    def start(
        consumer: str = "bridge-a",
        claim_idle_ms: int = 60_000,
        batch: int = 10,
        channels: str = "if.bus:*",
    ) -> BridgeProcess:
        process = BridgeProcess(
            [
                "--streams",
                names["stream"],
                "--group",
                names["group"],
                "--consumer",
                consumer,
                "--channels",
                channels,
                "--channel-dead-letter",
                names["dead_channel"],
                "--claim-idle-ms",
                str(claim_idle_ms),
                "--batch",
                str(batch),
            ],
            env,
            tmp_path / f"bridge-{len(started)}.log",
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture
def drain(database_url: str, broker_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The worker's drain task, run in this process on the test's database and Redis."""
    from tests.worker_caches import clear_worker_caches
    from worker.tasks.apply_delivery_reports import apply_delivery_reports

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    clear_worker_caches()
    yield apply_delivery_reports
    clear_worker_caches()
