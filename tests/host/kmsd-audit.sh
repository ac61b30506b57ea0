#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The audit trail has a bounded cost and a retention: requests without
# valid credentials are counted per source and interval rather than
# written one row each, so anonymous clients cannot grow kmsd.db; records
# are exported as JSON lines and pruned by time; the text output keeps
# one record on one line whatever a KeyId holds. Bounded: 2000 anonymous
# requests over one keep-alive connection, 80 sources of one request.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
KEY=$(new_key audit)

# anon.py PORT COUNT SOURCE...: from each SOURCE, COUNT POSTs with a bogus
# Authorization on one connection.
cat >"$TAP_TMP/anon.py" <<'PY'
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
bad = 0
body = b'{"KeyId":"x"}'
for source in sys.argv[3:]:
  s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
  f = s.makefile("rb")
  for i in range(count):
      # One write per request: no wait on delayed ACKs between headers and body.
      s.sendall(b"POST / HTTP/1.1\r\nHost: kms\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.DescribeKey\r\nAuthorization: AWS4-HMAC-SHA256 "
                b"Credential=AKIA%d/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, "
                b"Signature=%064d\r\nContent-Length: %d\r\n\r\n%s" % (i, 0, len(body), body))
      status = int(f.readline().split()[1])
      length = 0
      while True:
          line = f.readline().strip()
          if not line:
              break
          k, _, v = line.partition(b":")
          if k.lower() == b"content-length":
              length = int(v)
      f.read(length)
      if status not in (400, 403):
          bad += 1
  s.close()
sys.exit(1 if bad else 0)
PY

# The store's size with the write-ahead log folded in (the log's own size is
# bounded by SQLite's checkpoints, not by what is written).
db_bytes() {
	sqlite3 "$STATE/kmsd.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
	stat -c %s "$STATE/kmsd.db"
}

rows() { sqlite3 "$STATE/kmsd.db" "SELECT COUNT(*) FROM $1"; }

t_anonymous_requests_do_not_grow_the_store() {
	local before_rows before_bytes after_rows after_bytes counted
	before_rows=$(rows audit)
	before_bytes=$(db_bytes)
	python3 "$TAP_TMP/anon.py" "$(kmsd_port)" 2000 127.0.0.1
	after_rows=$(rows audit)
	after_bytes=$(db_bytes)
	echo "audit rows $before_rows -> $after_rows, db $before_bytes -> $after_bytes bytes"
	assert_eq "$after_rows" "$before_rows" "per-request audit rows after 2000 anonymous requests"
	[ $((after_bytes - before_bytes)) -le 16384 ]
	counted=$(sqlite3 "$STATE/kmsd.db" "SELECT COALESCE(SUM(count),0) FROM audit_unauthenticated WHERE source = '127.0.0.1'")
	[ "$(rows audit_unauthenticated)" -le 2 ]
	assert_eq "$counted" 2000 "anonymous requests counted"
	still_answers
}

t_many_sources_are_capped_per_interval() {
	python3 "$TAP_TMP/anon.py" "$(kmsd_port)" 1 $(seq -f '127.0.0.%g' 2 81)
	# 64 sources per interval, then "other"; the 80 may straddle two intervals.
	sqlite3 "$STATE/kmsd.db" "SELECT interval_start, COUNT(*) FROM audit_unauthenticated GROUP BY 1"
	[ "$(sqlite3 "$STATE/kmsd.db" "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM audit_unauthenticated GROUP BY interval_start)")" -le 65 ]
	[ "$(sqlite3 "$STATE/kmsd.db" "SELECT SUM(count) FROM audit_unauthenticated WHERE source != '127.0.0.1'")" = 80 ]
}

t_export_json_lines() {
	local out
	out=$("$KMSD" audit export --json --state-dir "$STATE")
	[ -n "$out" ]
	# Every line is one JSON object a SIEM can take as it is.
	jq -e -c 'select(.record == "request" or .record == "unauthenticated")' <<<"$out" | wc -l | grep -qx "$(wc -l <<<"$out")"
	jq -e -s 'map(select(.record == "unauthenticated")) | map(.count) | add >= 2080' <<<"$out" >/dev/null
	jq -e -s "map(select(.record == \"request\" and .operation == \"CreateKey\")) | length == 1" <<<"$out" >/dev/null
	refute -m 'JSON' "$KMSD" audit export --state-dir "$STATE"
}

t_prune() {
	local now
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	"$KMSD" audit prune --before 2000-01-01T00:00:00Z --state-dir "$STATE" | grep -q '^pruned 0 '
	[ "$("$KMSD" audit --state-dir "$STATE" | wc -l)" -gt 0 ]
	refute "$KMSD" audit prune --before yesterday --state-dir "$STATE"
	refute "$KMSD" audit prune --state-dir "$STATE"
	sleep 1
	"$KMSD" audit prune --before "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" --state-dir "$STATE"
	assert_eq "$("$KMSD" audit --state-dir "$STATE" | wc -l)" 0 "records left after pruning everything"
	# The service goes on recording after a prune under it.
	still_answers
	"$KMSD" audit --state-dir "$STATE" --since "$now" | grep -q ' ListKeys '
}

t_newline_key_id_cannot_forge_lines() {
	local forged out n_text n_json
	forged='x\n2030-01-01T00:00:00.000Z 00000000-0000-0000-0000-000000000000 arn:aws:iam::111122223333:root DisableKey key=victim context={} success'
	call DescribeKey "{\"KeyId\":\"$forged\"}" | grep -q '^ERROR NotFoundException' || :
	call DescribeKey "{\"KeyId\":\"a\\u001b[2Jb\\\\c\\r\"}" || :
	out=$("$KMSD" audit --state-dir "$STATE")
	n_text=$(wc -l <<<"$out")
	n_json=$("$KMSD" audit --state-dir "$STATE" --json | wc -l)
	assert_eq "$n_text" "$n_json" "text lines against records"
	refute grep -q '^2030-01-01' <<<"$out"
	grep -qF 'key=x\x0a2030-01-01T00:00:00.000Z' <<<"$out"
	grep -qF 'key=a\x1b[2Jb\x5cc\x0d ' <<<"$out"
	refute grep -q "$(printf '\033')" <<<"$out"
}

test_that "2000 anonymous requests add no audit row and under 16 KiB to the store" t_anonymous_requests_do_not_grow_the_store
test_that "anonymous requests from 80 sources take at most 65 rows per interval" t_many_sources_are_capped_per_interval
test_that "audit export --json writes one JSON object per line, counts included" t_export_json_lines
test_that "audit prune --before removes older records and refuses bad times" t_prune
test_that "a KeyId holding a newline or escape codes stays on its record's one line" t_newline_key_id_cannot_forge_lines
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
