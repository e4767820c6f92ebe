"""Stopping a group-less aiokafka consumer without a stray CancelledError.

Why: aiokafka 0.14 gives a consumer with no group a task that resets its committed offsets
after each `assign`; a consumer stopped before that task has first run has it cancelled before
it starts, and `stop()` re-raises that cancellation (`NoGroupCoordinator.close`) before closing
the fetcher and the client: the caller sees CancelledError and the connections leak. It bit the
tests' reader of a topic with nothing new on it. One pass of the event loop before stopping lets
the task start, and then it stops cleanly.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """`consumer.stop()`, after letting its own tasks start (see the module's docstring)."""
    await asyncio.sleep(0)
    await consumer.stop()
