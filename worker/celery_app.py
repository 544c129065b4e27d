"""The Celery application: `celery -A worker.celery_app worker`.

Delivery semantics are chosen for paging: a task is acknowledged only after
it ran (`acks_late`), a killed child's task goes back to the queue
(`task_reject_on_worker_lost`), and a worker holds one task at a time
(prefetch 1) so a crash strands nothing else. That means any task can run
twice; every task is written to be idempotent. The broker is the Redis of
REDIS_URL or RabbitMQ (BROKER_URL): worker.broker_config.

The task modules import `app` from here to register on it, so this module
never imports them: Celery does, through `include`, when a worker (or beat)
starts. A process that only enqueues (the receiver, the bridge) names tasks
by their string (`worker.task_names`) and loads none of them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import (
    beat_init,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

# Masks numbers in Celery's own log handlers. Imported here rather than
# through `include`: beat sets its logging up before it imports those modules.
import worker.log_masking  # noqa: F401
import worker.publish_time  # noqa: F401  (stamps each message: the queue-age gauge)
from shared.core.embedded_redis import resolve_redis_url
from shared.core.metrics import MULTIPROC_ENV, mark_process_dead, prepare_multiprocess
from shared.core.startup_objects import freeze_startup_objects
from shared.startup_checks import exit_if_refused, settings_or_exit
from worker import context, task_names
from worker.broker_config import amqp_send_options, broker_config, is_amqp
from worker.queues import HAND_OVER_PRIORITY, NOTICE_PRIORITY, NOTIFY, ROUTES

# Imported by every worker and beat at start: one task per module under worker/tasks/.
TASK_PACKAGES = ["worker.tasks"]


def celery_config() -> dict[str, object]:
    """The configuration, read when Celery first needs it rather than at import:
    importing a task module reads no settings and starts no embedded Redis."""
    settings = settings_or_exit(context.settings)
    # The limiter, locks and breaker live in Redis whichever the broker is.
    redis_url = resolve_redis_url(settings.redis_url, settings.data_dir)
    return dict(
        # Redis (priorities per step) or RabbitMQ (quorum queues): worker.broker_config.
        **broker_config(settings.broker_url, redis_url),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=NOTIFY,
        task_routes=ROUTES,
        timezone="UTC",
        worker_hijack_root_logger=False,
        beat_scheduler="worker.beat_leader:LeaderScheduler",  # one beat sends at a time
        beat_schedule={
            "tick": {"task": task_names.TICK, "schedule": 1.0, "options": {"expires": 5}},
            # Sends whose wait is over (worker.tasks.hand_over_sends), and escalation
            # steps due and acknowledgements timed out (worker.tasks.hand_over_steps).
            "hand-over-sends": _hand_over_every_second(task_names.HAND_OVER_SENDS),
            "hand-over-steps": _hand_over_every_second(task_names.HAND_OVER_STEPS),
            # Maintenance notices due or missed (worker.tasks.notices_tick), behind pages.
            "notices-tick": {
                "task": task_names.NOTICES_TICK,
                "schedule": 1.0,
                "options": {"expires": 10, "priority": NOTICE_PRIORITY},
            },
            # Texts to people about to come on call (worker.tasks.handoff_notices), behind pages.
            "handoff-notices": {
                "task": task_names.HANDOFF_NOTICES,
                "schedule": 30.0,
                "options": {"expires": 25, "priority": NOTICE_PRIORITY},
            },
        },
    )


def _hand_over_every_second(task: str) -> dict[str, object]:
    """A beat entry for a hand-over: every second, on the notify queue at the first
    priority, ahead of any routing backlog; a run missed is the next second's."""
    return {
        "task": task,
        "schedule": 1.0,
        "options": {"expires": 2, "priority": HAND_OVER_PRIORITY},
    }


class DispatchCelery(Celery):
    """Celery, with each publish to RabbitMQ put on RabbitMQ's terms (priority scale,
    sub-second waits: worker.broker_config; every task leaves through `send_task`),
    and a worker that exits when its stop after an unrecoverable error hangs
    (worker.stop_deadline)."""

    @cached_property
    def Worker(self) -> type:  # noqa: N802 - Celery's name
        return self.subclass_with_self("worker.stop_deadline:DeadlineWorker")

    def send_task(
        self,
        name: str,
        args: Any = None,
        kwargs: Any = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        **options: Any,
    ) -> Any:
        if is_amqp(self.conf.broker_url):
            now = datetime.now(UTC)
            if eta is not None:  # naive: UTC, as the rest of the project keeps time
                aware = eta if eta.tzinfo else eta.replace(tzinfo=UTC)
                countdown, eta = (aware - now).total_seconds(), None
            countdown, options = amqp_send_options(countdown, options, now)
        return super().send_task(name, args, kwargs, countdown, eta, **options)


def create_celery_app() -> Celery:
    app = DispatchCelery("alert_dispatch", include=TASK_PACKAGES)
    app.add_defaults(celery_config)  # a callable: evaluated on first use of app.conf
    return app


app = create_celery_app()


@worker_process_init.connect
def _freeze_startup_objects(**_: object) -> None:
    """In each pool child once forked: the task modules' objects stay out of the full
    garbage collections that would otherwise pause a page (shared.core.startup_objects)."""
    freeze_startup_objects()


@worker_process_shutdown.connect
def _forget_dead_child(pid: int | None = None, **_: object) -> None:
    if pid:
        mark_process_dead(pid)


@worker_init.connect
def _refuse_unsafe_worker(**_: object) -> None:
    """Before the pool forks: stop on a public default secret in production or an
    invalid on-call file; a valid file becomes the one in force for every child."""
    exit_if_refused(context.settings(), oncall_config=True)


@worker_init.connect
def _metrics_for_every_child(sender: object = None, **_: object) -> None:
    """Before the pool forks: the children count into files of this worker's own
    directory (emptied now), so its metrics server adds them all up."""
    node = str(getattr(sender, "hostname", None) or os.getpid())
    prepare_multiprocess(context.settings().data_dir, f"worker/{node}")


@worker_ready.connect
def _serve_metrics(**_: object) -> None:
    """Once per worker, in the parent: the children's metrics on WORKER_METRICS_PORT."""
    from worker.metrics_server import serve_worker_metrics

    settings = context.settings()
    serve_worker_metrics(
        Path(os.environ[MULTIPROC_ENV]), settings.worker_metrics_host, settings.worker_metrics_port
    )


@beat_init.connect
def _refuse_unsafe_beat(**_: object) -> None:
    exit_if_refused(context.settings(), oncall_config=False)
