#!/usr/bin/env bash
# The native tool the benchmarks need, installed from Debian's packages when missing:
#   wrk       the HTTP load generator (C, multi-threaded; a Python client would measure itself)
# py-spy (the profiler) comes from PyPI with the dev extras (scripts/venv.sh).
#
#   scripts/bench_tools.sh       idempotent; needs root (or sudo) only when something is missing
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "need root to install ${missing[*]} (apt-get install -y ${missing[*]})"
    sudo=(sudo)
fi
log "installing ${missing[*]} from Debian's packages"
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || die "apt-get update failed"
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
command -v wrk >/dev/null 2>&1 || die "wrk still missing after apt-get install"
log "installed ${missing[*]}"
