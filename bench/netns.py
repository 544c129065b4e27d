"""Hosts made of Linux network namespaces: several machines' worth of networking on one.

`Lab` makes, as root, one namespace per host, joined to this machine by a veth
pair: the namespace end gets `10.N.i.2/24` and a default route through the
machine end, `10.N.i.1/24`. The processes of a host see only their own address
and their own loopback. The machine's services (PostgreSQL, RabbitMQ) listen
on 127.0.0.1 only, so the lab puts one service address, `10.N.0.1/32`, on the
machine's loopback interface and relays ports of it to them (`Relay`: socat, or
bench.netns_relay); a service started for the run (Redis, the Plivo
simulator) binds that address itself. Inside each namespace that address is
also called `simulator` (`/etc/netns/<ns>/hosts`, which `ip netns exec` puts
in place of /etc/hosts).

A process runs in its host's namespace under the host's own name (`unshare
--uts`), so `hostname` differs per host, as on real machines. `cut()` sets a
host's link down: nothing passes either way, no FIN and no RST, as when a
machine loses power.

`close()` undoes everything, after a failure too; names carry this process's
id, and namespaces left by a run that was itself killed are removed by the
next one (`sweep()`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "adns"
NETNS_ETC = Path("/etc/netns")


class LabUnavailable(RuntimeError):
    """Namespaces cannot be made here; the message says why."""


def why_unavailable() -> str | None:
    """None when this process can build a lab; else the reason, for a skip."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "hostname"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise LabUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _free_octet() -> int:
    """A second octet N such that nothing on this machine uses 10.N.0.0/16."""
    used = _ip("-4", "addr").stdout + _ip("-4", "route").stdout
    for octet in range(201, 255):
        if f"10.{octet}." not in used:
            return octet
    raise LabUnavailable("no free 10.N.0.0/16 range for the lab")


def _label() -> str:
    """The label of this run's service address on `lo` (at most 15 characters)."""
    return f"lo:{PREFIX[:2]}{os.getpid()}"


def sweep() -> None:
    """Remove what earlier runs whose process is gone left: namespaces, service addresses."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        match = re.match(rf"({PREFIX}(\d+)-\d+)", line.strip())
        if match and not Path(f"/proc/{match.group(2)}").exists():
            _ip("netns", "del", match.group(1), check=False)
            shutil.rmtree(NETNS_ETC / match.group(1), ignore_errors=True)
    for line in _ip("-4", "addr", "show", "dev", "lo", check=False).stdout.splitlines():
        match = re.search(rf"inet (\S+) .*lo:{PREFIX[:2]}(\d+)$", line.strip())
        if match and not Path(f"/proc/{match.group(2)}").exists():
            _ip("addr", "del", match.group(1), "dev", "lo", check=False)


@dataclass
class Host:
    """One namespace: `address` is the host's own, `link` the machine end of its veth."""

    name: str
    namespace: str
    address: str
    gateway: str
    link: str


class Relay:
    """TCP relays from ports of the service address to this machine's loopback: socat
    where installed (a process per connection, as fast as the kernel allows), else
    bench.netns_relay (one asyncio loop); `close()` stops them and their connections."""

    def __init__(self, pairs: Sequence[tuple[tuple[str, int], tuple[str, int]]]) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        try:
            if shutil.which("socat"):
                for (lhost, lport), (thost, tport) in pairs:
                    self._start(
                        [
                            "socat",
                            f"TCP-LISTEN:{lport},bind={lhost},fork,reuseaddr,nodelay",
                            f"TCP:{thost}:{tport},nodelay",
                        ]
                    )
            else:
                args = [f"{lh}:{lp}={th}:{tp}" for (lh, lp), (th, tp) in pairs]
                self._start([sys.executable, "-m", "bench.netns_relay", *args])
            for (lhost, lport), _ in pairs:
                self._wait_listening(lhost, lport)
        except BaseException:
            self.close()
            raise

    def _start(self, argv: list[str]) -> None:
        self.processes.append(
            subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        )

    def _wait_listening(self, host: str, port: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                return
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.05)
        raise LabUnavailable(f"the relay on {host}:{port} did not start")

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the relay and every connection of it
            process.wait(timeout=10)
        self.processes.clear()


@dataclass
class Lab:
    """The namespaces of one run, the service address, and the relays to local services."""

    octet: int = 0
    hosts: dict[str, Host] = field(default_factory=dict)
    _made_service_address: bool = False
    _made: int = 0  # hosts made so far: each gets its own subnet

    @property
    def service_address(self) -> str:
        return f"10.{self.octet}.0.1"

    def __enter__(self) -> Lab:
        reason = why_unavailable()
        if reason:
            raise LabUnavailable(reason)
        sweep()
        self.octet = _free_octet()
        try:
            _ip("addr", "add", f"{self.service_address}/32", "dev", "lo", "label", _label())
            self._made_service_address = True
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        """A namespace with a veth pair to this machine and a route to the service address."""
        self._made += 1
        index = self._made
        namespace = f"{PREFIX}{os.getpid()}-{index}"
        link = f"{PREFIX[:2]}{os.getpid() % 100000}h{index}"
        peer = f"{PREFIX[:2]}{os.getpid() % 100000}n{index}"
        subnet = f"10.{self.octet}.{index}"
        host = Host(name, namespace, f"{subnet}.2", f"{subnet}.1", link)
        self.hosts[name] = host
        _ip("netns", "add", namespace)
        _ip("link", "add", link, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", namespace)
        _ip("addr", "add", f"{host.gateway}/24", "dev", link)
        _ip("link", "set", link, "up")
        inside = ("netns", "exec", namespace, "ip")
        _ip(*inside, "addr", "add", f"{host.address}/24", "dev", peer)
        _ip(*inside, "link", "set", peer, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", host.gateway)
        etc = NETNS_ETC / namespace
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(
            f"127.0.0.1 localhost\n{host.address} {name}\n{self.service_address} simulator\n"
        )
        return host

    def remove_host(self, name: str) -> None:
        """The host's namespace, links and files go (its processes must be gone)."""
        host = self.hosts.pop(name, None)
        if host is None:
            return
        _ip("netns", "del", host.namespace, check=False)
        _ip("link", "del", host.link, check=False)
        shutil.rmtree(NETNS_ETC / host.namespace, ignore_errors=True)

    def relay(self, ports: dict[int, int]) -> Relay:
        """Each 127.0.0.1:`target` reachable from every host at service_address:`port`
        (`ports` maps port to target); the caller closes it."""
        return Relay([((self.service_address, p), ("127.0.0.1", t)) for p, t in ports.items()])

    def command(self, host: Host, argv: Sequence[str]) -> list[str]:
        """`argv` run inside `host`'s namespace under the host's own name."""
        return [
            "ip", "netns", "exec", host.namespace,
            "unshare", "--uts", "--",
            "sh", "-c", 'hostname "$0" && exec "$@"', host.name, *argv,
        ]  # fmt: skip

    def cut(self, host: Host) -> None:
        """The host's link goes down: it can neither send nor receive anything."""
        _ip("link", "set", host.link, "down")

    def close(self) -> None:
        for name in list(self.hosts):
            self.remove_host(name)
        if self._made_service_address:
            _ip("addr", "del", f"{self.service_address}/32", "dev", "lo", check=False)
            self._made_service_address = False
