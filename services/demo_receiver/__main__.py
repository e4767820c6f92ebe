"""`python -m services.demo_receiver [--port 8090] [--host 127.0.0.1] [--record PATH]`.

Reads WEBHOOK_SECRET_NWA, WEBHOOK_SECRET_JUNO and WEBHOOK_SECRET_EQUATION (whsec_...) from the
environment; all three are required, and a missing one stops it with the variable's name.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.demo_receiver.app import PROVIDERS, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.demo_receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--record", type=Path, help="append each verified delivery to this JSONL file"
    )
    args = parser.parse_args(argv)
    names = {p: f"WEBHOOK_SECRET_{p.upper()}" for p in PROVIDERS}
    missing = [name for name in names.values() if not os.environ.get(name)]
    if missing:
        sys.exit("configuration error: set " + ", ".join(missing))
    secrets = {p: os.environ[name] for p, name in names.items()}

    import uvicorn

    uvicorn.run(
        create_app(secrets, args.record),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
