# SPDX-License-Identifier: GPL-2.0
#
# A throwaway PostgreSQL server for the tests: Debian's postgresql, a
# cluster made by initdb in a temporary directory, run by pg_ctl as an
# unprivileged user (nobody, when the tests run as root: PostgreSQL refuses
# to run as root), listening only on a Unix socket in that directory, which
# is mode 0700 so that no other local user can connect (the cluster trusts
# whoever reaches the socket). Set PG_BIN to use another version's binaries.
#   pg_start         creates and starts it; sets PG_DIR, PG_CONNINFO (kms db)
#   pg_restart_crash stops it as a crash would (immediate), starts it again
#   pg_psql SQL      runs SQL in the kms database, prints unaligned rows
#   pg_stop          stops it and removes its directory

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_USER=ebscrypt

pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

pg_available() {
	[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

pg_start() {
	pg_available || { echo "no PostgreSQL server binaries (install postgresql)"; return 1; }
	PG_DIR=$(mktemp -d /tmp/ebscrypt-pg.XXXXXX)
	[ "$(id -u)" = 0 ] && chown nobody: "$PG_DIR"
	chmod 700 "$PG_DIR"
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --auth=trust -E UTF8 \
		--locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; return 1; }
	# The socket only, in PG_DIR; a small server; fsync stays on (the tests rely on it).
	cat >>"$PG_DIR/data/postgresql.conf" <<-EOC
	listen_addresses = ''
	unix_socket_directories = '$PG_DIR'
	max_connections = 60
	shared_buffers = 32MB
	fsync = on
	synchronous_commit = on
	EOC
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
		{ cat "$PG_DIR/server.log"; return 1; }
	pg_as "$PG_BIN/createdb" -h "$PG_DIR" -U "$PG_USER" kms || return 1
	PG_CONNINFO="host=$PG_DIR dbname=kms user=$PG_USER"
}

pg_restart_crash() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null &&
		pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null
}

pg_psql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -U "$PG_USER" -d kms -c "$1"
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || :
	rm -rf "$PG_DIR"
}
