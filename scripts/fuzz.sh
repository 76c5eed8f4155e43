#!/usr/bin/env bash
# A bounded schemathesis run against a real `simbench serve` (README, Two commands):
#  - schemathesis (pinned) in a virtual environment under target/, python3-venv via apt-get when
#    the interpreter cannot make one, and curl when missing;
#  - a fresh database simbench_test_<random> on the server of DATABASE_URL, dropped at the end;
#  - an admin token made by `simbench token create` before the server starts (so the first
#    start's admin-token file is left alone). The fuzzer sends only that token, and the API
#    refuses to revoke the token a request is made with, so it stays valid through the run;
#  - a few models, representations, scores, a comparison and a benchmark, made first;
#  - the checks not_a_server_error, status_code_conformance, content_type_conformance and
#    response_schema_conformance over every operation of openapi.yaml; any failure fails the script.
# FUZZ_MAX_EXAMPLES (default 60) bounds the cases per operation, FUZZ_SEED makes a run repeatable.
# Set SIMBENCH_BIN to fuzz a binary built elsewhere; otherwise `cargo build` makes
# target/debug/simbench.
set -euo pipefail

schemathesis_version=4.32.5
max_examples=${FUZZ_MAX_EXAMPLES:-60}
seed=${FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/target/fuzz-venv
work=$root/target/fuzz
server_url=${DATABASE_URL:-postgres://simbench:simbench@127.0.0.1:5432/simbench}

say() { printf 'fuzz: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    say "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y --no-install-recommends "$@" >/dev/null; then
        as_root apt-get update >/dev/null
        as_root apt-get install -y --no-install-recommends "$@" >/dev/null
    fi
}

install_schemathesis() {
    if [[ -x $venv/bin/schemathesis ]] \
        && [[ $("$venv/bin/schemathesis" --version) == *" $schemathesis_version" ]]; then
        return
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install python3-venv
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    say "installing schemathesis $schemathesis_version into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
}

# The URL of database $1 on the server of DATABASE_URL.
database_url() {
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
        "$server_url" "$1"
}

# A seeded float32 `rows x cols` matrix as a .npy file on standard output.
npy() {
    python3 - "$1" "$2" "$3" <<'PY'
import random, struct, sys
rows, cols, seed = map(int, sys.argv[1:])
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
header += " " * (63 - (len(header) + 10) % 64) + "\n"
rng = random.Random(seed)
data = struct.pack("<%df" % (rows * cols), *(rng.uniform(-1, 1) for _ in range(rows * cols)))
sys.stdout.buffer.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)
PY
}

# Sends one request of the seed data; stops the script when it is refused.
send() {
    local method=$1 path=$2 content_type=$3 body=$4
    curl -fsS -o /dev/null -X "$method" -H "Authorization: Bearer $token" \
        -H "Content-Type: $content_type" --data-binary "$body" "$api$path"
}

# Models, representations, scores, a comparison and a benchmark with small ids, so that the
# fuzzer's requests reach more than 404s.
seed_data() {
    local model
    for model in 1 2 3; do
        send POST /v1/models application/json "{\"name\": \"fuzz-$model\", \"metadata\": {\"seed\": $model}, \"tags\": [\"fuzz\"]}"
        npy 12 4 "$model" >"$work/layer.npy"
        send POST "/v1/models/$model/representations?dataset=fuzz&layer=0" application/x-npy "@$work/layer.npy"
        send PUT "/v1/representations/$model/scores/probe_acc" application/json "{\"value\": 0.$model}"
    done
    send POST /v1/comparisons application/json '{"all_pairs": true, "representations": [1, 2, 3], "metrics": ["cka", "procrustes"]}'
    send POST /v1/benchmarks application/json '{"name": "fuzz-layers", "dataset": "fuzz", "score": "probe_acc", "protocol": {"kind": "all_pairs", "group_by": "none"}, "metrics": ["cka"]}'
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

command -v curl >/dev/null || apt_install curl
install_schemathesis
simbench=${SIMBENCH_BIN:-}
if [[ -z "$simbench" ]]; then
    (cd "$root" && cargo build --quiet --bin simbench)
    simbench=$root/target/debug/simbench
fi

database=simbench_test_$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')
mkdir -p "$work"
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    psql -X -q "$server_url" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null \
        || say "could not drop the database $database"
}
trap cleanup EXIT
psql -X -q "$server_url" -c "CREATE DATABASE \"$database\"" >/dev/null
url=$(database_url "$database")

token=$(DATABASE_URL=$url "$simbench" token create --name fuzz-admin --scope admin)
port=$(free_port)
DATABASE_URL=$url RUST_LOG=warn SIMBENCH_RATE_LIMIT_PER_MINUTE=0 SIMBENCH_WORKERS=1 \
    SIMBENCH_ADMIN_TOKEN_FILE=$work/admin-token \
    "$simbench" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
api=http://127.0.0.1:$port
seed_data

say "schemathesis $schemathesis_version, $max_examples examples per operation, seed $seed"
cd "$work"
# The token reaches schemathesis through its environment, not its command line.
cat >"$work/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${FUZZ_TOKEN}" }
TOML
FUZZ_TOKEN=$token "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$root/openapi.yaml" \
    --url "$api" \
    --workers 1 \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --generation-database none \
    --request-timeout 30 \
    --no-color
