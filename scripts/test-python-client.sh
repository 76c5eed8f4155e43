#!/usr/bin/env bash
# Tests the Python client (clients/python) against a real `simbench serve` on a fresh database:
#  1. a virtual environment under target/ with the package (all extras), pytest and ruff;
#  2. ruff on the package and its tests;
#  3. two servers on one fresh database simbench_test_<random>: one with workers, one without
#     workers and with a low rate limit (for the 429 tests); the admin token the first start
#     writes is the tests' token;
#  4. pytest in clients/python/tests.
# The database is dropped and the servers stopped on exit. Set SIMBENCH_BIN to test a binary
# built elsewhere; otherwise `cargo build` makes target/debug/simbench.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/python-client-venv"
server_url=${DATABASE_URL:-postgres://simbench:simbench@127.0.0.1:5432/simbench}

say() { printf 'test-python-client: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_venv_module() {
    python3 -c 'import ensurepip, venv' 2>/dev/null && return
    say "installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y --no-install-recommends python3-venv >/dev/null; then
        as_root apt-get update >/dev/null
        as_root apt-get install -y --no-install-recommends python3-venv >/dev/null
    fi
}

make_venv() {
    ensure_venv_module
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "$root/clients/python[all]" pytest ruff ml_dtypes
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The URL of database $1 on the server of $server_url.
database_url() {
    python3 - "$server_url" "$1" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit
parts = urlsplit(sys.argv[1])
print(urlunsplit(parts._replace(path="/" + sys.argv[2])))
PY
}

wait_ready() {
    local url=$1 log=$2
    for _ in $(seq 1 300); do
        "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "$url/readyz" >/dev/null 2>&1 && return
        sleep 0.2
    done
    say "the server at $url did not become ready; its log:"
    cat "$log" >&2
    exit 1
}

make_venv
say "ruff"
(cd "$root/clients/python" && "$venv/bin/ruff" check . && "$venv/bin/ruff" format --check .)

binary=${SIMBENCH_BIN:-}
if [[ -z "$binary" ]]; then
    (cd "$root" && cargo build --quiet --bin simbench)
    binary="$root/target/debug/simbench"
fi

scratch=$(mktemp -d)
database="simbench_test_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    psql -X -q "$server_url" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

psql -X -q "$server_url" -c "CREATE DATABASE \"$database\"" >/dev/null
db_url=$(database_url "$database")

port=$(free_port)
SIMBENCH_LOG_FORMAT=json "$binary" serve --database-url "$db_url" --bind "127.0.0.1:$port" \
    --workers 2 --data-dir "$scratch" --admin-token-file "$scratch/admin-token" \
    >"$scratch/serve.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$port" "$scratch/serve.log"

limited_port=$(free_port)
"$binary" serve --database-url "$db_url" --bind "127.0.0.1:$limited_port" --workers 0 \
    --rate-limit-per-minute 60 --rate-limit-burst 2 --data-dir "$scratch" \
    --admin-token-file "$scratch/unused-admin-token" >"$scratch/limited.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$limited_port" "$scratch/limited.log"

say "pytest against http://127.0.0.1:$port (database $database)"
cd "$root/clients/python"
SIMBENCH_URL="http://127.0.0.1:$port" \
    SIMBENCH_TOKEN=$(cat "$scratch/admin-token") \
    SIMBENCH_RATE_LIMITED_URL="http://127.0.0.1:$limited_port" \
    SIMBENCH_README="$root/README.md" \
    "$venv/bin/python" -m pytest -q tests "$@"
