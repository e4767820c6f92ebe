"""Every service's HTTP server runs on uvloop and httptools, never the pure-Python fallbacks."""

from __future__ import annotations

import asyncio

import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.serving import SERVER_HTTP, SERVER_LOOP


def test_services_parse_http_with_httptools_on_the_uvloop_event_loop() -> None:
    config = uvicorn.Config(FastAPI(), loop=SERVER_LOOP, http=SERVER_HTTP, log_config=None)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert not type(loop).__module__.startswith(asyncio.__name__)
    finally:
        loop.close()
