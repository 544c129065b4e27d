"""Refusing to start a process whose settings would be unsafe or useless.

The built-in defaults (the simulator's account, `dev-token`, the compose
file's `change-me`) are public: they make development work with no setup, and
in production they let anyone sign Plivo callbacks or post alerts. So a
process refuses to start while any secret is one of them, once it talks to
something that is not a simulator.

The rule for "a simulator": the Plivo base URL's host is a loopback address
(`localhost`, 127.0.0.0/8, ::1) or `simulator`, the simulator's service name
in docker-compose.yml. The rule reads the URL actually in use, so it cannot
drift out of step with it the way a separate "simulator in use" flag could:
pointing PLIVO_BASE_URL (or PLIVO_BACKUP_BASE_URL) at real Plivo is enough
to switch every check on.

An on-call file that fails `alert-dispatch config check` stops the start too:
a process that started without one would accept every alert and page nobody.

So does a second host beside state only one machine sees (SQLite, or a Redis
of its own): at its start, a long-running process looks in the Redis and the
PostgreSQL it shares for the live processes of other hosts, and announces
itself there (shared.core.host_registry, the rule in shared.core.host_presence).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from shared.core.settings import Settings, SettingsError

# Host names that mean "the Plivo simulator", besides loopback addresses.
SIMULATOR_HOSTS = frozenset({"localhost", "simulator"})

# Every value shipped in the code, the compose file or the documentation.
PUBLIC_AUTH_IDS = {
    "MASIMULATOR000000000": "the public simulator default",
    "MABACKUPSIMULATOR000": "the public backup-simulator default",
}
PUBLIC_SECRETS = {
    "simulator-auth-token": "the public simulator default",
    "backup-simulator-token": "the public backup-simulator default",
    "dev-token": "the public development default",
    "demo-token": "the public demo default",
    "change-me": "the docker-compose placeholder",
    "tok-am": "an example from docs/producers.md",
    "tok-gf": "an example from docs/producers.md",
    "tok-pd": "an example from docs/producers.md",
}

REFUSAL = "alert-dispatch: refusing to start: "


class StartupRefused(Exception):
    """The process must not start; `lines` say why, ready to print."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_simulator_url(url: str) -> bool:
    """True when `url` points at a Plivo simulator under the rule in this module's docstring."""
    host = (_host(url) or "").lower()
    ip = _ip(host)
    return host in SIMULATOR_HOSTS or (ip is not None and ip.is_loopback)


def talks_to_real_plivo(settings: Settings) -> bool:
    """Whether any configured Plivo account is outside a simulator."""
    urls = [settings.plivo_base_url]
    if settings.plivo_backup_base_url:
        urls.append(settings.plivo_backup_base_url)
    return not all(is_simulator_url(url) for url in urls)


def _unreachable(url: str) -> str | None:
    """Why Plivo, on the internet, could not call `url` back; None when it may."""
    host = (_host(url) or "").lower()
    ip = _ip(host)
    if host in ("", "localhost") or (ip is not None and ip.is_loopback):
        return "a loopback address"
    if ip is not None and (ip.is_private or ip.is_link_local or ip.is_unspecified):
        return "a private address"
    if ip is None and "." not in host:
        return "a single-label host name"
    return None


def _integration_entries(raw: str) -> Iterator[tuple[str, str]]:
    """(integration, token) pairs; malformed entries are left to the integration parser."""
    for entry in raw.split(","):
        name, sep, token = entry.partition("=")
        if sep and token.strip():
            yield name.strip().lower(), token.strip()


def unsafe_defaults(settings: Settings) -> list[str]:
    """Each public default still in force, and an unreachable PUBLIC_BASE_URL, one
    phrase each; empty while every Plivo account is a simulator."""
    if not talks_to_real_plivo(settings):
        return []
    problems: list[str] = []
    accounts = [
        ("PLIVO_AUTH_ID", settings.plivo_auth_id, "PLIVO_AUTH_TOKEN", settings.plivo_auth_token)
    ]
    if settings.plivo_backup_auth_id or settings.plivo_backup_auth_token:
        accounts.append(
            (
                "PLIVO_BACKUP_AUTH_ID",
                settings.plivo_backup_auth_id,
                "PLIVO_BACKUP_AUTH_TOKEN",
                settings.plivo_backup_auth_token,
            )
        )
    for id_name, auth_id, token_name, token in accounts:
        if auth_id in PUBLIC_AUTH_IDS:
            problems.append(f"{id_name} is {PUBLIC_AUTH_IDS[auth_id]}")
        if token in PUBLIC_SECRETS:
            problems.append(f"{token_name} is {PUBLIC_SECRETS[token]}")
    for token in dict.fromkeys(settings.ingest_tokens):
        if token in PUBLIC_SECRETS:
            problems.append(f"API_TOKENS holds {PUBLIC_SECRETS[token]} ({token})")
    own_status_tokens = settings.status_page_tokens if settings.status_page_token else ()
    for token in dict.fromkeys(own_status_tokens):
        if token in PUBLIC_SECRETS:
            problems.append(f"STATUS_PAGE_TOKEN holds {PUBLIC_SECRETS[token]} ({token})")
    for name, token in _integration_entries(settings.integration_tokens):
        if token in PUBLIC_SECRETS:
            problems.append(f"INTEGRATION_TOKENS entry {name} is {PUBLIC_SECRETS[token]} ({token})")
    if settings.grafana_hmac_secret in PUBLIC_SECRETS:
        problems.append(f"GRAFANA_HMAC_SECRET is {PUBLIC_SECRETS[settings.grafana_hmac_secret]}")
    if settings.ical_secret in PUBLIC_SECRETS:
        problems.append(f"ICAL_SECRET is {PUBLIC_SECRETS[settings.ical_secret]}")
    why = _unreachable(settings.public_base_url)
    if why:
        problems.append(f"PUBLIC_BASE_URL ({settings.public_base_url}) is {why} Plivo cannot reach")
    return problems


def refusal_lines(settings: Settings, *, oncall_config: bool) -> list[str]:
    """What to print before refusing to start; empty when the process may start.

    The public defaults make one line, as the problem is one decision (this
    is production); an invalid on-call file is listed as `config check` lists
    it. With `oncall_config`, a valid file is loaded as the one in force, so a
    later broken edit keeps it.
    """
    defaults = unsafe_defaults(settings)
    integration = _integration_problem(settings)
    lines: list[str] = []
    if defaults or integration:
        reasons = [*([integration] if integration else []), *defaults]
        line = REFUSAL + "; ".join(reasons)
        if defaults:
            line += f" (PLIVO_BASE_URL {settings.plivo_base_url} is not a simulator)"
        lines.append(line)
    if oncall_config and settings.config_file is not None:
        lines += _config_lines(settings.config_file)
    return lines


def _integration_problem(settings: Settings) -> str | None:
    from shared.alerts.integration_auth import IntegrationConfigError, parse_integration_tokens

    try:
        parse_integration_tokens(settings.integration_tokens)
    except IntegrationConfigError as exc:
        return str(exc)
    return None


def _config_lines(path: Path) -> list[str]:
    from shared.routing.oncall_config import ConfigError, problem_lines
    from shared.routing.route import load_at_start

    try:
        load_at_start(path)
    except ConfigError as exc:
        return [f"{REFUSAL}CONFIG_FILE {path} is invalid:", *problem_lines(path, exc.problems)]
    return []


def check_at_start(settings: Settings, *, oncall_config: bool) -> None:
    """Raise StartupRefused when the process must not start (see refusal_lines)."""
    lines = refusal_lines(settings, oncall_config=oncall_config)
    if lines:
        raise StartupRefused(lines)


def load_checked(load: Callable[[], Settings], *, oncall_config: bool) -> Settings:
    """Settings from `load()` that passed check_at_start; StartupRefused otherwise,
    a wrong setting included (one line naming it, as the CLI prints it)."""
    try:
        settings = load()
    except SettingsError as exc:
        raise StartupRefused([f"alert-dispatch: configuration error: {exc}"]) from None
    check_at_start(settings, oncall_config=oncall_config)
    return settings


def settings_or_exit(load: Callable[[], Settings], *, exit_code: int = 2) -> Settings:
    """`load()`, or one line naming the wrong setting and an exit without a traceback."""
    try:
        return load()
    except SettingsError as exc:
        exit_with([f"alert-dispatch: configuration error: {exc}"], exit_code)


def start_or_exit(
    load: Callable[[], Settings], *, oncall_config: bool, exit_code: int = 2
) -> Settings:
    """At a process's start: checked settings, or the reasons on stderr and an exit
    without a traceback."""
    try:
        settings = load_checked(load, oncall_config=oncall_config)
    except StartupRefused as exc:
        exit_with(exc.lines, exit_code)
    exit_if_another_host(settings, exit_code)
    return settings


def exit_if_refused(settings: Settings, *, oncall_config: bool, exit_code: int = 2) -> None:
    """Like start_or_exit, for settings another part of the process already loaded."""
    try:
        check_at_start(settings, oncall_config=oncall_config)
    except StartupRefused as exc:
        exit_with(exc.lines, exit_code)
    exit_if_another_host(settings, exit_code)


def exit_if_another_host(settings: Settings, exit_code: int = 2) -> None:
    """One line and an exit when another host runs beside SQLite or a Redis of one
    machine's own; otherwise this process is announced for the other hosts to find."""
    from shared.core.host_registry import claim_host

    reason = claim_host(settings)
    if reason:
        exit_with([REFUSAL + reason], exit_code)


def exit_with(lines: list[str], exit_code: int) -> NoReturn:
    """Print `lines` to stderr and exit with `exit_code`.

    The process's real stderr: Celery replaces sys.stderr with a logger that
    would wrap each line in a log record."""
    stream = sys.__stderr__ or sys.stderr
    for line in lines:
        print(line, file=stream)
    stream.flush()
    sys.exit(exit_code)
