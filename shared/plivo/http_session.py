"""The HTTP session the Plivo client talks through: its pool, credentials and headers,
and the environment's proxy and CA settings, read once."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def plivo_session(base_url: str, auth_id: str, auth_token: str, pool_size: int) -> requests.Session:
    """A pooled session with Plivo's basic auth and no retries of its own (the caller
    decides what is safe to send again).

    The environment's proxy and CA settings are read here, once: requests reads
    them again before every request (proxy variables, no_proxy, ~/.netrc), a few
    tenths of a millisecond before each page leaves.
    """
    session = requests.Session()
    # requests' own reading of the environment (proxies, no_proxy, the CA bundle), once.
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.trust_env = False
    session.proxies, session.verify = found["proxies"], found["verify"]
    session.auth = (auth_id, auth_token)
    session.headers.update({"User-Agent": "alert-dispatch", "Accept": "application/json"})
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
