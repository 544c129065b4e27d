"""Posting an alert to a running stack's receiver, as a producer does."""

from __future__ import annotations

import requests

from cli.stack import Stack


def post_alert(stack: Stack, number: str, summary: str = "disk full") -> int:
    """One critical alert for `number` through the API; its id (the post must be accepted)."""
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": summary, "severity": "critical", "recipients": [number]},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]
