"""`python -m bench.netns_relay LISTEN_HOST:PORT=TARGET_HOST:PORT ...`: TCP relays in a
process of their own, one asyncio loop for all of them.

The lab's hosts reach this machine's PostgreSQL and RabbitMQ through these relays
(bench.netns). Threads in the caller's process would wait for its interpreter
lock at every hop, adding milliseconds to each database round trip; one event
loop in its own process relays as fast as the sockets allow. A connection
whose peer vanished stays open here, as it would at a real server, until the
server itself gives up on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence

CHUNK = 65536


def parse_pair(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """`10.0.0.1:5432=127.0.0.1:5432` as ((host, port), (host, port))."""
    listen, _, target = text.partition("=")
    (lhost, _, lport), (thost, _, tport) = listen.rpartition(":"), target.rpartition(":")
    return (lhost, int(lport)), (thost, int(tport))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def handler(target: tuple[str, int]):  # type: ignore[no-untyped-def]
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        _no_delay(writer)
        _no_delay(up_writer)
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    return relay


async def serve(pairs: Sequence[tuple[tuple[str, int], tuple[str, int]]]) -> None:
    servers = [await asyncio.start_server(handler(target), *listen) for listen, target in pairs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("relaying " + ", ".join(f"{lh}:{lp} -> {th}:{tp}" for (lh, lp), (th, tp) in pairs))
    sys.stdout.flush()
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    # It stands in for the kernel's own forwarding, which waits for no scheduler.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    asyncio.run(serve([parse_pair(a) for a in args]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
