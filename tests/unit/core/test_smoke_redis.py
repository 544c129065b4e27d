def test_embedded_redis_answers(redis_client):
    redis_client.set("k", "v")
    assert redis_client.get("k") == "v"
