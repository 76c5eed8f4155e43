#!/usr/bin/env bash
# Brings up what simbench needs on a Debian machine, idempotently:
#  - the packages postgresql and libopenblas-dev (apt-get, with sudo when not root);
#  - a running PostgreSQL cluster (started, or created, when down);
#  - the role and database `simbench` (password `simbench`), reachable over TCP on 127.0.0.1:5432
#    both where the server trusts local connections and on a stock install (peer/scram auth).
# With DATABASE_URL set, the database is yours to provide: only the packages are checked.
# `--drop-test-databases` also removes databases left behind by earlier test runs.
set -euo pipefail

role=simbench
password=simbench
database=simbench
drop_test_databases=false
[[ "${1:-}" == "--drop-test-databases" ]] && drop_test_databases=true

say() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_packages() {
    local missing=()
    dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libopenblas-dev)
    if [[ -z "${DATABASE_URL:-}" ]]; then
        dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q 'ok installed' || missing+=(postgresql)
    fi
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    [[ ${#missing[@]} -eq 0 ]] && return
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
        as_root apt-get update >/dev/null
        as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

server_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

start_cluster() {
    server_up && return
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    if ! pg_lsclusters -h | grep -q .; then
        say "creating PostgreSQL $version cluster main"
        as_root pg_createcluster "$version" main >/dev/null
    fi
    local cluster
    cluster=$(pg_lsclusters -h | sort -V | tail -n 1 | awk '{print $1, $2}')
    say "starting PostgreSQL cluster $cluster"
    # shellcheck disable=SC2086 # version and name are two arguments
    as_root pg_ctlcluster --skip-systemctl-redirect $cluster start
    for _ in $(seq 1 30); do
        server_up && return
        sleep 1
    done
    say "PostgreSQL did not come up on 127.0.0.1:5432"
    exit 1
}

# psql as the superuser: over the socket as the postgres OS user (peer auth on a stock
# install), else over TCP as user postgres (servers that trust local connections).
superuser_psql() {
    if id postgres >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]]; then
            runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@" && return
        else
            sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@" && return
        fi
    fi
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres "$@"
}

create_role_and_database() {
    superuser_psql <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
        CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
    ELSE
        ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password';
    END IF;
END
\$\$;
SELECT 'CREATE DATABASE $database OWNER $role'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$database')\gexec
SQL
    PGPASSWORD=$password psql -X -q -h 127.0.0.1 -U "$role" -d "$database" -c 'SELECT 1' >/dev/null
}

drop_leftover_test_databases() {
    PGPASSWORD=$password psql -X -q -At -h 127.0.0.1 -U "$role" -d "$database" \
        -c "SELECT datname FROM pg_database WHERE datname LIKE 'simbench\_test\_%'" |
        while read -r name; do
            PGPASSWORD=$password psql -X -q -h 127.0.0.1 -U "$role" -d "$database" \
                -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
        done
}

install_packages
if [[ -n "${DATABASE_URL:-}" ]]; then
    say "DATABASE_URL is set: using that database"
    exit 0
fi
start_cluster
create_role_and_database
$drop_test_databases && drop_leftover_test_databases
say "PostgreSQL ready: postgres://$role:$password@127.0.0.1:5432/$database"
