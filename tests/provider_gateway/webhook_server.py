"""A provider's webhook endpoint as a real HTTP/1.1 server on 127.0.0.1, for the webhook sender's
tests: each request is handed to the test's `handler`, which answers, or misbehaves as a broken
endpoint does (waits past the read timeout, writes garbage, closes without answering).

Small on purpose (a raw asyncio server, Content-Length bodies, keep-alive), so a test can make
the wire do what no well-behaved server library would. `sender(handler)` (delivery_fakes) puts
the gateway's real webhook client (adapters.webhook_client) in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

PATH = "/webhooks/juno"


@dataclass(frozen=True)
class Received:
    """One request as the endpoint got it; header names lower-cased."""

    url: str
    headers: dict[str, str]
    content: bytes
    connection: int  # which connection it came on (counted from 1 as they are accepted)


@dataclass(frozen=True)
class Reply:
    """An answer (`status`, `headers`, `body`), or a misbehaviour: `wait` seconds first, send
    `raw` bytes instead, or `close` the connection without a word."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    wait: float = 0.0
    raw: bytes | None = None
    close: bool = False


Handler = Callable[[Received], Reply]


async def _request(reader: asyncio.StreamReader, base: str, connection: int) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for f in fields:
        if f:
            name, _, value = f.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(base + line.split(" ")[1], headers, body, connection)


def _answer(reply: Reply) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(reply.body)}"]
    lines += [f"{k}: {v}" for k, v in reply.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + reply.body


@asynccontextmanager
async def webhook_server(handler: Handler) -> AsyncIterator[str]:
    """Serves `handler` on a free loopback port; yields the webhook URL."""
    base, accepted = "", itertools.count(1)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(accepted)
        try:
            while (request := await _request(reader, base, connection)) is not None:
                reply = handler(request)
                await asyncio.sleep(reply.wait)
                if reply.close:
                    return
                writer.write(reply.raw if reply.raw is not None else _answer(reply))
                await writer.drain()
                if reply.raw is not None:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield base + PATH
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


def answering(status: int = 202, seen: list[Received] | None = None) -> Handler:
    """A handler that notes each request in `seen` and answers `status`."""

    def handler(request: Received) -> Reply:
        if seen is not None:
            seen.append(request)
        return Reply(status)

    return handler
