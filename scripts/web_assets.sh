#!/usr/bin/env bash
# The web referral form's outside pieces, installed by the project itself (idempotent):
#   - GOV.UK Frontend (npm package `govuk-frontend`, version pinned in
#     services/intake/web/frontend/package-lock.json) into that folder's node_modules
#     (git-ignored); intake serves its dist CSS, JS, fonts and images;
#   - Debian's `chromium`, which the browser tests drive with Playwright (Playwright's own
#     browser download is not used: `executable_path=/usr/bin/chromium`).
# Node.js/npm and chromium come from apt-get when missing (needs root, as on CI).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FRONTEND="$ROOT/services/intake/web/frontend"
want="$(sha256sum "$FRONTEND/package-lock.json" | cut -d' ' -f1)"
stamp="$FRONTEND/node_modules/.installed-stamp"

apt_install() {
    [[ $EUID -eq 0 ]] || die "$* missing: install it with apt-get (needs root): apt-get install -y $*"
    log "web assets: apt-get install $*"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "web assets: govuk-frontend up to date"
else
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    log "web assets: installing govuk-frontend (npm ci)"
    (cd "$FRONTEND" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$want" >"$stamp"
fi

if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
    apt_install chromium
fi
log "web assets: ready (chromium $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | awk '{print $2}'))"
