"""Where the simulator may send requests: its receiver, and nowhere else.

The simulator signs what it sends, fetches answer URLs and follows the XML it
gets back. Sending to any URL it is given would make it a signing oracle and a
way into whatever network it runs in. So every outbound request must go to the
one receiver it was configured with (same scheme, host and port); without
one, only to loopback hosts, where tests run their receivers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def normalized_receiver_url(url: str) -> str:
    """The receiver URL without a trailing slash; ValueError when it is not http(s)."""
    if origin(url) is None:
        raise ValueError(
            f"receiver URL must be an http(s) URL such as http://127.0.0.1:8000, not {url!r}"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(url: str, receiver_url: str | None) -> str | None:
    """Why the simulator must not send a request to `url`; None when it may."""
    target = origin(url)
    if target is None:
        return "not an http(s) URL"
    if receiver_url is None:
        return None if _is_loopback(target[1]) else "not a loopback address"
    if target != origin(receiver_url):
        return f"not on the configured receiver {receiver_url}"
    return None
