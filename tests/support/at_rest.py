"""Searching what the real Kafka broker and PostgreSQL keep on disk for strings (issue 14).

The privacy test writes referrals with unique markers, runs them end to end and then reads the
raw bytes of every file under Kafka's data directory (log segments, indexes, snapshots) and
PostgreSQL's data directory (heap, indexes, TOAST, pg_wal, after a CHECKPOINT). A marker found
there is a personal field in clear at rest.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.support.infra import DEV, ROOT


def kafka_data_dir() -> Path:
    return DEV / "kafka" / "data"


def postgres_data_dir() -> Path:
    """`.dev/pg/data`, or where `.dev/pg-location` says the cluster lives (run as root)."""
    location = DEV / "pg-location"
    base = Path(location.read_text().strip()) if location.exists() else DEV / "pg"
    return base / "data"


def checkpoint() -> None:
    """Flush PostgreSQL's dirty pages to the data files (the WAL already holds every change)."""
    subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "postgres.sh"),
            "psql",
            "-d",
            "referrals",
            "-qc",
            "CHECKPOINT",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def find_in_files(roots: Iterable[Path], needles: Iterable[bytes]) -> dict[bytes, list[Path]]:
    """Each needle found in the raw bytes of any file under `roots`, with the files it is in."""
    wanted = sorted(set(needles), key=len, reverse=True)
    pattern = re.compile(b"|".join(re.escape(n) for n in wanted))
    found: dict[bytes, list[Path]] = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                data = path.read_bytes()
            except OSError:  # a file removed while we walk (a rolled segment, a recycled WAL)
                continue
            for hit in set(pattern.findall(data)):
                found.setdefault(hit, []).append(path)
    return found
