"""REDIS_URL forms: Sentinel parsed for redis-py and for kombu, bad URLs named."""

from __future__ import annotations

import pytest

from shared.core.redis_url import (
    RedisUrlError,
    SentinelUrl,
    check_redis_url,
    kombu_broker,
    parse_sentinel_url,
)
from shared.core.settings import SettingsError, load_settings


def test_a_sentinel_url_names_every_sentinel_the_service_and_the_db() -> None:
    parsed = parse_sentinel_url("sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/pager?db=2")
    assert parsed == SentinelUrl(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380)),
        service="pager",
        db=2,
        password="s3cret",
    )
    assert parse_sentinel_url("sentinel://h:1/pager/3").db == 3


def test_kombu_gets_one_url_per_sentinel_and_the_master_name() -> None:
    url, options = kombu_broker(
        "sentinel://u:p%40ss@a:26379,b:26380/pager?db=1&sentinel_password=sp"
    )
    assert url == "sentinel://u:p%40ss@a:26379/1;sentinel://u:p%40ss@b:26380/1"
    assert options == {"master_name": "pager", "sentinel_kwargs": {"password": "sp"}}
    assert kombu_broker("unix:///run/r.sock") == ("redis+socket:///run/r.sock", {})
    assert kombu_broker("redis://h:6379/0") == ("redis://h:6379/0", {})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sentinel://h:26379", "service"),
        ("sentinel:///pager", "at least one sentinel"),
        ("sentinel://h:port/pager", "port is not a number"),
        ("sentinel://h:1/pager?db=x", "db must be a whole number"),
        ("http://h:6379", "must start with redis://"),
    ],
)
def test_a_malformed_url_is_refused_with_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(RedisUrlError, match=problem):
        check_redis_url(url)


def test_settings_name_the_wrong_url_and_take_empty_as_unset() -> None:
    with pytest.raises(SettingsError, match="REDIS_URL: .*sentinel://host:port"):
        load_settings(REDIS_URL="sentinel://nohost")
    with pytest.raises(SettingsError, match="BROKER_URL: .*amqp://"):
        load_settings(BROKER_URL="kafka://k:9092")
    settings = load_settings(REDIS_URL="", BROKER_URL="")
    assert settings.redis_url is None and settings.broker_url is None
    assert load_settings(BROKER_URL="amqp://u:p@mq:5672/v").broker_url == "amqp://u:p@mq:5672/v"
