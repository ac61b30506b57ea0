#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A host that holds no long-lived secret attaches volumes through two KMS
# instances and survives losing the one it uses: on a private test network
# (tests/vm/netns.sh), two ebscrypt-kmsd instances serve HTTPS on the
# bridge address from copies of one store, and a test instance metadata
# service (tests/helpers/imds-server.py, IMDSv2) on 169.254.169.254 hands
# out credentials that kmsd issued. In the guest, the agent's config names
# both endpoints and no credentials at all. While the guest attaches and
# detaches a volume in a loop, the instance it uses is killed with -9.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/netns.sh"
G=$top/tests/vm/guest
KMSD=${KMSD:-$top/build/bin/ebscrypt-kmsd}
work=$(mktemp -d)
NS=ebsfleet-$$
A=$work/guest
H=$TESTNET_HOST_IP

cleanup() {
	"$G" kill "$A" 2>/dev/null
	testnet_destroy "$NS"
	rm -rf "$work"
}
trap cleanup EXIT

# kms_start NAME PORT: an instance on the bridge address, state in $work/NAME.
kms_start() {
	local dir=$work/$1 i
	: >"$dir/kmsd.log"
	# nsenter itself, not testnet_exec: a backgrounded function is a subshell,
	# and its pid would not be the daemon's.
	nsenter "--net=/run/netns/$NS" -- "$KMSD" --state-dir "$dir" --listen "$H:$2" --foreground </dev/null \
		>/dev/null 2>>"$dir/kmsd.log" &
	echo $! >"$dir/kmsd.pid"
	for i in $(seq 1 100); do
		grep -q 'listening on' "$dir/kmsd.log" && return 0
		sleep 0.1
	done
	cat "$dir/kmsd.log"
	return 1
}
kms_kill9() { kill -9 "$(cat "$work/$1/kmsd.pid")" 2>/dev/null; }
# kms_stop NAME PORT: SIGTERM, then waits (30 s at most) until the port is free again.
kms_stop() {
	local pid
	pid=$(cat "$work/$1/kmsd.pid")
	kill "$pid"
	for _ in $(seq 1 300); do
		if ! testnet_exec "$NS" ss -Hltn "sport = :$2" | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	echo "kmsd $1 still listens on $2 30 s after SIGTERM"
	testnet_exec "$NS" ss -ltnp
	return 1
}
# Decrypt successes of the metadata service's principal in an instance's audit.
instance_decrypts() {
	"$KMSD" audit --state-dir "$work/$1" --json |
		jq -r 'select(.operation == "Decrypt" and .outcome == "success" and
			(.principal | endswith("ebscrypt-instance-role")))' | grep -c '"Decrypt"' || :
}

setup() {
	testnet_create "$NS" && testnet_tap "$NS" tapa && testnet_pki "$work/pki" "$H" || return 1
	"$KMSD" init --state-dir "$work/a" --listen "$H:8443" >/dev/null || return 1
	{
		printf 'tls_cert = %s\ntls_key = %s\n' "$work/pki/server.crt" "$work/pki/server.key"
		cat "$work/a/kmsd.conf"
		printf '\n[principal instance]\narn = arn:aws:iam::111122223333:role/ebscrypt-instance-role\nrole = user\n'
	} >"$work/a/kmsd.conf.new" && mv "$work/a/kmsd.conf.new" "$work/a/kmsd.conf"
	kms_start a 8443 || return 1
	ip -n "$NS" addr add 169.254.169.254/32 dev "$TESTNET_BRIDGE"
	testnet_exec "$NS" python3 "$top/tests/helpers/imds-server.py" --listen 169.254.169.254:80 \
		--role ebscrypt-instance-role --log "$work/imds.log" \
		--issue "$KMSD credentials issue --state-dir $work/a --principal instance --duration 900" \
		>"$work/imds.out" 2>&1 &
	for _ in $(seq 100); do grep -q listening "$work/imds.out" && break; sleep 0.05; done
	"$G" start "$A" --netns "$NS" --net "tapa,ip=192.0.2.10/24" --hostname fleet --timeout 900
}

start=$SECONDS
if ! setup >"$work/setup.log" 2>&1; then
	echo "not ok 1 - a guest boots beside two kmsd instances and a metadata service"
	tap_diag <"$work/setup.log"
	exit 1
fi
echo "# setup (namespace, kmsd, metadata service, guest) took $((SECONDS - start))s"

urls="https://$H:8443/ https://$H:8444/"

guest_setup() {
	local ak sk
	ak=$(sed -n '/^\[admin\]/,/^$/s/^aws_access_key_id = //p' "$work/a/credentials")
	sk=$(sed -n '/^\[admin\]/,/^$/s/^aws_secret_access_key = //p' "$work/a/credentials")
	# Deadlines for an emulated guest on a loaded machine.
	printf 'kms_endpoint = %s\nkms_ca_file = /root/ca.crt\nkms_access_key_id = %s\nkms_secret_access_key = %s\nkms_timeout_ms = 30000\n' \
		"$urls" "$ak" "$sk" >"$work/ctl.conf"
	# The host's agent: two endpoints, no credentials of its own.
	printf 'socket = /run/agent.sock\nkms_endpoint = %s\nkms_ca_file = /root/ca.crt\nkms_timeout_ms = 20000\n' \
		"$urls" >"$work/agent.conf"
	"$G" put "$A" "$work/pki/ca.crt" /root/ca.crt
	"$G" put "$A" "$work/ctl.conf" /root/ctl.conf
	"$G" put "$A" "$work/agent.conf" /root/agent.conf
	"$G" exec "$A" 'chmod 600 /root/ctl.conf /root/agent.conf &&
		ip route add 169.254.169.254/32 dev eth0 &&
		ebscrypt-agent --config /root/agent.conf &&
		for i in $(seq 50); do [ -S /run/agent.sock ] && break; sleep 0.1; done; [ -S /run/agent.sock ]'
}

CTL='ebscryptctl --state-dir /root/state --config /root/ctl.conf --agent-socket /run/agent.sock'

attach_with_imds_credentials() {
	local vol out
	guest_setup
	vol=$("$G" exec "$A" "$CTL volume create --size 32M --encrypted") || {
		echo "$vol"
		"$G" exec "$A" 'cat /root/agent.log 2>/dev/null; true'
		cat "$work/imds.log" "$work/imds.out"
		return 1
	}
	echo "$vol" >"$work/vol"
	"$G" exec "$A" "dev=\$($CTL volume attach $vol) && echo fleet-marker | dd of=\$dev bs=4096 conv=sync,fsync status=none &&
		$CTL volume detach $vol"
	out=$("$G" exec "$A" "$CTL agent status --json 2>/dev/null || true")
	echo "$out"
	# The only credentials the guest's agent had came from the metadata service.
	grep -q '^PUT /latest/api/token 200$' "$work/imds.log"
	grep -q '^GET /latest/meta-data/iam/security-credentials/ebscrypt-instance-role 200$' "$work/imds.log"
	[ "$(instance_decrypts a)" -ge 2 ]
}

attaches_survive_losing_the_instance() {
	local vol before out n
	vol=$(cat "$work/vol")
	# The second instance serves a copy of the first's store, stopped for the copy.
	kms_stop a 8443
	cp -a "$work/a" "$work/b"
	kms_start a 8443
	kms_start b 8444
	before=$(instance_decrypts a)
	"$G" exec "$A" --timeout 300 "i=0; while [ \$i -lt 8 ]; do
		dev=\$($CTL volume attach $vol) || exit 1
		[ \"\$(head -c 12 \$dev)\" = fleet-marker ] || exit 2
		$CTL volume detach $vol || exit 3
		i=\$((i + 1)); echo attached \$i; sleep 1
	done" >"$work/loop.out" &
	local lp=$!
	# Killed once it has served an attach of the loop: the guest is using it.
	for _ in $(seq 600); do
		[ "$(instance_decrypts a)" -gt "$before" ] && break
		sleep 0.1
	done
	kms_kill9 a
	n=$(instance_decrypts a)
	wait "$lp"
	out=$(cat "$work/loop.out")
	echo "$out"
	assert_eq "$(grep -c '^attached ' <<<"$out")" 8
	[ "$n" -gt "$before" ]
	[ "$(instance_decrypts b)" -ge 1 ]
}

guest_stops_cleanly() {
	"$G" stop "$A"
}

test_that "an agent with no configured credentials attaches a volume with credentials from the instance metadata service (IMDSv2)" attach_with_imds_credentials
test_that "attaches in progress go on through the second KMS instance when the one in use is killed" attaches_survive_losing_the_instance
test_that "the guest powers off cleanly with no guest kernel problem reported" guest_stops_cleanly
echo "# kms-fleet.host.sh took $((SECONDS - start))s"
tap_done
