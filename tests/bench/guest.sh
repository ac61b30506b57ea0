#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark, inside the test VM (started by tests/bench/run). In one
# boot: the cipher's own ceiling, then every job of jobs.fio against every
# configuration of configs on the same backing device, then a memory soak
# on each ebscrypt configuration. Raw results go to /out (the host's
# output directory); tests/bench/report turns them into tables.
#
# Environment (set by tests/bench/run):
#   BENCH_PROFILE      brd (a RAM disk: the cipher and the target are what
#                      is measured) or virtio (the scratch disk /dev/vda)
#   BENCH_SIZE_MIB     size of the brd disk / of the area used
#   BENCH_RAMP         fio warm-up seconds
#   BENCH_RUNTIME      fio measured time per job and configuration
#   BENCH_ROUNDS       passes over all jobs; even passes run the
#                      configurations in reverse order to cancel drift
#   BENCH_SOAK         seconds of mixed I/O between the memory snapshots
#   BENCH_CIPHER_REPS  repetitions of the cipher ceiling measurement
#   BENCH_CONFIGS      names from configs to run (default: all)
#   BENCH_JOBS         sections of jobs.fio to run (default: all)
#   BENCH_BATCH        1: one fio process per configuration and round
#                      (all jobs) instead of one per job and configuration
set -euo pipefail
. /tests/kernel/lib.sh

# Process substitution needs /dev/fd, which a devtmpfs without udev lacks.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
HERE=/tests/bench
OUT=/out
: "${BENCH_PROFILE:=brd}" "${BENCH_SIZE_MIB:=1024}" "${BENCH_RAMP:=2}"
: "${BENCH_RUNTIME:=8}" "${BENCH_ROUNDS:=1}" "${BENCH_SOAK:=300}"
: "${BENCH_CIPHER_REPS:=3}" "${BENCH_CONFIGS:=}" "${BENCH_JOBS:=}" "${BENCH_BATCH:=0}"

grep -q " $OUT 9p " /proc/mounts || { echo "bench: $OUT is not shared from the host (--outdir)" >&2; exit 2; }
mkdir -p "$OUT"/fio "$OUT"/cipher "$OUT"/mem "$OUT"/status
log() { echo "# [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

NCPU=$(nproc)
KEYNAME=bench

# ---- backing device
case "$BENCH_PROFILE" in
brd)
	modprobe brd rd_nr=1 rd_size=$((BENCH_SIZE_MIB * 1024)) max_part=0
	DEV=/dev/ram0
	;;
virtio)
	DEV=/dev/vda
	;;
*) echo "bench: unknown profile $BENCH_PROFILE" >&2; exit 2 ;;
esac
[ -b "$DEV" ] || { echo "bench: no block device $DEV" >&2; exit 2; }
size_bytes=$(( $(blockdev --getsize64 "$DEV") / 1048576 * 1048576 ))
[ "$size_bytes" -gt $((BENCH_SIZE_MIB * 1048576)) ] && size_bytes=$((BENCH_SIZE_MIB * 1048576))

# Every page of the device written once, so reads hit real memory (brd
# reads of never-written pages are zero fills that cost nothing) and
# nothing is allocated later, in the middle of a measurement.
log "prefill $DEV ($((size_bytes / 1048576)) MiB)"
fio --name=prefill --filename="$DEV" --direct=1 --ioengine=libaio --rw=write \
	--bs=1m --iodepth=8 --size="$size_bytes" --refill_buffers \
	--output-format=terse > /dev/null

# ---- what this run was measured on
{
	echo "kernel=$(uname -r)"
	echo "vcpus=$NCPU"
	echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "cpu_flags=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr ' ' '\n' |
		grep -xE 'aes|vaes|avx|avx2|avx512f|avx512vl|pclmulqdq|vpclmulqdq|sse4_2|ssse3|hypervisor' |
		tr '\n' ' ')"
	echo "mem_total_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
	echo "profile=$BENCH_PROFILE"
	echo "device=$DEV"
	echo "size_bytes=$size_bytes"
	echo "ramp=$BENCH_RAMP"
	echo "runtime=$BENCH_RUNTIME"
	echo "rounds=$BENCH_ROUNDS"
	echo "soak=$BENCH_SOAK"
	echo "cipher_reps=$BENCH_CIPHER_REPS"
	echo "batch=$BENCH_BATCH"
	echo "fio=$(fio --version)"
	echo "cryptsetup=$(cryptsetup --version)"
} > "$OUT/meta.txt"

# ---- the cipher's own ceiling (AF_ALG, 64 KiB buffers, as cryptsetup
# measures it). Single CPU: one instance alone. All CPUs: one instance
# pinned to each CPU, started together, so the figure is a concurrent
# sum and includes whatever the CPUs share (here: the emulator's host).
log "cipher ceiling: cryptsetup benchmark, $BENCH_CIPHER_REPS repetition(s)"
# The first use translates the AES-NI code paths under TCG (measured:
# 0.9 MiB/s where later runs give 20+): not a measurement.
[ "$BENCH_CIPHER_REPS" -gt 1 ] && cryptsetup benchmark -c aes-xts-plain64 -s 512 > /dev/null
for rep in $(seq 1 "$BENCH_CIPHER_REPS"); do
	taskset -c 0 cryptsetup benchmark -c aes-xts-plain64 -s 512 > "$OUT/cipher/solo-$rep.txt"
	pids=()
	for c in $(seq 0 $((NCPU - 1))); do
		taskset -c "$c" cryptsetup benchmark -c aes-xts-plain64 -s 512 \
			> "$OUT/cipher/par-$rep-cpu$c.txt" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
done
# What the crypto API hands out for xts(aes): the highest-priority driver,
# which dm-crypt and ebscrypt both get by asking for "xts(aes)".
awk -v RS= -v ORS='\n\n' '/name *: xts\(aes\)/' /proc/crypto > "$OUT/cipher/proc-crypto.txt"

# ---- configurations
ebs_key "$KEYNAME"
mapfile -t CONFIG_LINES < <(grep -vE '^[[:space:]]*(#|$)' "$HERE/configs")
NAMES=() DEVS=()

setup_raw() { echo "$DEV"; }

setup_dmcrypt() {
	local name=$1; shift
	# --shared: several mappings of the one backing device at once.
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
		--key-file "$KEYDIR/$KEYNAME" --shared "$@" "$DEV" "bench-$name" >&2
	echo "/dev/mapper/bench-$name"
}

setup_ebscrypt() {
	local name=$1 len
	shift
	len=$(ebs_sectors "$DEV" 0 4096)
	dmsetup create "bench-$name" --table \
		"0 $len ebscrypt $DEV 0 :64:logon:ebscrypt:$KEYNAME $# $*" >&2
	echo "/dev/mapper/bench-$name"
}

declare -A KIND
for line in "${CONFIG_LINES[@]}"; do
	read -r -a f <<< "$line"
	name=${f[0]} kind=${f[1]}
	if [ -n "$BENCH_CONFIGS" ] && ! [[ " $BENCH_CONFIGS " == *" $name "* ]]; then continue; fi
	declare -F "setup_$kind" > /dev/null || { echo "bench: config $name: unknown kind $kind" >&2; exit 2; }
	dev=$("setup_$kind" "$name" "${f[@]:2}")
	[ -b "$dev" ] || { echo "bench: config $name: $dev is not a block device" >&2; exit 2; }
	NAMES+=("$name"); DEVS+=("$dev"); KIND[$name]=$kind
	echo "$line" > "$OUT/status/$name.config"
	log "config $name: $dev"
done
[ ${#NAMES[@]} -gt 0 ] || { echo "bench: no configuration selected" >&2; exit 2; }
dmsetup table > "$OUT/status/tables.txt" 2>&1 || true

mapfile -t JOBS < <(sed -n 's/^\[\(.*\)\]$/\1/p' "$HERE/jobs.fio" | grep -vx global)
if [ -n "$BENCH_JOBS" ]; then read -r -a JOBS <<< "$BENCH_JOBS"; fi
printf '%s\n' "${NAMES[@]}" > "$OUT/configs.txt"
printf '%s\n' "${JOBS[@]}" > "$OUT/jobs.txt"

export BENCH_RAMP BENCH_RUNTIME BENCH_NUMJOBS=$NCPU BENCH_SIZE=$size_bytes

run_fio() { # JOB DEV OUTFILE
	BENCH_DEV=$2 fio --section="$1" --output-format=json --output="$3.tmp" "$HERE/jobs.fio" > /dev/null
	mv "$3.tmp" "$3"
}

# All jobs in one fio process per configuration, split into the same
# per-job files afterwards: fio's start-up costs about a second under TCG,
# too much for the smoke run, fine in a full run where interleaving jobs
# and configurations matters more.
run_fio_batch() { # DEV ROUND NAME
	local sections=() j
	for j in "${JOBS[@]}"; do sections+=(--section="$j"); done
	BENCH_DEV=$1 fio "${sections[@]}" --output-format=json --output=/tmp/batch.json \
		"$HERE/jobs.fio" > /dev/null
	for j in "${JOBS[@]}"; do
		jq --arg j "$j" '{jobs: [.jobs[] | select(.jobname == $j)]}' /tmp/batch.json \
			> "$OUT/fio/r$2.$j.$3.json"
	done
}

# ---- the measurements: jobs outer, configurations inner
for round in $(seq 1 "$BENCH_ROUNDS"); do
	order=("${!NAMES[@]}")
	if [ $((round % 2)) -eq 0 ]; then
		mapfile -t order < <(printf '%s\n' "${!NAMES[@]}" | tac)
	fi
	if [ "$BENCH_BATCH" = 1 ]; then
		for i in "${order[@]}"; do
			run_fio_batch "${DEVS[$i]}" "$round" "${NAMES[$i]}"
			log "round $round/$BENCH_ROUNDS: ${NAMES[$i]} done"
		done
		continue
	fi
	for job in "${JOBS[@]}"; do
		for i in "${order[@]}"; do
			run_fio "$job" "${DEVS[$i]}" "$OUT/fio/r$round.$job.${NAMES[$i]}.json"
		done
		log "round $round/$BENCH_ROUNDS: $job done"
	done
done

for i in "${!NAMES[@]}"; do
	case "${KIND[${NAMES[$i]}]}" in
	raw) ;;
	*) dmsetup status "bench-${NAMES[$i]}" > "$OUT/status/${NAMES[$i]}.status" ;;
	esac
done

# ---- memory across a long run of mixed I/O (every size, both
# directions) on each ebscrypt configuration. The target's mempools are
# allocated at table load, before the first snapshot, and a warm-up fills
# the caches that any I/O path fills. Three snapshots: a leak grows with
# the amount of I/O, so it shows in the second half as much as in the
# first; one-time growth (per-CPU page lists, slabs reaching their working
# size) shows only in the first.
snapshot() { # NAME WHEN
	sync
	echo 3 > /proc/sys/vm/drop_caches
	cat /proc/slabinfo > "/tmp/slab.$1.$2"
	cat /proc/meminfo > "/tmp/mem.$1.$2"
	cat /proc/vmstat > "/tmp/vmstat.$1.$2"
	cat /proc/zoneinfo > "/tmp/zoneinfo.$1.$2"
	cp "/tmp/slab.$1.$2" "$OUT/mem/$1.$2.slabinfo"
	cp "/tmp/mem.$1.$2" "$OUT/mem/$1.$2.meminfo"
	cp "/tmp/vmstat.$1.$2" "$OUT/mem/$1.$2.vmstat"
	cp "/tmp/zoneinfo.$1.$2" "$OUT/mem/$1.$2.zoneinfo"
}
soak_fio() { # DEV SECONDS
	fio --name=soak --filename="$1" --direct=1 --ioengine=libaio --rw=randrw \
		--rwmixread=60 --bssplit=4k/60:16k/15:64k/15:1m/10 --iodepth=16 \
		--numjobs="$NCPU" --size="$size_bytes" --time_based --runtime="$2" \
		--norandommap --randrepeat=0 --group_reporting --output-format=json
}
half=$(( (BENCH_SOAK + 1) / 2 ))
for i in "${!NAMES[@]}"; do
	name=${NAMES[$i]}
	[ "${KIND[$name]}" = ebscrypt ] || continue
	log "memory soak on $name: 2 x ${half}s"
	soak_fio "${DEVS[$i]}" $((BENCH_SOAK >= 60 ? 5 : 1)) > /dev/null
	snapshot "$name" before
	soak_fio "${DEVS[$i]}" "$half" > "$OUT/mem/$name.soak1.json"
	snapshot "$name" mid
	soak_fio "${DEVS[$i]}" "$half" > "$OUT/mem/$name.soak2.json"
	snapshot "$name" after
	dmsetup status "bench-$name" > "$OUT/status/$name.after-soak.status"
done

cleanup_maps
log "done"
