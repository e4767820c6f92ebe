"""Postcode -> local authority: the seam locality is looked up through, and its index.

Used by intake (the routing facts of a sealed referral) and the router; the router's old
module `services.router.domain.postcodes` re-exports it.

Rules kept here:
- a postcode is matched in any case and spacing: `ng72ah`, `NG7 2AH` and ` ng7  2ah ` are one key;
- the index answers for every postcode in the ONS Postcode Directory it was built from, live or
  terminated (a victim may give an old postcode; its last known authority is the best answer);
- a postcode in the directory without an authority (non-geographic ones such as PO boxes) and a
  postcode not in the directory both answer None: the caller cannot place them, so they are
  `unknown`, never `outside`;
- `knows_la_code` says whether a GSS code is an authority the directory knows, so that a mistyped
  code given by a referrer is not mistaken for a real authority elsewhere.

The index is two flat arrays (sorted 7-byte keys and 2-byte authority numbers) searched by
bisection: about 25 MB for the 2.7 million UK postcodes, loaded in milliseconds from its cached
bytes, where a dict of the same would take seconds to build and about 300 MB to hold. A list of
every 64th key (about 2 MB, built in milliseconds) is bisected first, in C, and the key is then
found among the 64 records after that fence by a byte search, in C too (a match that straddles
two records is skipped), rather than by twenty-two steps of bisection in Python.
No I/O here: `services.common.postcode_data` reads the files.
"""

from __future__ import annotations

import json
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Final, Protocol

_KEY: Final = 7  # the longest postcode without its space: AA99 9AA
_NO_LA: Final = 0xFFFF
_FENCE: Final = 64  # every _FENCE-th key is kept in a list for a first bisection in C
_MAGIC: Final = b"NSAS-POSTCODES-1\n"


class PostcodeDirectory(Protocol):
    """Where a postcode is, as far as local government goes."""

    def la_code(self, postcode: str) -> str | None:
        """The GSS code of the postcode's local authority, or None if it cannot be placed."""
        ...

    def knows_la_code(self, code: str) -> bool:
        """Whether `code` is a local authority this directory knows."""
        ...


def postcode_key(postcode: str) -> bytes | None:
    """The index key of a postcode (no spaces, upper case, padded to 7), or None if malformed."""
    compact = "".join(postcode.split()).upper()
    if not 5 <= len(compact) <= _KEY or not compact.isascii() or not compact.isalnum():
        return None
    return compact.ljust(_KEY).encode("ascii")


class PostcodeIndex:
    """A read-only, sorted postcode -> local authority index (see the module docstring)."""

    def __init__(self, keys: bytes, la_numbers: array[int], la_codes: tuple[str, ...], source: str):
        if len(keys) != _KEY * len(la_numbers):
            raise ValueError(
                "postcode index is inconsistent: keys and authorities differ in length"
            )
        self._keys = keys
        self._la_numbers = la_numbers
        self._la_codes = la_codes
        self._known = frozenset(la_codes)
        self._fences = [keys[i : i + _KEY] for i in range(0, len(keys), _KEY * _FENCE)]
        self.source = source

    def __len__(self) -> int:
        return len(self._la_numbers)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str | None]], source: str) -> PostcodeIndex:
        """Index (postcode, GSS code or None) pairs; a postcode given twice keeps its last code."""
        by_key: dict[bytes, str | None] = {}
        for postcode, code in pairs:
            key = postcode_key(postcode)
            if key is not None:
                by_key[key] = code or None
        codes = sorted({code for code in by_key.values() if code is not None})
        if len(codes) >= _NO_LA:
            raise ValueError("too many local authorities for a 16-bit index")
        number = {code: n for n, code in enumerate(codes)}
        ordered = sorted(by_key)
        la_numbers = array(
            "H", (_NO_LA if (c := by_key[k]) is None else number[c] for k in ordered)
        )
        return cls(b"".join(ordered), la_numbers, tuple(codes), source)

    def to_bytes(self) -> bytes:
        """A self-describing serialisation that `from_bytes` reads back without sorting."""
        header = json.dumps({"source": self.source, "count": len(self), "la_codes": self._la_codes})
        numbers = array("H", self._la_numbers)
        if sys.byteorder == "big":  # stored little-endian whatever the machine
            numbers.byteswap()
        return b"".join((_MAGIC, header.encode(), b"\n", self._keys, numbers.tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> PostcodeIndex:
        """Read `to_bytes` output; ValueError if it is not one (the caller then rebuilds it)."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a postcode index")
        end = data.index(b"\n", len(_MAGIC))
        header = json.loads(data[len(_MAGIC) : end])
        count: int = header["count"]
        keys_end = end + 1 + _KEY * count
        if len(data) != keys_end + 2 * count:
            raise ValueError("postcode index is truncated")
        numbers = array("H")
        numbers.frombytes(data[keys_end:])
        if sys.byteorder == "big":
            numbers.byteswap()
        return cls(data[end + 1 : keys_end], numbers, tuple(header["la_codes"]), header["source"])

    def la_code(self, postcode: str) -> str | None:
        key = postcode_key(postcode)
        if key is None:
            return None
        keys = self._keys
        fence = bisect_left(self._fences, key)  # fences[fence - 1] < key <= fences[fence]
        start, end = max(fence - 1, 0) * _FENCE * _KEY, (fence * _FENCE + 1) * _KEY
        at = keys.find(key, start, end)  # a search in C over the records between two fences,
        while at > 0 and at % _KEY:  # where a match across two records is not the key
            at = keys.find(key, at + 1, end)
        if at < 0:
            return None
        number = self._la_numbers[at // _KEY]
        return None if number == _NO_LA else self._la_codes[number]

    def knows_la_code(self, code: str) -> bool:
        return code in self._known

    def in_district(self, outward: str) -> list[str]:
        """Every postcode of one postcode district (`"NG7"`, not NG70), as `NG7 2AH`."""
        start = outward.strip().upper().encode("ascii")
        keys, lo, hi = self._keys, 0, len(self._la_numbers)
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[mid * _KEY : mid * _KEY + len(start)] < start:
                lo = mid + 1
            else:
                hi = mid
        found = []
        while lo < len(self._la_numbers) and keys[lo * _KEY : lo * _KEY + len(start)] == start:
            compact = keys[lo * _KEY : lo * _KEY + _KEY].decode("ascii").rstrip()
            if len(compact) - 3 == len(start):  # NG7 2AH, not NG70 1AA
                found.append(f"{compact[:-3]} {compact[-3:]}")
            lo += 1
        return found
