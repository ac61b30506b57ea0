# SPDX-License-Identifier: GPL-2.0
#
# Host side of the harness's control channel (the guest side, and the wire
# protocol, are in tests/vm/guest-agent). Sourced by tests/vm/guest and
# tests/vm/sysguest; tests use those commands, not this file.
#
# Each guest has a state directory DIR. QEMU connects a virtio-serial port
# named ebscrypt.ctl to two FIFOs, DIR/ctl.in (host -> guest) and DIR/ctl.out
# (guest -> host); QEMU holds both open read-write, so neither side ever
# blocks on open. A reader started with QEMU copies ctl.out into DIR/ctl.log;
# a host command sends its frame to ctl.in and polls ctl.log for its answer.
# So any process that knows DIR can drive the guest (a test's subshells, a
# second terminal), several commands can wait at once, and a guest that
# dies ends every wait with an error instead of a hang.
#
# Files in DIR: qemu.pid (the QEMU process of the current boot), ctl.log
# (this boot's frames), ctl.seq (the last command id), console.log.

# ctl_prepare DIR: fresh FIFOs and an empty log, before QEMU starts.
ctl_prepare() {
	rm -f "$1/ctl.in" "$1/ctl.out" "$1/ctl.log"
	mkfifo "$1/ctl.in" "$1/ctl.out"
	: > "$1/ctl.log"
}

# ctl_qemu_args DIR: the QEMU arguments for the port (one word per line).
ctl_qemu_args() {
	printf '%s\n' -device virtio-serial-pci,id=ebsctl-bus \
		-chardev "pipe,id=ebsctl,path=$1/ctl" \
		-device virtserialport,bus=ebsctl-bus.0,chardev=ebsctl,name=ebscrypt.ctl
}

# ctl_start_reader DIR: copies the guest's frames into ctl.log until QEMU
# exits (the FIFO then has no writer left and cat sees end of file).
ctl_start_reader() {
	cat "$1/ctl.out" >> "$1/ctl.log" 2>/dev/null < /dev/null &
	echo $! > "$1/ctl.reader.pid"
}

ctl_alive() {
	local pid
	pid=$(cat "$1/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ctl_wait_ready DIR TIMEOUT: waits for the agent's READY of this boot.
ctl_wait_ready() {
	local dir=$1 deadline=$((SECONDS + $2))
	while ! grep -q '^EBSCTL-READY ' "$dir/ctl.log" 2>/dev/null; do
		if ! ctl_alive "$dir"; then
			echo "vm: guest in $dir stopped before its control agent started" >&2
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "vm: guest in $dir did not start its control agent within $2s" >&2
			return 1
		fi
		sleep 0.2
	done
}

# ctl_send DIR LINES: writes frames. Opened read-write: a FIFO whose QEMU
# has gone would block a write-only open forever.
ctl_send() {
	local fd
	exec {fd}<>"$1/ctl.in"
	printf '%s\n' "$2" >&"$fd"
	exec {fd}>&-
}

# ctl_exec DIR TIMEOUT SCRIPT-TEXT: runs it in the guest; prints its output,
# returns its status (124 when the host gave up waiting, 255 when the guest
# died meanwhile).
ctl_exec() {
	local dir=$1 limit=$2 text=$3 id deadline frame
	ctl_alive "$dir" || { echo "vm: guest in $dir is not running" >&2; return 255; }
	# Ids are unique per directory, also across concurrent callers.
	id=$(
		exec {lock}>>"$dir/ctl.lock"
		flock "$lock"
		n=$(( $(cat "$dir/ctl.seq" 2>/dev/null || echo 0) + 1 ))
		echo "$n" > "$dir/ctl.seq"
		frame="EBSCTL-RUN $n $limit"$'\n'"$(printf '%s' "$text" | base64)"$'\n'"EBSCTL-END $n"
		ctl_send "$dir" "$frame"
		echo "$n"
	)
	# The guest kills the script at its limit; the host allows for the
	# frames' transfer on top.
	deadline=$((SECONDS + limit + 30))
	while ! grep -q "^EBSCTL-EXIT $id [0-9]* \.\$" "$dir/ctl.log"; do
		if ! ctl_alive "$dir"; then
			sleep 0.3 # the reader may still be copying the last frames
			grep -q "^EBSCTL-EXIT $id [0-9]* \.\$" "$dir/ctl.log" && break
			echo "vm: guest in $dir stopped while running command $id" >&2
			return 255
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "vm: command $id in $dir gave no answer within ${limit}s" >&2
			return 124
		fi
		sleep 0.1
	done
	sed -n "/^EBSCTL-OUT $id\$/,/^EBSCTL-EXIT $id /{/^EBSCTL-/d;p}" "$dir/ctl.log" | base64 -d
	return "$(sed -n "s/^EBSCTL-EXIT $id \([0-9]*\) \.\$/\1/p" "$dir/ctl.log" | tail -n 1)"
}

ctl_squote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# ctl_put DIR SRC DST: copies a host file into the guest through the
# channel (base64 inside the script; meant for files up to a few MiB).
ctl_put() {
	local mode dst
	mode=$(stat -c %a "$2") || return 1
	dst=$(ctl_squote "$3")
	ctl_exec "$1" 120 "mkdir -p \"\$(dirname $dst)\" && base64 -d > $dst <<'EBSCTL-EOF' && chmod $mode $dst
$(base64 < "$2")
EBSCTL-EOF"
}
