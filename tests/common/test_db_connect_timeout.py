"""Connecting to a PostgreSQL that accepts TCP but never answers fails fast, not after a minute."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.common.db import create_pool


async def test_a_server_that_never_answers_fails_the_connect_within_the_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            await create_pool(f"postgresql://nobody:x@127.0.0.1:{port}/none")
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    # asyncpg's own default was 60 s; a request waiting on this would wait as long.
    assert time.monotonic() - started < 8.0
