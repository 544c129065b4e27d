"""The naive pager's Celery app: `celery -A bench.naive.tasks worker`.

Celery's defaults (acknowledged on receipt, four messages prefetched per
child), as an application built the obvious way has them. Two tasks: post
one SMS and store its uuid; apply one delivery report with one UPDATE.
"""

from __future__ import annotations

import os
from functools import lru_cache

from celery import Celery
from sqlalchemy import update
from sqlalchemy.orm import Session

from bench.naive.config import STATUS_PATH, NaiveConfig
from bench.naive.store import NaiveMessage, engine
from shared.plivo.client import PlivoClient

SEND_PAGE = "naive.send_page"
RECORD_REPORT = "naive.record_report"


@lru_cache(maxsize=1)
def config() -> NaiveConfig:
    return NaiveConfig.from_env()


app = Celery("naive_pager", broker=os.environ.get("NAIVE_BROKER_URL", "memory://"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@lru_cache(maxsize=4)
def client_for(pid: int) -> PlivoClient:
    """One client per process: prefork children must not share a pooled connection."""
    settings = config()
    return PlivoClient(
        auth_id=settings.plivo_auth_id,
        auth_token=settings.plivo_auth_token,
        base_url=settings.plivo_base_url,
    )


@app.task(name=SEND_PAGE)
def send_page(alert_id: int, destination: str, text: str) -> str:
    """POST the SMS, then remember its uuid for the delivery reports."""
    settings = config()
    result = client_for(os.getpid()).send_sms(
        src=settings.plivo_from,
        dst=destination,
        text=text,
        callback_url=f"{settings.public_url}{STATUS_PATH}",
    )
    uuid = result.message_uuids[0] if result.message_uuids else ""
    with Session(engine(settings.database_url)) as session:
        session.add(NaiveMessage(alert_id=alert_id, destination=destination, uuid=uuid))
        session.commit()
    return uuid


@app.task(name=RECORD_REPORT)
def record_report(message_uuid: str, status: str) -> None:
    """One UPDATE: the message's latest status as Plivo reported it."""
    with Session(engine(config().database_url)) as session:
        session.execute(
            update(NaiveMessage).where(NaiveMessage.uuid == message_uuid).values(status=status)
        )
        session.commit()
