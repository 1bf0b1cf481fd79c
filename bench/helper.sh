#!/usr/bin/env bash
# helper.sh - the migration helper's private path (issue 11) against its
# goals, in one run: a confidential guest (--cc emu) with mostly private
# memory migrated by the helper (1 and 2 lanes) and by the platform (one
# PSP command per page), and the same guest without --cc (all pages shared,
# plaintext), with this run's limits (memcpy, one loopback TCP stream); and
# where the helper's time goes: first touch of guest pages by the mirror VM
# against sealing against the rest.
#
#   make && bench/helper.sh                       # ~3-5 min with the defaults
#   BENCH_MEM=256M BENCH_SIZE=128M bench/helper.sh   # smoke
#   flock /var/tmp/kvm-heavy.lock bench/helper.sh  # on a shared host
#
# Environment (all optional):
#   BENCH_MEM, BENCH_SIZE   guest RAM (1G) and the dirtier's region (default
#                     empty: all RAM above the guest image, so nearly every
#                     page holds data; written (fill=1) before migrating)
#   BENCH_RATE        the dirtier's rate in MB/s during the migration (0)
#   BENCH_PSP_MEM, BENCH_PSP_SIZE  the PSP-path guest (default: the same)
#   BENCH_LANES       helper lanes to measure (default "1 2")
#   BENCH_CPUS        guest vCPUs (1: the other host CPU is left to tern)
#   BENCH_HB_MS       guest heartbeat period (200)
#   BENCH_TCP_MIB     MiB per raw TCP sample (1024)
#   BENCH_WARM        1 (default): the first-touch experiment (see README)
#   BENCH_WARM_FRAC   fraction of the private pages sealed before the cancel (0.5)
#   BENCH_PERF        1 (default when `perf record -e cpu-clock` works): profile
#                     the source during the cold 1-lane migration
#   BENCH_TIMEOUT     seconds any one wait may take (180)
#   BENCH_KEEP        1: keep the scratch directory and say where
#   BENCH_OUT         where the results go (default bench/out)
#   TERN, GUEST, PSP, HELPER  binaries (build/tern, build/guest/dirtier.elf,
#                     tern-psp next to TERN, build/guest/helper.elf)
#
# Prints a table on stderr and one JSON summary on stdout, written to
# $BENCH_OUT/helper.json. Exit 0, 1 when a measurement failed (the summary
# is still written, "failures" > 0), 2 on a setup error.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}
MEM=${BENCH_MEM:-1G}
SIZE=${BENCH_SIZE:-}        # empty: all RAM above the image
RATE=${BENCH_RATE:-0}
PSP_MEM=${BENCH_PSP_MEM:-$MEM}
PSP_SIZE=${BENCH_PSP_SIZE:-$SIZE}
LANES=${BENCH_LANES:-1 2}
CPUS=${BENCH_CPUS:-1}
HB_MS=${BENCH_HB_MS:-200}
TCP_MIB=${BENCH_TCP_MIB:-1024}
WARM=${BENCH_WARM:-1}
WARM_FRAC=${BENCH_WARM_FRAC:-0.5}
TIMEOUT=${BENCH_TIMEOUT:-180}
TERN=${TERN:-$ROOT/build/tern}
GUEST=${GUEST:-$ROOT/build/guest/dirtier.elf}
PSP=${PSP:-$(dirname "$TERN")/tern-psp}
HELPER=${HELPER:-$(dirname "$TERN")/guest/helper.elf}
POLL=0.05

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for v in CPUS HB_MS TCP_MIB TIMEOUT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
[[ "$RATE" =~ ^[0-9]+$ ]] || die "BENCH_RATE must be a number of MB/s"
for l in $LANES; do [[ "$l" =~ ^[1-4]$ ]] || die "BENCH_LANES: '$l' (1..4)"; done
[ -x "$TERN" ] || die "$TERN not found; run make first"
[ -x "$PSP" ] || die "$PSP not found; run make first"
[ -f "$GUEST" ] || die "$GUEST not found; run make first"
[ -f "$HELPER" ] || die "$HELPER not found; run make first"
[ -w /dev/kvm ] || die "/dev/kvm is missing or not writable"
command -v python3 >/dev/null || die "python3 is needed"
PERF=${BENCH_PERF:-}
if [ -z "$PERF" ]; then
	if command -v perf >/dev/null && perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then PERF=1; else PERF=0; fi
fi

mkdir -p "$OUT"
make -s -C "$BENCH" OUT="$OUT" >&2 || die "cannot build memcpy_bw and tcp_bw"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench-helper.XXXXXX") || die "mktemp failed"
SAMPLES="$WORK/samples"      # "key value" lines for the summary
: >"$SAMPLES"
PIDS=()
FAILURES=0

forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
wait_exit() {   # PID SECONDS
	for _ in $(seq $(( $2 * 10 ))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	! kill -0 "$1" 2>/dev/null
}
stop_vm() {     # PID [SOCK]: ctl quit, then SIGTERM, then SIGKILL
	local pid=$1 sock=${2:-}
	if kill -0 "$pid" 2>/dev/null; then
		[ -n "$sock" ] && [ -S "$sock" ] && timeout 3 "$TERN" ctl "$sock" quit >/dev/null 2>&1
		wait_exit "$pid" 3 || kill -TERM "$pid" 2>/dev/null
		wait_exit "$pid" 3 || kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget "$pid"
	return 0
}
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

now_ns() { date +%s%N; }
sample() { printf '%s %s\n' "$1" "$2" >>"$SAMPLES"; }
fail() { log "FAILED: $*"; FAILURES=$((FAILURES + 1)); }
jget() {        # FILE|JSON KEY.PATH
	python3 - "$1" "$2" <<'PY'
import json, os, sys
s = open(sys.argv[1]).read() if os.path.exists(sys.argv[1]) else sys.argv[1]
v = json.loads(s)
for k in sys.argv[2].split("."):
    v = v[k]
print(v)
PY
}

wait_line() {   # FILE REGEX PID
	local file=$1 re=$2 pid=$3 deadline
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while :; do
		grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
			log "process $pid exited while waiting for /$re/ in $(basename "$file")"
			return 1
		fi
		[ "$(now_ns)" -gt "$deadline" ] && { log "timeout waiting for /$re/ in $(basename "$file")"; return 1; }
		sleep "$POLL"
	done
}
wait_hb_after_fill() {   # SERIAL COUNT PID
	local deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while [ "$(awk '/^fill done/ { f = 1; n = 0; next } f && /^hb [0-9]+ / { n++ } END { print n + 0 }' "$1" 2>/dev/null)" -lt "$2" ]; do
		kill -0 "$3" 2>/dev/null || { log "process $3 exited before $2 heartbeats after the fill"; return 1; }
		[ "$(now_ns)" -gt "$deadline" ] && { log "timeout waiting for the fill in $(basename "$1")"; return 1; }
		sleep "$POLL"
	done
}
clean_guest() { ! grep -qE 'CORRUPTION|EXCEPTION|errors=[1-9]' "$1" 2>/dev/null; }

PORT_NEXT=$(( 47300 + RANDOM % 1500 ))
next_port() {
	local p
	for _ in $(seq 50); do
		p=$PORT_NEXT
		PORT_NEXT=$(( PORT_NEXT >= 48999 ? 47300 : PORT_NEXT + 1 ))
		if python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
			echo "$p"; return 0
		fi
	done
	echo 0
}

# ---- the limits ----

memcpy_once() {
	local j
	j=$("$OUT/memcpy_bw" 256 5) || { fail "memcpy_bw"; return; }
	sample limit.memcpy_gbps "$(jget "$j" median_gbps)"
	log "  memcpy $(jget "$j" median_gbps) GB/s"
}
tcp_once() {
	local port rpid j
	port=$(next_port)
	"$OUT/tcp_bw" recv 127.0.0.1 "$port" >"$WORK/tcp.out" 2>"$WORK/tcp.err" &
	rpid=$!
	PIDS+=("$rpid")
	if ! wait_line "$WORK/tcp.err" '^ready' "$rpid"; then fail "tcp_bw recv"; stop_vm "$rpid"; return; fi
	if ! timeout "$TIMEOUT" "$OUT/tcp_bw" send 127.0.0.1 "$port" "$TCP_MIB" >/dev/null 2>"$WORK/tcp.serr"; then
		fail "tcp_bw send: $(cat "$WORK/tcp.serr")"; stop_vm "$rpid"; return
	fi
	wait_exit "$rpid" 10
	wait "$rpid" 2>/dev/null
	forget "$rpid"
	j=$(cat "$WORK/tcp.out")
	sample limit.tcp_loopback_gbps "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes_per_s"] / 1e9)' "$j")" ||
		fail "tcp_bw: no result: $j"
	log "  loopback TCP $(tail -1 "$SAMPLES" | cut -d' ' -f2 | cut -c1-5) GB/s"
}

# ---- the platform (as tests/integration/lib.sh, two_platforms) ----

psp_up() {
	"$PSP" --state-dir "$WORK/pspA" --export-chain "$WORK/chainA.pem" >/dev/null 2>&1 &&
	"$PSP" --state-dir "$WORK/pspB" --export-chain "$WORK/chainB.pem" >/dev/null 2>&1 || return 1
	{ awk 'f; /END CERTIFICATE/ { f = 1 }' "$WORK/chainA.pem"
	  awk 'f; /END CERTIFICATE/ { f = 1 }' "$WORK/chainB.pem"; } >"$WORK/roots.pem"
	local p
	for p in A B; do
		"$PSP" --socket "$WORK/psp$p.sock" --state-dir "$WORK/psp$p" --trust "$WORK/roots.pem" 2>"$WORK/psp$p.err" &
		PIDS+=($!)
	done
	for _ in $(seq 100); do [ -S "$WORK/pspA.sock" ] && [ -S "$WORK/pspB.sock" ] && break; sleep 0.05; done
	[ -S "$WORK/pspA.sock" ] && [ -S "$WORK/pspB.sock" ]
}

# ---- one source VM ----

# start_plain TAG MEM ARGS / start_helper TAG LANES MEM ARGS: SRC_PID; files
# $WORK/TAG.src.*. start_helper launches on platform A with the helper, plays
# the owner (measurement -> helper key) and waits for the lanes.
start_plain() {
	local d="$WORK/$1"
	"$TERN" run --guest "$GUEST" --mem "$2" --cpus "$CPUS" --ctl "$d.src.sock" \
		--serial "file:$d.src.serial" --guest-args "$3" 2>"$d.src.err" &
	SRC_PID=$!
	PIDS+=("$SRC_PID")
	wait_booted "$1"
}
start_helper() {
	local d="$WORK/$1" m
	# a session makes one helper-key packet: one session per launch
	"$TERN" owner session --platform "$WORK/chainA.pem" --trust "$WORK/roots.pem" --policy 0x0 \
		--dir "$d.owner" >/dev/null 2>"$d.owner.err" || { log "$1: owner session: $(cat "$d.owner.err")"; return 1; }
	TERN_PSP_SOCKET="$WORK/pspA.sock" "$TERN" run --guest "$GUEST" --mem "$3" --cpus "$CPUS" --cc emu \
		--owner-session "$d.owner" --helper "$HELPER" --helper-lanes "$2" \
		--owner-helper-key "$d.hk" --launch-timeout 60 --ctl "$d.src.sock" \
		--serial "file:$d.src.serial" --guest-args "$4" 2>"$d.src.err" &
	SRC_PID=$!
	PIDS+=("$SRC_PID")
	for _ in $(seq 200); do [ -S "$d.src.sock" ] && break; sleep 0.05; done
	m=$("$TERN" ctl "$d.src.sock" measurement 2>>"$d.src.err") || { log "$1: no measurement"; return 1; }
	"$TERN" owner helper-key --dir "$d.owner" --measurement "$(jget "$m" measurement)" \
		--out "$d.hk.tmp" >/dev/null 2>>"$d.src.err" || { log "$1: owner helper-key failed"; return 1; }
	mv "$d.hk.tmp" "$d.hk"
	wait_line "$d.src.err" 'migration helper: [0-9]+ lanes? ready' "$SRC_PID" || return 1
	wait_booted "$1"
}
wait_booted() {
	local d="$WORK/$1"
	wait_line "$d.src.serial" '^fill done' "$SRC_PID" && wait_hb_after_fill "$d.src.serial" 2 "$SRC_PID" || {
		log "$1: source did not boot and fill: $(tail -c 400 "$d.src.err" | tr '\n' ' ')"
		return 1
	}
}

# start_dest TAG CC: DST_PID, PORT
start_dest() {
	local d="$WORK/$1"
	PORT=$(next_port)
	rm -f "$d.dst.err" "$d.dst.stats"
	if [ "$2" = cc ]; then
		TERN_PSP_SOCKET="$WORK/pspB.sock" "$TERN" run --incoming "tcp:127.0.0.1:$PORT" --cc emu \
			--ctl "$d.dst.sock" --serial "file:$d.dst.serial" --stats "$d.dst.stats" 2>"$d.dst.err" &
	else
		"$TERN" run --incoming "tcp:127.0.0.1:$PORT" \
			--ctl "$d.dst.sock" --serial "file:$d.dst.serial" --stats "$d.dst.stats" 2>"$d.dst.err" &
	fi
	DST_PID=$!
	PIDS+=("$DST_PID")
	wait_line "$d.dst.err" 'waiting for an incoming migration' "$DST_PID" || {
		log "$1: destination did not start: $(tr '\n' ' ' <"$d.dst.err")"
		return 1
	}
}

# sampler SOCK OUT: query-migrate every 50 ms, "t_ns json" lines, until the
# socket stops answering
sampler() {
	local j
	while j=$(timeout 2 "$TERN" ctl "$1" query-migrate 2>/dev/null); do
		printf '%s %s\n' "$(now_ns)" "$j" >>"$2"
		sleep 0.05
	done
}

# migrate TAG [tern migrate options]: migrate the running source to a fresh
# destination with query-migrate sampling; $WORK/TAG.stats. 0 on success.
migrate() {
	local tag=$1 d="$WORK/$1" rc=0 spl t0 t1 ppid=""
	shift
	start_dest "$tag" "$CCMODE" || return 1
	sampler "$d.src.sock" "$d.qm" &
	spl=$!
	PIDS+=("$spl")
	if [ "${PROFILE:-0}" = 1 ]; then
		perf record -q -e cpu-clock -F 999 -g -p "$SRC_PID" -o "$d.perf" >/dev/null 2>"$d.perf.err" &
		ppid=$!
		PIDS+=("$ppid")
	fi
	t0=$(now_ns)
	timeout "$TIMEOUT" "$TERN" migrate --ctl "$d.src.sock" --to "tcp:127.0.0.1:$PORT" \
		--stats "$d.stats" "$@" >"$d.mig.out" 2>"$d.mig.err" || rc=$?
	t1=$(now_ns)
	echo $(( (t1 - t0) / 1000 )) >"$d.wall_us"
	if [ -n "$ppid" ]; then kill -INT "$ppid" 2>/dev/null; wait_exit "$ppid" 20; wait "$ppid" 2>/dev/null; forget "$ppid"; fi
	if [ $rc != 0 ] || ! grep -q '"completed"' "$d.stats" 2>/dev/null; then
		fail "$tag: tern migrate rc=$rc: $(tr '\n' ' ' <"$d.mig.err")"
		kill "$spl" 2>/dev/null; wait "$spl" 2>/dev/null; forget "$spl"
		stop_vm "$DST_PID" "$d.dst.sock"
		stop_vm "$SRC_PID" "$d.src.sock"
		return 1
	fi
	wait_exit "$SRC_PID" 20 || log "$tag: the source did not exit after the migration"
	stop_vm "$SRC_PID"
	kill "$spl" 2>/dev/null; wait "$spl" 2>/dev/null; forget "$spl"
	wait_exit "$DST_PID" 5    # the destination writes its --stats once running
	for _ in $(seq 50); do [ -s "$d.dst.stats" ] && break; sleep 0.1; done
	wait_line "$d.dst.serial" '^hb [0-9]+' "$DST_PID" || fail "$tag: the destination's guest did not go on"
	stop_vm "$DST_PID" "$d.dst.sock"
	clean_guest "$d.src.serial" && clean_guest "$d.dst.serial" ||
		{ fail "$tag: the guest reported corrupted pages"; return 1; }
	return 0
}

# the first-touch experiment on one source: attempt 1 is cancelled once
# WARM_FRAC of the private pages are sealed (those pages are now mapped in
# the mirror VM); attempt 2 migrates all. In attempt 2 the pages sealed by
# attempt 1 are warm, the rest cold: the query-migrate samples split its
# sealing time in two.
warm_experiment() {
	local tag=$1 lanes=$2 target=$3 d="$WORK/$1" mpid j p st
	start_helper "$tag" "$lanes" "$MEM" "$ARGS migctl=1" || { fail "$tag: launch"; stop_vm "$SRC_PID" "$d.src.sock"; return 1; }
	start_dest "$tag.a1" cc || { fail "$tag: destination 1"; return 1; }
	local dst1=$DST_PID
	"$TERN" migrate --ctl "$d.src.sock" --to "tcp:127.0.0.1:$PORT" --stats "$d.a1.stats" \
		>/dev/null 2>"$d.a1.err" &
	mpid=$!
	PIDS+=("$mpid")
	local deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while :; do
		j=$(timeout 2 "$TERN" ctl "$d.src.sock" query-migrate 2>/dev/null) || j='{}'
		p=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("private", {}).get("helper", {}).get("pages", 0))' "$j")
		[ "$p" -ge "$target" ] && break
		kill -0 "$mpid" 2>/dev/null || { fail "$tag: attempt 1 ended before $target pages"; return 1; }
		[ "$(now_ns)" -gt "$deadline" ] && { fail "$tag: attempt 1 too slow"; return 1; }
		sleep 0.02
	done
	"$TERN" ctl "$d.src.sock" migrate-cancel >/dev/null 2>&1 || fail "$tag: migrate-cancel"
	wait_exit "$mpid" 30; wait "$mpid" 2>/dev/null; forget "$mpid"
	stop_vm "$dst1" "$WORK/$tag.a1.dst.sock"
	timeout 5 "$TERN" ctl "$d.src.sock" query-migrate >"$d.a1.qm" 2>/dev/null
	st=$(jget "$d.a1.qm" status 2>/dev/null)
	[ "$st" = cancelled ] || { fail "$tag: attempt 1 not cancelled ($st): $(cat "$d.a1.err")"; return 1; }
	kill -0 "$SRC_PID" 2>/dev/null || { fail "$tag: source gone after the cancel"; return 1; }
	log "  attempt 1 cancelled after $(jget "$d.a1.qm" private.helper.pages) helper pages"
	sleep 0.5
	migrate "$tag"
}

# ---- the run ----

START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ARGS="${SIZE:+size=$SIZE }rate=$RATE hb_ms=$HB_MS"
PSP_ARGS="${PSP_SIZE:+size=$PSP_SIZE }rate=$RATE hb_ms=$HB_MS"
log "helper benchmark: guest $MEM, region ${SIZE:-all RAM}, rate $RATE MB/s, $CPUS vCPU(s); lanes [$LANES]; perf $PERF"

log "limits"
memcpy_once
tcp_once

psp_up || die "tern-psp platforms did not start: $(cat "$WORK"/psp*.err 2>/dev/null | tr '\n' ' ')"

CASES=()
run_case() {   # TAG KIND(plain|helper|psp) LANES MEM ARGS [migrate options]
	local tag=$1 kind=$2 lanes=$3 mem=$4 args=$5
	shift 5
	log "$tag"
	if [ "$kind" = plain ]; then
		CCMODE=plain
		start_plain "$tag" "$mem" "$args" || { fail "$tag: boot"; stop_vm "$SRC_PID" "$WORK/$tag.src.sock"; return; }
	else
		CCMODE=cc
		start_helper "$tag" "$lanes" "$mem" "$args migctl=1" || { fail "$tag: launch"; stop_vm "$SRC_PID" "$WORK/$tag.src.sock"; return; }
	fi
	ls /proc/"$SRC_PID"/task >"$WORK/$tag.tids" 2>/dev/null   # main, vCPUs, helper lanes, ... (creation order)
	migrate "$tag" "$@" && CASES+=("$tag:$kind:$lanes")
}

run_case plaintext plain 0 "$MEM" "$ARGS"
for l in $LANES; do
	PROFILE=0
	[ "$l" = 1 ] && PROFILE=$PERF
	run_case "helper_${l}lane" helper "$l" "$MEM" "$ARGS" --private-path helper
	PROFILE=0
done
run_case psp psp 1 "$PSP_MEM" "$PSP_ARGS" --private-path psp
if [ "$WARM" = 1 ] && [ -s "$WORK/helper_1lane.stats" ]; then
	target=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["private"]["helper"]["pages"] * float(sys.argv[2])))' \
		"$WORK/helper_1lane.stats" "$WARM_FRAC")
	log "first touch: helper, 1 lane, attempt 1 cancelled at $target sealed pages, then attempt 2"
	CCMODE=cc
	warm_experiment warm_1lane 1 "$target" && CASES+=("warm_1lane:warm:1")
fi
log "limits again"
memcpy_once
tcp_once
AES_4K=$(openssl speed -evp aes-256-gcm -bytes 4096 -seconds 1 2>/dev/null | awk '/^AES-256-GCM/ { sub("k", "", $2); print $2 * 1000 }')
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- analysis ----

if [ "$PERF" = 1 ] && [ -s "$WORK/helper_1lane.perf" ]; then
	perf report -i "$WORK/helper_1lane.perf" --no-children --sort sym --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -40 >"$WORK/perf.top"
	perf report -i "$WORK/helper_1lane.perf" --no-children --sort pid,sym --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -20 >"$WORK/perf.tid"
	cp "$WORK/helper_1lane.tids" "$WORK/perf.tids" 2>/dev/null
fi

python3 - "$WORK" "$OUT/helper.json" "$SAMPLES" "$START_DATE" "$LOAD_START" "$LOAD_END" "$FAILURES" \
	"$MEM" "$SIZE" "$RATE" "$PSP_MEM" "$PSP_SIZE" "$CPUS" "${AES_4K:-0}" "$WARM_FRAC" "${CASES[@]}" <<'PY'
import json, os, platform, re, statistics, sys
(work, out_path, samples, started, load0, load1, failures, mem, size, rate, psp_mem, psp_size, cpus,
 aes_bps, warm_frac) = sys.argv[1:16]
cases = [c.split(":") for c in sys.argv[16:]]
vals = {}
for l in open(samples):
    k, v = l.split()
    vals.setdefault(k, []).append(float(v))
med = lambda k: statistics.median(vals[k]) if vals.get(k) else None
memcpy, tcp = med("limit.memcpy_gbps"), med("limit.tcp_loopback_gbps")
P = 4096

def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None

def qm_series(path):
    """[(t_s, helper_pages, helper_ns, psp_pages, normal)] from the sampler"""
    s = []
    try:
        for l in open(path):
            t, j = l.split(" ", 1)
            j = json.loads(j)
            pr = j.get("private", {})
            if j.get("status") not in ("setup", "active", "device", "completed"):
                continue       # before this migration (a cancelled one's figures) or after it
            s.append((int(t) / 1e9, pr.get("helper", {}).get("pages", 0), pr.get("helper", {}).get("ns", 0),
                      pr.get("psp", {}).get("pages", 0), j.get("ram", {}).get("normal", 0)))
    except (OSError, ValueError):
        pass
    return s

res = {}
for tag, kind, lanes in cases:
    st = load(f"{work}/{tag}.stats")
    if not st:
        continue
    dst = load(f"{work}/{tag}.dst.stats") or {}
    pr = st["private"]
    hp, hn = pr["helper"]["pages"], pr["helper"]["ns"]
    pp, pn = pr["psp"]["pages"], pr["psp"]["ns"]
    normal = st["ram"]["normal"]
    total_s = st["total-time"] / 1e3
    copy_s = (st["total-time"] - st["setup-time"]) / 1e3
    data_pages = normal + hp + pp        # pages whose data crossed (not zero pages)
    priv = hp + pp
    r = {"kind": kind, "lanes": int(lanes), "total_ms": st["total-time"], "setup_ms": st["setup-time"],
         "downtime_ms": st["downtime"], "iterations": st["ram"]["iteration"], "bytes": st["ram"]["transferred"],
         "normal_pages": normal, "zero_pages": st["ram"]["duplicate"], "helper_pages": hp, "psp_pages": pp,
         "helper_seal_ms": hn / 1e6, "psp_seal_ms": pn / 1e6}
    r["data_pages_per_s"] = data_pages / total_s
    r["data_gbps"] = data_pages * P / total_s / 1e9
    r["ram_gbps"] = st["ram"]["total"] / total_s / 1e9     # guest RAM moved per second, zero pages included
    if priv:
        r["private_pages_per_s"] = priv / total_s
        r["private_gbps"] = priv * P / total_s / 1e9
        r["us_per_private_page_total"] = total_s * 1e6 / priv
        r["us_per_private_page_copy_phase"] = copy_s * 1e6 / priv
    if normal and not priv:
        r["us_per_page_total"] = total_s * 1e6 / normal
    if hp:
        r["seal_us_per_page"] = hn / 1e3 / hp
        r["seal_share_of_total"] = hn / 1e9 / total_s
    if pp and kind == "psp":
        r["seal_us_per_page"] = pn / 1e3 / pp
        r["seal_share_of_total"] = pn / 1e9 / total_s
    dp = dst.get("private", {})
    if dp.get("helper", {}).get("pages"):
        r["dst_open_us_per_page"] = dp["helper"]["ns"] / 1e3 / dp["helper"]["pages"]
    if dp.get("psp", {}).get("pages"):
        r["dst_psp_us_per_page"] = dp["psp"]["ns"] / 1e3 / dp["psp"]["pages"]
    if memcpy:
        r["data_ratio_to_memcpy"] = r["data_gbps"] / memcpy
    if tcp:
        r["data_ratio_to_tcp"] = r["data_gbps"] / tcp
    # the sealing rate over time (query-migrate samples): per-interval us/page
    s = [x for x in qm_series(f"{work}/{tag}.qm") if x[1] > 0]
    if len(s) > 2:
        iv = [((b[2] - a[2]) / 1e3 / (b[1] - a[1]), b[1]) for a, b in zip(s, s[1:]) if b[1] - a[1] >= 200]
        if iv:
            xs = sorted(x for x, _ in iv)
            r["seal_us_per_page_intervals"] = {"n": len(xs), "median": round(statistics.median(xs), 2),
                                               "min": round(xs[0], 2), "max": round(xs[-1], 2)}
    if kind == "warm":
        a1 = load(f"{work}/{tag}.a1.qm") or {}
        w = a1.get("private", {}).get("helper", {})
        r["attempt1_pages"], r["attempt1_seal_us_per_page"] = w.get("pages"), (w["ns"] / 1e3 / w["pages"] if w.get("pages") else None)
        P1 = w.get("pages", 0)
        warm = [0, 0]; cold = [0, 0]
        for a, b in zip(s, s[1:]):
            dpg, dns = b[1] - a[1], b[2] - a[2]
            if dpg <= 0:
                continue
            if b[1] <= P1:
                warm[0] += dpg; warm[1] += dns
            elif a[1] >= P1:
                cold[0] += dpg; cold[1] += dns
        r["attempt2_warm_pages_sampled"], r["attempt2_cold_pages_sampled"] = warm[0], cold[0]
        if warm[0]:
            r["attempt2_warm_seal_us_per_page"] = warm[1] / 1e3 / warm[0]
        if cold[0]:
            r["attempt2_cold_seal_us_per_page"] = cold[1] / 1e3 / cold[0]
    res[tag] = r

# ratios and goals
goals, br = [], {}
pt = res.get("plaintext")
psp = res.get("psp")
for tag, r in res.items():
    if r["kind"] != "helper":
        continue
    if pt:
        r["throughput_over_plaintext"] = r["data_pages_per_s"] / pt["data_pages_per_s"]
        r["private_throughput_over_plaintext"] = r.get("private_pages_per_s", 0) / pt["data_pages_per_s"]
        goals.append({"goal": f"{tag}: helper throughput / plaintext throughput (pages/s of page data, whole migration)",
                      "measured": round(r["throughput_over_plaintext"], 3), "target": ">= 0.5",
                      "met": r["throughput_over_plaintext"] >= 0.5})
    if psp and psp.get("seal_us_per_page") and r.get("seal_us_per_page"):
        r["psp_over_helper_seal"] = psp["seal_us_per_page"] / r["seal_us_per_page"]
        r["psp_over_helper_total"] = psp["us_per_private_page_total"] / r["us_per_private_page_total"]
        goals.append({"goal": f"{tag}: PSP per-page cost / helper per-page cost (source sealing time per page)",
                      "measured": round(r["psp_over_helper_seal"], 2), "target": ">= 10",
                      "met": r["psp_over_helper_seal"] >= 10,
                      "note": f"by whole-migration time per private page: {r['psp_over_helper_total']:.2f}x"})
# the breakdown of the cold 1-lane helper migration, us per private page
h1, w1 = res.get("helper_1lane"), res.get("warm_1lane")
if h1 and w1 and w1.get("attempt2_warm_seal_us_per_page") and w1.get("attempt2_cold_seal_us_per_page"):
    cold = h1["seal_us_per_page"]
    warm = w1["attempt2_warm_seal_us_per_page"]
    # first touch: the same migration, the same process, pages the mirror VM
    # had sealed once (in the cancelled attempt) against pages it had not
    ft = w1["attempt2_cold_seal_us_per_page"] - warm
    aes_us = P / float(aes_bps) * 1e6 if float(aes_bps) > 0 else None
    iv = h1.get("seal_us_per_page_intervals") or {}
    br = {"total_us_per_private_page": h1["us_per_private_page_total"],
          "seal_cold_us_per_page": cold,
          "first_touch_us_per_page": ft,
          "seal_without_first_touch_us_per_page": cold - ft,
          "aes256gcm_4k_host_us": aes_us,
          "rest_us_per_page": h1["us_per_private_page_total"] - cold,
          "dst_open_us_per_page": h1.get("dst_open_us_per_page"),
          "evidence": {
              "warm_1lane_attempt2_pages_sealed_before_us_per_page": warm,
              "warm_1lane_attempt2_pages_never_touched_us_per_page": w1["attempt2_cold_seal_us_per_page"],
              "warm_1lane_attempt2_pages_sampled_warm_cold": [w1.get("attempt2_warm_pages_sampled"),
                                                               w1.get("attempt2_cold_pages_sampled")],
              "warm_1lane_attempt1_cold_us_per_page": w1.get("attempt1_seal_us_per_page"),
              "helper_1lane_cold_us_per_page": cold,
              "helper_1lane_cold_minus_attempt2_warm": cold - warm,
              "helper_1lane_seal_intervals_us_per_page": iv,
              "helper_1lane_dst_open_us_per_page": h1.get("dst_open_us_per_page")},
          "note": ("first touch = (attempt 2 of warm_1lane: sealing per page of the pages its mirror VM had not touched) - "
                   "(the same migration: pages the mirror VM had sealed in the cancelled attempt 1); sealing without "
                   "first touch = helper_1lane's cold sealing - first touch: the helper's work per page, wall time, "
                   "including waiting for a CPU (AES-256-GCM of 4 KiB on this host with openssl: aes256gcm_4k_host_us); "
                   "rest = whole migration time per private page - source sealing time: the stream and the destination, "
                   "whose helper opens each page (dst_open_us_per_page) into RAM it touches for the first time; "
                   "the two sides run concurrently")}
perf = {}
try:
    top = [l.strip() for l in open(f"{work}/perf.top")]
    perf["top_symbols"] = top[:25]
    # self time by category (symbol names of the host kernel's KVM shadow MMU)
    cat = {}
    rx = [("kvm_mmu_page_faults", r"page_fault|mmu|shadow|spte|gfn|pte_prefetch|rmap|tdp|walk_addr|hva_to_pfn|get_user_pages|follow_page|gup|handle_mm_fault|filemap|shmem"),
          ("other_kvm_and_kernel", r"\[k\]"), ("user_space", r".")]
    for l in top:
        m = re.match(r"([0-9.]+)%\s+(.*)", l)
        if not m:
            continue
        for name, pat in rx:
            if re.search(pat, m.group(2)):
                cat[name] = round(cat.get(name, 0) + float(m.group(1)), 2)
                break
    perf["self_percent_by_category_top40"] = cat
    perf["by_thread_and_symbol"] = [l.strip() for l in open(f"{work}/perf.tid")]
    try:
        perf["threads_before_migration"] = open(f"{work}/perf.tids").read().split()
    except OSError:
        pass
    perf["note"] = ("perf record -e cpu-clock -g -p <source tern> during the cold 1-lane helper migration (all its "
                    "threads: guest vCPUs, mirror lane, migration thread); self time by symbol, top 40 symbols. "
                    "On a PVM (kvm_pvm) host the time a vCPU spends in the guest, and the shadow-paging faults "
                    "the outer hypervisor handles for it, show as pvm_do_event_irqoff: perf cannot split it")
except OSError:
    pass
summary = {"benchmark": "helper", "started": started, "failures": int(failures),
           "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "loadavg_start": load0, "loadavg_end": load1},
           "guest": {"mem": mem, "region": size, "rate_mbps": int(rate), "cpus": int(cpus),
                     "psp_mem": psp_mem, "psp_region": psp_size,
                     "note": "dirtier.elf fill=1: every region page written before the migration; the rest of RAM zero"},
           "limits": {"memcpy_gbps": memcpy, "tcp_loopback_gbps": tcp, "samples": {k: vals[k] for k in vals},
                      "aes256gcm_4k_host_gbps": float(aes_bps) / 1e9 if float(aes_bps) > 0 else None},
           "cases": res, "goals": goals, "breakdown_helper_1lane": br, "perf": perf}
text = json.dumps(summary, indent=1, default=lambda x: round(x, 4))
open(out_path, "w").write(text + "\n")
print(text)

# the table, on stderr
f = lambda v, fmt="%.2f": (fmt % v) if isinstance(v, (int, float)) else "-"
e = sys.stderr
print(f"\nlimits (this run): memcpy {f(memcpy)} GB/s, loopback TCP {f(tcp)} GB/s; AES-256-GCM 4 KiB {f(float(aes_bps) / 1e9)} GB/s", file=e)
print(f"{'path':<14} {'total ms':>9} {'priv pages':>10} {'normal':>8} {'data pg/s':>10} {'GB/s':>6} {'÷tcp':>5} "
      f"{'priv pg/s':>10} {'µs/pg seal':>10} {'µs/pg total':>11} {'seal/total':>10} {'dst µs/pg':>9}", file=e)
for tag, r in res.items():
    print(f"{tag:<14} {f(r['total_ms'], '%.0f'):>9} {r['helper_pages'] + r['psp_pages']:>10} {r['normal_pages']:>8} "
          f"{f(r['data_pages_per_s'], '%.0f'):>10} {f(r['data_gbps']):>6} {f(r.get('data_ratio_to_tcp')):>5} "
          f"{f(r.get('private_pages_per_s'), '%.0f'):>10} {f(r.get('seal_us_per_page')):>10} "
          f"{f(r.get('us_per_private_page_total', r.get('us_per_page_total'))):>11} {f(r.get('seal_share_of_total')):>10} "
          f"{f(r.get('dst_open_us_per_page', r.get('dst_psp_us_per_page'))):>9}", file=e)
print("goals:", file=e)
for g in goals:
    print(f"  {'MET   ' if g['met'] else 'MISSED'} {g['goal']}: {g['measured']} (target {g['target']}) {g.get('note', '')}", file=e)
if br:
    print(f"where the helper's time goes (1 lane, µs per private page): total {f(br['total_us_per_private_page'])} = "
          f"source sealing {f(br['seal_cold_us_per_page'])} [first touch {f(br['first_touch_us_per_page'])} + "
          f"the rest of sealing {f(br['seal_without_first_touch_us_per_page'])} (AES-256-GCM alone ~{f(br['aes256gcm_4k_host_us'])})] "
          f"+ rest {f(br['rest_us_per_page'])}; the destination's helper opened at {f(br['dst_open_us_per_page'])} µs/page", file=e)
    print(f"  evidence: {json.dumps(br['evidence'], default=lambda x: round(x, 2))}", file=e)
if perf.get("top_symbols"):
    print("perf (source tern, cold 1-lane helper migration, cpu-clock, self time):", file=e)
    for l in perf["top_symbols"][:10]:
        print("   " + l, file=e)
    print(f"  by thread (tids before the migration: {' '.join(perf.get('threads_before_migration', []))}; the "
          f"migration thread is the one not listed):", file=e)
    for l in perf.get("by_thread_and_symbol", [])[:12]:
        print("   " + l, file=e)
PY
[ $? = 0 ] || die "summary failed"
log "wrote $OUT/helper.json"
[ "$FAILURES" = 0 ] || { log "$FAILURES measurement(s) failed"; exit 1; }
exit 0
