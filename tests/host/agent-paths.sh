#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What a client of ebscrypt-agent may name as a volume, and how the agent
# serves several clients. The agent runs as root; its clients here are an
# unprivileged user of the socket's group. Every bad path must be refused
# with a clear reason before anything is opened: inotify watches each
# target, and an open (IN_OPEN; the agent's O_PATH probe raises none) fails
# the test. A silent client must not delay the others.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
BIN=${BUILD:-$top/build}/bin
[ -x "$BIN/ebscrypt-agent" ] || BIN=$top/build/bin
dir=$(mktemp -d)
TAP_TMP=$dir
trap 'kill $apid 2>/dev/null; rm -rf "$dir"' EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	tap_skip "the agent's path checks" "needs root (the agent) and setpriv (an unprivileged client)"
	tap_done
fi
CLIENT_UID=65534 CLIENT_GID=65534 OTHER_UID=12345
# The system's interpreter: one under root's home is out of the client's reach.
PY=/usr/bin/python3
store=$dir/store
mkdir -p "$store/sub"
chmod 755 "$dir" "$store"
cat > "$dir/agent.conf" <<CONF
socket = $dir/agent.sock
group = $(getent group "$CLIENT_GID" | cut -d: -f1)
kms_endpoint = http://127.0.0.1:9/
kms_access_key_id = AKIDTEST
kms_secret_access_key = test
kms_timeout_ms = 500
kms_max_retries = 0
volume_file_dirs = $store
CONF
chmod 600 "$dir/agent.conf"

# The bad paths. Each target exists and would answer an open.
truncate -s 2M "$store/mine.img" "$store/theirs.img" "$dir/outside.img"
chown "$CLIENT_UID" "$store/mine.img"
chown "$OTHER_UID" "$store/theirs.img"
ln -s "$store/mine.img" "$store/link.img"
ln -s "$dir" "$store/escape"
mkfifo "$store/fifo"
mknod "$store/chardev" c 1 3          # /dev/null's numbers: a watchdog would be opened the same way
mknod "$store/blk" b 7 250
chown "$OTHER_UID" "$store/blk"
VOL=vol-0123456789abcdef0

# client call JSON | client silent-then-ping N: as the unprivileged user.
client() {
	setpriv --reuid "$CLIENT_UID" --regid "$CLIENT_GID" --clear-groups "$PY" - "$dir/agent.sock" "$@" <<'PY'
import json, socket, sys, time
sock = sys.argv[1]
def call(msg, timeout=15):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(msg.encode() + b"\n")
    out = b""
    while not out.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    return out.decode()
if sys.argv[2] == "call":
    print(call(sys.argv[3]))
elif sys.argv[2] == "silent-then-ping":
    # Silent clients connect first and send nothing; a ping must still be
    # answered well within the agent's 10 s read deadline, while they wait.
    silent = []
    for _ in range(int(sys.argv[3])):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        silent.append(s)
    time.sleep(0.2)
    t = time.monotonic()
    rep = json.loads(call('{"op":"ping"}', timeout=5))
    took = time.monotonic() - t
    for s in silent:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                sys.exit("a silent client was dropped before its deadline")
        except BlockingIOError:
            pass
    print("ping answered in %.2f s with %d silent clients connected" % (took, len(silent)))
    sys.exit(0 if rep.get("ok") else 1)
PY
}

# watch_opens FILE... -- CMD...: runs CMD; fails if any FILE was opened meanwhile.
watch_opens() {
	python3 - "$@" <<'PY'
import ctypes, os, subprocess, sys
i = sys.argv.index("--")
files, cmd = sys.argv[1:i], sys.argv[i + 1:]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
IN_OPEN, IN_DONT_FOLLOW = 0x20, 0x02000000
wd = {}
for f in files:
    w = libc.inotify_add_watch(fd, f.encode(), IN_OPEN | IN_DONT_FOLLOW)
    if w < 0:
        sys.exit("cannot watch " + f)
    wd[w] = f
rc = subprocess.call(cmd)
opened = set()
try:
    buf = os.read(fd, 65536)
    off = 0
    while off < len(buf):
        w, mask, cookie, ln = __import__("struct").unpack_from("iIII", buf, off)
        opened.add(wd.get(w, "?"))
        off += 16 + ln
except BlockingIOError:
    pass
for f in sorted(opened):
    print("opened: " + f)
sys.exit(1 if opened else rc)
PY
}

# refused_unopened CODE PATTERN PATH [WATCH]: an attach of PATH is refused with
# CODE and a reason matching PATTERN, and WATCH (default PATH) is not opened.
refused_unopened() {
	local code=$1 pat=$2 path=$3 watch=${4:-$3} out
	out=$(watch_opens "$watch" -- setpriv --reuid "$CLIENT_UID" --regid "$CLIENT_GID" --clear-groups \
		"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(15); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n"); print(s.recv(65536).decode())' \
		"$dir/agent.sock" "{\"op\":\"attach\",\"volume_id\":\"$VOL\",\"path\":\"$path\"}") ||
		{ echo "$path: $out"; return 1; }
	echo "$path: $out"
	echo "$out" | jq -e --arg c "$code" '.ok == false and .code == $c' >/dev/null
	echo "$out" | jq -r .error | grep -q -e "$pat"
}

t_bad_paths_refused_unopened() {
	refused_unopened PathRefused "symbolic link" "$store/link.img" "$store/mine.img"
	refused_unopened PathRefused "outside the agent's volume_file_dirs" "$store/escape/outside.img" "$dir/outside.img"
	refused_unopened PathRefused "a fifo" "$store/fifo"
	refused_unopened PathRefused "a character device" "$store/chardev"
	# (/dev/null itself is opened all the time by everyone: not watched.)
	refused_unopened PathRefused "a character device" /dev/null "$dir/outside.img"
	refused_unopened PathRefused "a directory" "$store/sub"
	refused_unopened PathRefused "belongs to uid $OTHER_UID" "$store/theirs.img"
	refused_unopened PathRefused "block device owned by uid $OTHER_UID" "$store/blk"
	refused_unopened PathRefused "volume_file_dirs" "$dir/outside.img"
	refused_unopened InvalidRequest "clean absolute path" "$store/../outside.img" "$dir/outside.img"
	refused_unopened InvalidRequest "absolute path" "store/mine.img" "$store/mine.img"
}

# A path outside the allowed places is refused by its text alone, so whether
# it exists cannot be learnt from the answer.
t_no_existence_oracle() {
	local a b
	a=$(client call "{\"op\":\"attach\",\"volume_id\":\"$VOL\",\"path\":\"/root/.bashrc\"}" | jq -r '.code + ": " + .error')
	b=$(client call "{\"op\":\"attach\",\"volume_id\":\"$VOL\",\"path\":\"/root/no-such-file\"}" | jq -r '.code + ": " + .error')
	echo "$a"
	echo "$b"
	case "$a" in PathRefused:*) ;; *) echo "not refused by the path check"; return 1 ;; esac
	assert_eq "${a/\/root\/.bashrc/X}" "${b/\/root\/no-such-file/X}" "same answer for an existing and a missing path"
}

t_load_key_needs_block_device() {
	local out
	# In a session keyring of the client's own, which the agent checks first.
	out=$(setpriv --reuid "$CLIENT_UID" --regid "$CLIENT_GID" --clear-groups keyctl session - sh -c '
		ring=$(keyctl newring ebscrypt-test @s) && keyctl setperm "$ring" 0x3f3f3f3f &&
		exec "$0" -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(15); s.connect(sys.argv[1]); s.sendall(sys.argv[2].replace(\"RING\", sys.argv[3]).encode()+b\"\\n\"); print(s.recv(65536).decode())" \
			"$1" "$2" "$ring"' "$PY" "$dir/agent.sock" \
		"{\"op\":\"load-key\",\"volume_id\":\"$VOL\",\"path\":\"$store/mine.img\",\"keyring\":RING}")
	echo "$out"
	echo "$out" | jq -e '.ok == false and .code == "PathRefused"' >/dev/null
	echo "$out" | jq -r .error | grep -q "needs a block device"
}

t_good_file_is_opened() {
	local out
	out=$(client call "{\"op\":\"attach\",\"volume_id\":\"$VOL\",\"path\":\"$store/mine.img\"}")
	echo "$out"
	# Opened and read: a blank file holds no header.
	echo "$out" | jq -e '.code == "NotEbscrypt"' >/dev/null
}

t_silent_clients_delay_nobody() {
	client silent-then-ping 3
}

"$BIN/ebscrypt-agent" --foreground --config "$dir/agent.conf" > "$dir/agent.log" 2>&1 &
apid=$!
for i in $(seq 1 100); do [ -S "$dir/agent.sock" ] && break; sleep 0.05; done
if [ ! -S "$dir/agent.sock" ]; then
	tap_skip "the agent's path checks" "agent did not start here: $(tail -1 "$dir/agent.log")"
	tap_done
fi
test_that "symlinks, fifos, char devices, directories, others' files and paths outside the volume directories are refused unopened" t_bad_paths_refused_unopened
test_that "an existing and a missing path outside the allowed places get the same answer" t_no_existence_oracle
test_that "load-key refuses what is not a block device" t_load_key_needs_block_device
test_that "the client's own file in a volume directory is opened and read" t_good_file_is_opened
test_that "three silent clients do not delay a fourth one's request" t_silent_clients_delay_nobody
test_that "the agent is still running" kill -0 "$apid"
tap_done
