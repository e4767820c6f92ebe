"""The HTTP client the webhooks go out on: ONE aiohttp session for the gateway's lifetime.

Why aiohttp and not httpx (issue 16): py-spy on the gateway draining a backlog showed httpx
(its httpcore pool scanning every pooled connection on each request, the anyio layers) at about
19% of the gateway's CPU; on this machine a POST to a local endpoint at 20 at once cost about
2.4 ms of CPU with httpx 0.28 and 0.2 ms with aiohttp 3.14 (its C HTTP parser, a pool keyed by
endpoint). httpx stays for the tests and tools.

Rules kept here:
- one session and one connector, made once by the lifespan (`webhook_session`): a pool of
  keep-alive connections per provider endpoint (host, port, TLS), at most `PER_ENDPOINT` each;
  the TLS context is built once, verifying certificates and host names against certifi's CA
  bundle (the one httpx used), never turned off;
- timeouts are explicit: connecting (`connect_timeout`), each read (`read_timeout`) and the
  whole attempt (their sum, so an attempt never outlasts the delivery lease; see config);
- redirects are never followed (a redirect is the provider's answer, judged by its status);
- the answer's body is never kept: at most `MAX_ANSWER_BYTES` are read (so the connection can
  be reused) and dropped; a longer body closes the connection instead; header sizes are
  bounded by aiohttp's parser (8 KiB a line);
- a transport failure raises `WebhookFailure` with a code from a closed set (`timeout`,
  `connect_error`, `transport_error`): no URL, no text of the provider's, nothing personal.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import aiohttp
import certifi

PER_ENDPOINT: Final = 100  # above the workers' concurrent attempts (2 x 20): none waits
MAX_ANSWER_BYTES: Final = 64 * 1024


class WebhookFailure(Exception):
    """No answer from the provider; `code` says why (see the docstring's closed set)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Answer:
    """What a provider answered: its status and the one header the retry policy reads."""

    status: int
    retry_after: str | None


@asynccontextmanager
async def webhook_session(
    *, connect_timeout: float, read_timeout: float
) -> AsyncIterator[aiohttp.ClientSession]:
    """The gateway's one webhook session (see the docstring), closed when the block ends."""
    tls = ssl.create_default_context(cafile=certifi.where())
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_ENDPOINT, ssl=tls)
    timeout = aiohttp.ClientTimeout(
        total=connect_timeout + read_timeout,
        sock_connect=connect_timeout,
        sock_read=read_timeout,
    )
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,  # the body is dropped unread: nothing to inflate
        cookie_jar=aiohttp.DummyCookieJar(),  # a provider's cookies are never sent back
        skip_auto_headers=("User-Agent",),
    ) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> Answer:
    """POST `body` to `url`; the provider's answer, or `WebhookFailure` when there is none."""
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
            await _drop_answer(r)
            return Answer(r.status, r.headers.get("Retry-After"))
    except TimeoutError:
        raise WebhookFailure("timeout") from None
    except aiohttp.ClientConnectorError:
        raise WebhookFailure("connect_error") from None
    except aiohttp.ClientError:
        raise WebhookFailure("transport_error") from None


async def _drop_answer(response: aiohttp.ClientResponse) -> None:
    """Read and drop at most `MAX_ANSWER_BYTES` of the body; past that, close the connection."""
    left = MAX_ANSWER_BYTES
    while left > 0 and not response.content.at_eof():
        chunk = await response.content.read(left)
        if not chunk:
            break
        left -= len(chunk)
    if not response.content.at_eof():
        response.close()  # not drained: the connection is not reused
