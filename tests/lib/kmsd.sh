# SPDX-License-Identifier: GPL-2.0
#
# The one launcher of ebscrypt-kmsd for the tests, on the build machine
# (tests/host/) and in the test VM (tests/e2e/). Set before use:
#   KMSD       the daemon (default: ebscrypt-kmsd on PATH)
#   KMSD_CONF  its config file
#   KMSD_LOG   the file its output is appended to
#   KMSD_RUN   a directory for its pid, exit status, URL and port: files, not
#              variables, because tests run in subshells and stop and restart
#              the daemon that another (sub)shell started
# Safe under errexit, inside test_that, and on a log that is still empty.

# kmsd_start PORT [ARGS...]: starts the daemon in the foreground (so its exit
# status can be read) on 127.0.0.1:PORT, or on ADDR:PORT when PORT is given
# as ADDR:PORT; port 0 takes any free port, read back from the log. ARGS go
# to the daemon. Returns once it listens; fails, showing what it logged, if
# it exits or does not listen within 10 s.
kmsd_start() {
	local listen=$1 from i line addr port scheme
	shift
	case "$listen" in *:*) ;; *) listen=127.0.0.1:$listen ;; esac
	if kmsd_running; then
		echo "kmsd_start: already running (pid $(kmsd_pid))"
		return 1
	fi
	touch "$KMSD_LOG"
	from=$(($(stat -c %s "$KMSD_LOG") + 1))
	echo "$from" >"$KMSD_RUN/kmsd.log-from"
	rm -f "$KMSD_RUN/kmsd.pid" "$KMSD_RUN/kmsd.status" "$KMSD_RUN/kmsd.url" "$KMSD_RUN/kmsd.port"
	# A watcher subshell is the daemon's parent wherever kmsd_stop runs, and
	# leaves its exit status behind.
	(
		set +e
		"${KMSD:-ebscrypt-kmsd}" --config "$KMSD_CONF" --foreground --listen "$listen" "$@" \
			</dev/null >>"$KMSD_LOG" 2>&1 &
		echo $! >"$KMSD_RUN/kmsd.pid"
		wait $!
		echo $? >"$KMSD_RUN/kmsd.status.new"
		mv "$KMSD_RUN/kmsd.status.new" "$KMSD_RUN/kmsd.status"
	) </dev/null >/dev/null 2>&1 &
	for i in $(seq 1 200); do
		line=$(kmsd_log | grep -m1 -oE 'listening on [^ ]* \(https?\)' || :)
		if [ -n "$line" ] && [ -s "$KMSD_RUN/kmsd.pid" ]; then
			addr=${line#listening on }
			addr=${addr%% *}
			port=${addr##*:}
			case "$line" in *'(https)') scheme=https ;; *) scheme=http ;; esac
			echo "$port" >"$KMSD_RUN/kmsd.port"
			echo "$scheme://127.0.0.1:$port/" >"$KMSD_RUN/kmsd.url"
			return 0
		fi
		if [ -e "$KMSD_RUN/kmsd.status" ]; then
			echo "kmsd_start: ebscrypt-kmsd exited with status $(cat "$KMSD_RUN/kmsd.status"):"
			kmsd_log
			rm -f "$KMSD_RUN/kmsd.pid"
			return 1
		fi
		sleep 0.05
	done
	echo "kmsd_start: ebscrypt-kmsd does not listen after 10 s:"
	kmsd_log
	kmsd_kill9
	return 1
}

# What the daemon logged since its last start.
kmsd_log() {
	tail -c +"$(cat "$KMSD_RUN/kmsd.log-from" 2>/dev/null || echo 1)" "$KMSD_LOG"
}

kmsd_pid() { cat "$KMSD_RUN/kmsd.pid" 2>/dev/null; }
kmsd_running() { [ -s "$KMSD_RUN/kmsd.pid" ] && [ ! -e "$KMSD_RUN/kmsd.status" ]; }
kmsd_url() { cat "$KMSD_RUN/kmsd.url"; }
kmsd_port() { cat "$KMSD_RUN/kmsd.port"; }

# Waits (10 s at most) for the watcher to record the daemon's exit status.
kmsd_wait_exit() {
	local i
	for i in $(seq 1 200); do
		[ -e "$KMSD_RUN/kmsd.status" ] && return 0
		sleep 0.05
	done
	return 1
}

# kmsd_stop: SIGTERM, then succeeds when the daemon exits 0 with no
# sanitizer report in its log. Nothing to stop is not a failure; a daemon
# that had already exited on its own is.
kmsd_stop() {
	local pid st
	pid=$(kmsd_pid) || return 0
	[ -n "$pid" ] || return 0
	if [ -e "$KMSD_RUN/kmsd.status" ]; then
		echo "kmsd_stop: ebscrypt-kmsd (pid $pid) had already exited with status $(cat "$KMSD_RUN/kmsd.status")"
		kmsd_log
		rm -f "$KMSD_RUN/kmsd.pid"
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null || :
	if ! kmsd_wait_exit; then
		echo "kmsd_stop: ebscrypt-kmsd (pid $pid) did not stop within 10 s of SIGTERM"
		kmsd_kill9
		return 1
	fi
	rm -f "$KMSD_RUN/kmsd.pid"
	st=$(cat "$KMSD_RUN/kmsd.status")
	if [ "$st" != 0 ] || kmsd_log | grep -q 'Sanitizer'; then
		echo "kmsd_stop: ebscrypt-kmsd (pid $pid) exited with status $st:"
		kmsd_log
		return 1
	fi
}

# kmsd_kill9: SIGKILL, as a crash or a power cut would; waits until it is gone.
kmsd_kill9() {
	local pid
	pid=$(kmsd_pid) || return 0
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || :
	kmsd_wait_exit || :
	rm -f "$KMSD_RUN/kmsd.pid"
}
