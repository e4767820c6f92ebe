"""`decide` over several processes: chunks of lines answered by worker processes, in input order.

Why: the offline command answers a file of referrals (a replay, a backlog) and one Python process
uses one core; the lines are independent, so the cores of the machine can share them.

Rules kept here:
- the answers are exactly those of one process, in the same order: each chunk is answered by
  `decide_lines` (which keeps its lines' order) and chunks are written in the order they were
  read;
- the workers are forked once the rules and the postcode index are loaded, so they share them
  (copy on write) and start at once; each keeps its own memo of engine results, and the counts
  (`Tally`, engine evaluations) are the sums of what each chunk reports;
- input is read a chunk at a time and at most `2 x jobs` chunks are in flight, so a large file
  is streamed, not held;
- one job, or a platform without `fork`, answers in this process line by line as before; an
  input of one chunk or less is answered in this process too (a pool would cost more than it
  saves).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from multiprocessing.pool import AsyncResult

from services.router.domain import PostcodeDirectory
from services.router.engine import CachedRules
from services.router.offline.jsonl import Tally, decide_lines

CHUNK_LINES = 2_000


@dataclass(frozen=True)
class _Work:
    rules: CachedRules
    postcodes: PostcodeDirectory


# What the forked workers inherit: set just before the pool forks, cleared after it closes.
_inherited: list[_Work] = []


@dataclass(frozen=True)
class _Answered:
    text: str  # the chunk's answers, one line each
    tally: Tally
    evaluations: int


def _answer(lines: list[bytes]) -> _Answered:
    """In a worker: one chunk of lines answered, with its counts."""
    work = _inherited[0]
    tally, before = Tally(), work.rules.evaluations
    text = "".join(
        answer + "\n" for answer in decide_lines(lines, work.rules, work.postcodes, tally)
    )
    return _Answered(text, tally, work.rules.evaluations - before)


def _chunks(lines: Iterable[bytes]) -> Iterator[list[bytes]]:
    source = iter(lines)
    while chunk := list(islice(source, CHUNK_LINES)):
        yield chunk


def decide_in_parallel(
    lines: Iterable[bytes],
    rules: CachedRules,
    postcodes: PostcodeDirectory,
    tally: Tally,
    *,
    jobs: int,
) -> Iterator[str]:
    """The answers to `lines` (each ending in a newline), over `jobs` processes; counts added to
    `tally` and engine evaluations to `rules.evaluations`."""
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (answer + "\n" for answer in decide_lines(lines, rules, postcodes, tally))
        return
    chunks = _chunks(lines)
    first, second = next(chunks, []), next(chunks, None)
    if second is None:  # one chunk or less: not worth a pool
        yield from (answer + "\n" for answer in decide_lines(first, rules, postcodes, tally))
        return
    _inherited[:] = [_Work(rules, postcodes)]
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            pending: deque[AsyncResult[_Answered]] = deque()
            for chunk in _resume(first, second, chunks):
                pending.append(pool.apply_async(_answer, (chunk,)))
                if len(pending) >= 2 * jobs:
                    yield _count(pending.popleft().get(), tally, rules)
            while pending:
                yield _count(pending.popleft().get(), tally, rules)
    finally:
        _inherited.clear()


def _resume(
    first: list[bytes], second: list[bytes], rest: Iterator[list[bytes]]
) -> Iterator[list[bytes]]:
    """The chunks again, the two read ahead first."""
    yield first
    yield second
    yield from rest


def _count(answered: _Answered, tally: Tally, rules: CachedRules) -> str:
    tally.decided += answered.tally.decided
    tally.errors += answered.tally.errors
    tally.pathways.update(answered.tally.pathways)
    rules.evaluations += answered.evaluations
    return answered.text
