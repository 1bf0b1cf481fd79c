#!/usr/bin/env bash
# postcopy.sh - post-copy migration of tern against pre-copy, the same guest
# in the same run: total time, the guest's pause at the switch, page-request
# latency (median, p99), the time the guest spent blocked on missing pages,
# and how long until the guest is back to full speed on the destination
# (its heartbeats: dirty rate and verifier). Ratios to limits measured in the
# same run: raw TCP with as many connections as the migration (bench/tcp_bw)
# for throughput, and a 4 KiB request/answer round trip over loopback TCP
# for the request latency.
#
#   make && flock /var/tmp/kvm-heavy.lock bench/postcopy.sh    # ~15-25 min with the defaults
#   BENCH_N=1 BENCH_SIZES=256M BENCH_RATES="0 50" BENCH_TCP_MIB=256 bench/postcopy.sh   # smoke, ~1 min
#
# Environment (all optional):
#   BENCH_N            repetitions of every measurement (default 3); the two
#                      modes alternate which goes first from round to round
#   BENCH_VM_CPUS      the guest's vCPUs (default 1)
#   BENCH_SIZES        guest RAM sizes (default 4G); the dirtier's region is
#                      all RAM above its image (fill=1: every page written
#                      before the migration starts)
#   BENCH_RATES        dirtying rates in MB/s, 0 = idle (default "0 200")
#   BENCH_PATTERN      the dirtier's rewrite order: seq (default: each worker's
#                      slice in order, so its hot pages are a band that the
#                      source's push, led by the last request, stays ahead
#                      of) or random (hot pages all over RAM: the guest
#                      faults on missing pages, and the request latency has
#                      samples)
#   BENCH_CONNECTIONS  data connections: --connections N (default: tern's own
#                      default, as its --help states it); the raw TCP limit
#                      uses as many streams
#   BENCH_DOWNTIME_MS  pre-copy: tern migrate --downtime-ms (default 20)
#   BENCH_MIG_TIMEOUT  pre-copy: --timeout, with --on-timeout force (default 60 s)
#   BENCH_PC_DOWNTIME_MS  post-copy: --downtime-ms beside --postcopy (default 1).
#                      tern switches by pre-copy when the first round's
#                      leftovers fit the budget (an idle guest always does);
#                      the smallest budget makes every other case post-copy.
#                      Which mode a migration really ended in is counted
#                      ("postcopy_engaged")
#   BENCH_HB_MS        guest heartbeat period (default 100)
#   BENCH_WATCH_S      longest wait for the destination's guest to be back to
#                      full speed after the switch (default 60)
#   BENCH_TCP_MIB      bytes per raw TCP stream sample (default 2048 MiB)
#   BENCH_RTT_N        request/answer round trips per latency-limit sample (default 2000)
#   BENCH_PERF         1: after the measured rounds, one more post-copy
#                      migration per rate of the last size under
#                      `perf record -a -g -e cpu-clock`; the top symbols per
#                      thread (tern-pcfault, tern-pcreq, tern-pcserve,
#                      tern-txN, tern-rxN, tern-vcpuN, ...) of each end go
#                      to BENCH_OUT/postcopy-perf-CASE.txt (default 0)
#   BENCH_TIMEOUT      seconds any one wait may take (default 120)
#   BENCH_KEEP         1: keep the scratch directory (serial logs with
#                      timestamps, stats, per migration) and say where
#   BENCH_OUT          where the results go (default bench/out)
#   TERN, GUEST        binaries (default build/tern, build/guest/dirtier.elf)
#
# "Back to full speed": the first heartbeat on the destination after the
# switch whose dirty_mbps is within 10% of the rate asked and whose
# verified pages since the previous heartbeat are within 20% of the median
# per heartbeat before the migration; its time is the wall clock at which
# the line reached the destination's serial file, less the time the
# destination said the guest runs there (post-copy: "post-copy: the guest
# runs here"; pre-copy: "migrated in:"), both stamped by a watcher polling
# the two files every 5 ms.
#
# Prints one JSON summary on stdout and writes it to BENCH_OUT/postcopy.json;
# the table and the goals go to stderr and BENCH_OUT/postcopy.md. Goals are
# reported (met or missed, with the ratio to the target), never asserted.
# Exit status 0, 1 when any sample failed (the summary is still written,
# "failures" > 0), 2 on a setup error.
set -euo pipefail
# shared helpers: now_ns, forget, wait_exit, wait_line, hb_after, wait_hb, clean_guest
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}
N=${BENCH_N:-3}
VM_CPUS=${BENCH_VM_CPUS:-1}
SIZES=${BENCH_SIZES:-4G}
RATES=${BENCH_RATES:-0 200}
PATTERN=${BENCH_PATTERN:-seq}
[[ "$PATTERN" =~ ^(seq|random)$ ]] || die "BENCH_PATTERN: '$PATTERN' is not seq or random"
DOWNTIME_MS=${BENCH_DOWNTIME_MS:-20}
MIG_TIMEOUT=${BENCH_MIG_TIMEOUT:-60}
PC_DOWNTIME_MS=${BENCH_PC_DOWNTIME_MS:-1}
HB_MS=${BENCH_HB_MS:-100}
WATCH_S=${BENCH_WATCH_S:-60}
TCP_MIB=${BENCH_TCP_MIB:-2048}
RTT_N=${BENCH_RTT_N:-2000}
PERF=${BENCH_PERF:-0}
TIMEOUT=${BENCH_TIMEOUT:-120}
KEEP=${BENCH_KEEP:-0}
TERN=${TERN:-$ROOT/build/tern}
GUEST=${GUEST:-$ROOT/build/guest/dirtier.elf}
POLL=0.05

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for v in N VM_CPUS DOWNTIME_MS MIG_TIMEOUT PC_DOWNTIME_MS HB_MS WATCH_S TCP_MIB RTT_N TIMEOUT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
for r in $RATES; do [[ "$r" =~ ^[0-9]+$ ]] || die "BENCH_RATES: '$r' is not a number of MB/s"; done
for s in $SIZES; do [[ "$s" =~ ^[1-9][0-9]*[MG]$ ]] || die "BENCH_SIZES: '$s' (e.g. 4G or 256M)"; done
[ -n "${RATES// /}" ] || die "BENCH_RATES is empty"
[ -n "${SIZES// /}" ] || die "BENCH_SIZES is empty"
[ "$VM_CPUS" -le 16 ] || die "BENCH_VM_CPUS must be 1-16 (tern's limit)"
[ -z "${BENCH_CONNECTIONS:-}" ] || [[ "$BENCH_CONNECTIONS" =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_CONNECTIONS must be a positive integer"
[ -x "$TERN" ] || die "$TERN not found; run make first"
[ -f "$GUEST" ] || die "$GUEST not found; run make first"
[ -w /dev/kvm ] || die "/dev/kvm is missing or not writable: no VM can run here (\`$TERN host-check\` says what this host has)"
command -v python3 >/dev/null || die "python3 is needed for the analysis and the JSON summary"
if [ "$PERF" = 1 ]; then
	command -v perf >/dev/null || die "BENCH_PERF=1: no perf (apt-get install linux-perf)"
fi

MIG_HELP=$("$TERN" migrate --help 2>&1 || true)
grep -q -- '--postcopy' <<<"$MIG_HELP" || die "this tern migrate has no --postcopy"
if [ -n "${BENCH_CONNECTIONS:-}" ]; then
	CONNS=$BENCH_CONNECTIONS
	CONN_ARGS=(--connections "$CONNS")
	CONN_NOTE="--connections $CONNS (BENCH_CONNECTIONS)"
else
	CONN_ARGS=()
	CONNS=$(grep -- '--connections' <<<"$MIG_HELP" | grep -oE 'default[^0-9)]*[0-9]+' | grep -oE '[0-9]+$' | head -1 || true)
	if [ -n "$CONNS" ]; then
		CONN_NOTE="tern migrate's default ($CONNS, from its --help)"
	else
		CONNS=$(nproc)
		CONN_NOTE="tern migrate's default, which its --help does not state as a number: assumed one per core ($CONNS)"
	fi
fi

mkdir -p "$OUT"
make -s -C "$BENCH" OUT="$OUT" >&2 || die "cannot build bench/out/tcp_bw"
TCPBW="$OUT/tcp_bw"
NHB=$(( (1000 + HB_MS - 1) / HB_MS ))      # heartbeats in one second

# ---- bookkeeping and cleanup ----

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench-pc.XXXXXX") || die "mktemp failed"
SAMPLES="$WORK/samples"
: >"$SAMPLES"
PIDS=()                       # every process we started and have not reaped
FAILURES=0

# Stop one tern: ask over its socket, then SIGTERM, then SIGKILL. Bounded.
stop_vm() {
	local pid=$1 sock=${2:-}
	if kill -0 "$pid" 2>/dev/null; then
		if [ -n "$sock" ] && [ -S "$sock" ]; then
			timeout 3 "$TERN" ctl "$sock" quit >/dev/null 2>&1 || true
		fi
		wait_exit "$pid" 3 || kill -TERM "$pid" 2>/dev/null || true
		wait_exit "$pid" 3 || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	[ -z "$sock" ] || rm -f "$sock"
	return 0
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait_exit "$1" 3 || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget "$1"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local p
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fail() { log "FAILED: $*"; FAILURES=$((FAILURES + 1)); }


PORT_NEXT=$(( 47300 + RANDOM % 400 ))
# next_port: a TCP port nobody listens on (loopback).
next_port() {
	local p
	for _ in $(seq 50); do
		p=$PORT_NEXT
		PORT_NEXT=$(( PORT_NEXT >= 48999 ? 47300 : PORT_NEXT + 1 ))
		if python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo 0
}

rate_label() { if [ "$1" = 0 ]; then echo idle; else echo "${1}MBps"; fi; }

# ---- the limits ----

# tcp_once NAME [tcp_bw options]: one sample of TCP_MIB MiB over loopback.
tcp_once() {
	local name=$1 port rpid j bps
	shift
	port=$(next_port)
	"$TCPBW" recv 127.0.0.1 "$port" "$@" >"$WORK/tcp.out" 2>"$WORK/tcp.err" &
	rpid=$!
	PIDS+=("$rpid")
	if ! wait_line "$WORK/tcp.err" '^ready' "$rpid"; then
		fail "tcp_bw recv: $(tr '\n' ' ' <"$WORK/tcp.err")"
		stop_pid "$rpid"
		return 0
	fi
	if ! timeout "$TIMEOUT" "$TCPBW" send 127.0.0.1 "$port" "$TCP_MIB" "$@" >/dev/null 2>"$WORK/tcp.serr"; then
		fail "tcp_bw send ($name): $(tr '\n' ' ' <"$WORK/tcp.serr")"
		stop_pid "$rpid"
		return 0
	fi
	wait_exit "$rpid" 10 || true
	wait "$rpid" 2>/dev/null || true
	forget "$rpid"
	j=$(cat "$WORK/tcp.out")
	bps=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes_per_s"])' "$j" 2>/dev/null || true)
	if [ -n "$bps" ]; then
		echo "tcp.$name $bps" >>"$SAMPLES"
		log "  tcp $name: $(python3 -c 'import sys; print("%.2f GB/s" % (float(sys.argv[1]) / 1e9))' "$bps")"
	else
		fail "tcp_bw ($name): no result: $j $(tr '\n' ' ' <"$WORK/tcp.err")"
	fi
}

# rtt_once: the floor under a page request here: an 8-byte request answered
# by a 4 KiB page over one loopback TCP connection (TCP_NODELAY), RTT_N
# times, one Python thread at each end (so an upper bound on the kernel's
# floor); samples rtt.median_us and rtt.p99_us.
rtt_once() {
	if ! timeout "$TIMEOUT" python3 - "$RTT_N" >>"$SAMPLES" 2>"$WORK/rtt.err" <<'PY'
import socket, sys, threading, time
n = int(sys.argv[1])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
page = bytes(range(256)) * 16

def serve():
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = b""
        while len(b) < 8:
            x = c.recv(8 - len(b))
            if not x:
                return
            b += x
        c.sendall(page)

th = threading.Thread(target=serve, daemon=True)
th.start()
s = socket.create_connection(ls.getsockname())
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
lat = []
for i in range(n + 100):
    t0 = time.perf_counter_ns()
    s.sendall(i.to_bytes(8, "little"))
    got = 0
    while got < 4096:
        x = s.recv(4096 - got)
        if not x:
            sys.exit("the server closed")
        got += len(x)
    if i >= 100:                      # warm-up
        lat.append((time.perf_counter_ns() - t0) / 1e3)
s.close()
lat.sort()
print(f"rtt.median_us {lat[len(lat) // 2]}")
print(f"rtt.p99_us {lat[len(lat) * 99 // 100]}")
PY
	then
		fail "loopback round trip: $(tail -2 "$WORK/rtt.err" | tr '\n' ' ')"
		return 0
	fi
	log "  loopback 4 KiB request/answer: $(tail -2 "$SAMPLES" | awk '{ printf "%s %.0f us  ", $1, $2 }')"
}

limits_round() {
	if [ "$CONNS" -gt 1 ]; then tcp_once "raw_${CONNS}streams" "streams=$CONNS"; else tcp_once raw; fi
	rtt_once
}

# ---- one migration ----

# stamp FILE NAME=PATH...: a watcher that appends "wall_ns NAME line" to
# FILE for every complete line as it reaches each PATH (polled every 5 ms),
# until SIGTERM (then one last pass). At nice -10 where allowed, so that
# the busy migration threads delay its stamps less. Sets STAMP_PID once it
# has made its first pass (FILE exists).
stamp() {
	local out=$1 nice=()
	shift
	rm -f "$out"
	[ "$(id -u)" != 0 ] || nice=(nice -n -10)
	"${nice[@]}" python3 - "$out" "$@" <<'PY' &
import os, signal, sys, time
out, specs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
pos, part = {n: 0 for n, _ in specs}, {n: b"" for n, _ in specs}
stop = False
def term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, term)
with open(out, "ab", buffering=0) as o:
    while True:
        last = stop
        for name, path in specs:
            try:
                with open(path, "rb") as f:
                    f.seek(pos[name])
                    data = f.read()
            except OSError:
                continue
            if not data:
                continue
            pos[name] += len(data)
            t = str(time.time_ns()).encode()
            lines = (part[name] + data).split(b"\n")
            part[name] = lines.pop()
            if lines:
                o.write(b"".join(t + b" " + name.encode() + b" " + l + b"\n" for l in lines))
        if last:
            break
        time.sleep(0.005)
PY
	STAMP_PID=$!
	PIDS+=("$STAMP_PID")
	for _ in $(seq 200); do [ -e "$out" ] && return 0; sleep 0.01; done
	log "the line watcher did not start"
	return 1
}

# start_source TAG MEM ARGS: sets SRC_PID; files $WORK/TAG.*
start_source() {
	local tag=$1 mem=$2 args=$3 d="$WORK/$1"
	rm -f "$d".*
	"$TERN" run --guest "$GUEST" --mem "$mem" --cpus "$VM_CPUS" \
		--ctl "$d.src.sock" --serial "file:$d.src.serial" --guest-args "$args" 2>"$d.src.err" &
	SRC_PID=$!
	PIDS+=("$SRC_PID")
}

# full_speed TAG RATE: 0 once the destination's guest is back to full speed
# and two more heartbeats followed (analyze.py decides from the stamps).
full_speed() {
	python3 "$WORK/analyze.py" ready "$WORK/$1" "$2" "$NHB" 2>/dev/null
}

# migrate_once TAG MODE MEM RATE: boot a source, wait for the fill and NHB+1
# heartbeats, start a destination, migrate by MODE (pre or post), wait for
# the destination's stats and for its guest to be back to full speed (at
# most WATCH_S after the migration ended). Leaves $WORK/TAG.* for
# analyze.py; 0 on success. PERF_DATA set: under perf record -a -g.
migrate_once() {
	local tag=$1 mode=$2 mem=$3 rate=$4 d="$WORK/$1" port dpid spid rc=0 l0 t0 t1 deadline perf_pid="" tid_pid=""
	local args="rate=$rate hb_ms=$HB_MS stall=window pattern=$PATTERN"
	local mode_args=(--downtime-ms "$DOWNTIME_MS" --timeout "$MIG_TIMEOUT" --on-timeout force)
	[ "$mode" = post ] && mode_args=(--downtime-ms "$PC_DOWNTIME_MS" --postcopy)
	start_source "$tag" "$mem" "$args"
	spid=$SRC_PID
	if ! wait_line "$d.src.serial" '^fill done' "$spid" || ! wait_hb "$d.src.serial" $((NHB + 1)) "$spid"; then
		fail "$tag: source did not boot and fill (stderr: $(tr '\n' ' ' <"$d.src.err" | tail -c 400))"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	port=$(next_port)
	"$TERN" run --incoming "tcp:127.0.0.1:$port" --ctl "$d.dst.sock" --serial "file:$d.dst.serial" \
		--stats "$d.dst.stats" 2>"$d.dst.err" &
	dpid=$!
	PIDS+=("$dpid")
	if ! wait_line "$d.dst.err" 'waiting for an incoming migration' "$dpid"; then
		fail "$tag: destination did not start: $(tr '\n' ' ' <"$d.dst.err")"
		stop_vm "$dpid"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	local spl
	if ! stamp "$d.ts" "dst.serial=$d.dst.serial" "dst.err=$d.dst.err"; then
		fail "$tag: no line watcher"
		stop_pid "$STAMP_PID"
		stop_vm "$dpid"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	spl=$STAMP_PID
	if [ -n "${PERF_DATA:-}" ]; then
		perf record -a -g -e cpu-clock -o "$PERF_DATA" -- sleep $((MIG_TIMEOUT + TIMEOUT)) \
			>"$WORK/perf.out" 2>&1 &
		perf_pid=$!
		PIDS+=("$perf_pid")
		# the threads of both ends by tid, for the per-thread summary, with
		# their schedstat (time on a CPU, time runnable waiting for one)
		# every 50 ms: a thread's last line is at most 50 ms before its end
		( while kill -0 "$dpid" 2>/dev/null; do
			for p in "src $spid" "dst $dpid"; do
				for t in /proc/"${p#* }"/task/*; do
					{ read -r c <"$t/comm" && read -r a b _ <"$t/schedstat"; } 2>/dev/null || continue
					echo "${p% *} ${t##*/} $a $b $c"
				done
			done
			sleep 0.05
		  done ) >>"$PERF_DATA.tids" 2>/dev/null &
		tid_pid=$!
		PIDS+=("$tid_pid")
		sleep 0.5                 # perf is recording
	fi
	l0=$(grep -c '' "$d.src.serial" || true)
	t0=$(now_ns)
	timeout $((MIG_TIMEOUT + TIMEOUT)) "$TERN" migrate --ctl "$d.src.sock" --to "tcp:127.0.0.1:$port" \
		"${mode_args[@]}" "${CONN_ARGS[@]}" --stats "$d.stats" >"$d.mig.out" 2>"$d.mig.err" || rc=$?
	t1=$(now_ns)
	echo "$l0 $(( (t1 - t0) / 1000 ))" >"$d.meta"
	if [ $rc != 0 ] || ! grep -q '"completed"' "$d.stats" 2>/dev/null; then
		fail "$tag: tern migrate rc=$rc: $(tr '\n' ' ' <"$d.mig.err") $(cat "$d.stats" 2>/dev/null)"
		[ -z "$perf_pid" ] || stop_pid "$perf_pid"
		stop_pid "$spl"
		stop_vm "$dpid" "$d.dst.sock"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	wait_exit "$spid" 20 || log "$tag: the source did not exit after the migration"
	stop_vm "$spid"
	# the destination writes its stats when the last page is in place
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while [ ! -s "$d.dst.stats" ] && kill -0 "$dpid" 2>/dev/null && [ "$(now_ns)" -lt "$deadline" ]; do
		sleep "$POLL"
	done
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait_exit "$perf_pid" 30 || kill -KILL "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		forget "$perf_pid"
	fi
	if [ ! -s "$d.dst.stats" ]; then
		fail "$tag: the destination wrote no stats (stderr: $(tr '\n' ' ' <"$d.dst.err" | tail -c 400))"
		rc=1
	else
		deadline=$(( $(now_ns) + WATCH_S * 1000000000 ))
		until full_speed "$tag" "$rate"; do
			if ! kill -0 "$dpid" 2>/dev/null || [ "$(now_ns)" -gt "$deadline" ]; then
				log "$tag: the guest was not back to full speed within ${WATCH_S}s of the end (said as such)"
				break
			fi
			sleep 0.2
		done
		if ! wait_hb "$d.dst.serial" $((NHB + 5)) "$dpid"; then
			fail "$tag: the destination's guest did not go on (stderr: $(tr '\n' ' ' <"$d.dst.err"))"
			rc=1
		fi
	fi
	stop_vm "$dpid" "$d.dst.sock"
	stop_pid "$spl"
	[ -z "$tid_pid" ] || stop_pid "$tid_pid"
	if ! clean_guest "$d.src.serial" || ! clean_guest "$d.dst.serial"; then
		fail "$tag: the guest reported corrupted pages: $(grep -hE 'CORRUPTION|EXCEPTION|errors=[1-9]' "$d".*.serial | head -3 | tr '\n' ' ')"
		rc=1
	fi
	if grep -q 'post-copy: ' "$d.dst.err" && [ "$mode" = pre ]; then
		fail "$tag: a pre-copy migration went post-copy"
		rc=1
	fi
	return $rc
}

# analyze TAG CASE MODE RATE ROUND: sample lines from one migration's files
analyze() {
	if python3 "$WORK/analyze.py" sample "$WORK/$1" "$2.$3" "$4" "$HB_MS" "$NHB" "$5" >>"$SAMPLES" 2>"$WORK/analyze.err"; then
		[ ! -s "$WORK/analyze.err" ] || log "  $(tail -1 "$WORK/analyze.err")"
	else
		fail "$1: analysis failed: $(tail -3 "$WORK/analyze.err" | tr '\n' ' ')"
	fi
}

# keep TAG: with BENCH_KEEP=1 move one migration's files aside, else delete them
KEEP_N=0
keep() {
	if [ "$KEEP" = 1 ]; then
		mkdir -p "$WORK/kept/$1.$KEEP_N"
		mv "$WORK/$1".* "$WORK/kept/$1.$KEEP_N/" 2>/dev/null || true
		KEEP_N=$((KEEP_N + 1))
	else
		rm -f "$WORK/$1".*
	fi
}

# ---- the analysis (one migration -> sample lines; all samples -> summary) ----

cat >"$WORK/analyze.py" <<'PY'
import json, re, statistics, sys
from collections import defaultdict

HB = re.compile(r'^hb (\d+) written=(\d+) verified=(\d+) errors=(\d+) max_stall_us=(\d+) dirty_mbps=(\d+)$')

def src_hbs(path):
    """[(line_no, hb, verified, stall_us, mbps, after_fill)] of complete lines"""
    out, after_fill = [], False
    try:
        lines = open(path, errors="replace").read().split("\n")[:-1]
    except OSError:
        return out
    for i, l in enumerate(lines):
        if l.startswith("fill done"):
            after_fill = True
            continue
        m = HB.match(l)
        if m:
            n, w, v, e, s, mb = map(int, m.groups())
            out.append((i, n, v, s, mb, after_fill))
    return out

def stamped(path):
    """the watcher's lines: [(ns, name, text)]"""
    out = []
    try:
        for l in open(path, errors="replace"):
            p = l.rstrip("\n").split(" ", 2)
            if len(p) == 3:
                out.append((int(p[0]), p[1], p[2]))
    except (OSError, ValueError):
        pass
    return out

def med(xs):
    return statistics.median(xs) if xs else None

def switch_ns(ts):
    # post-copy: the destination runs the guest before the last page;
    # pre-copy: "migrated in:" follows the resume at once
    for t, n, x in ts:
        if n == "dst.err" and "post-copy: the guest runs here" in x:
            return t
    for t, n, x in ts:
        if n == "dst.err" and "migrated in:" in x:
            return t
    return None

def recovery(base, rate, nhb):
    """(reference, dst heartbeats with stamps, index of the first at full
    speed or None, switch time)"""
    src = src_hbs(base + ".src.serial")
    l0 = int(open(base + ".meta").read().split()[0])
    pre = [h for h in src if h[5] and h[0] < l0][1:]      # not the first after the fill
    before = pre[-nhb:] if len(pre) > nhb else pre
    ref_v = med([b[2] - a[2] for a, b in zip(before, before[1:])])
    ts = stamped(base + ".ts")
    dst = []
    for t, n, x in ts:
        m = HB.match(x) if n == "dst.serial" else None
        if m:
            dst.append((t,) + tuple(map(int, m.groups())))     # (t, hb, w, v, e, stall, mbps)
    last_src = src[-1] if src else None
    full = None
    if ref_v and last_src:
        prev_v = last_src[2]
        for i, h in enumerate(dst):
            dv = h[3] - prev_v
            prev_v = h[3]
            ok_rate = abs(h[6] - rate) <= 0.1 * rate
            ok_v = abs(dv - ref_v) <= 0.2 * ref_v
            if ok_rate and ok_v:
                full = i
                break
    return {"ref_verified_per_hb": ref_v, "dirty_before": med([h[4] for h in before]),
            "dst": dst, "full": full, "switch": switch_ns(ts), "src": src}

def ready(base, rate, nhb):
    r = recovery(base, rate, nhb)
    sys.exit(0 if r["full"] is not None and len(r["dst"]) >= r["full"] + 3 else 1)

def sample(base, prefix, rate, hb_ms, nhb, rnd):
    st = json.load(open(base + ".stats"))
    dst_st = json.load(open(base + ".dst.stats"))
    ram = st["ram"]
    total = st["total-time"]
    out = {"total_ms": total, "pause_ms": st["downtime"], "bytes": ram["transferred"],
           "iterations": ram["iteration"]}
    if total > 0:
        out["payload_Bps"] = ram["normal"] * 4096 / (total / 1e3)
    tl = st.get("timeline") or []
    if tl:
        # the first round is the same work in both modes (every page once,
        # the guest running); what differs is what follows it
        out["first_round_ms"] = tl[0]["duration-ms"]
        out["after_first_round_ms"] = total - (tl[0]["start-ms"] + tl[0]["duration-ms"])
    pc, dpc = st.get("postcopy"), dst_st.get("postcopy")
    out["postcopy_engaged"] = 1 if pc else 0
    if pc:
        out["switch_pause_ms"] = pc["switch-pause-ms"]
        out["missing_pages"] = pc["missing-pages"]
        out["background_bytes"] = pc["background-bytes"]
        out["src_requests"] = pc["requests"]
        out["src_postcopy_ms"] = pc["time-ms"]
    if dpc:
        out["dst_switch_pause_ms"] = dpc["switch-pause-ms"]
        out["requests"] = dpc["requests"]
        out["request_bytes"] = dpc["request-bytes"]
        if dpc["requests"]:
            lat = dpc["request-latency-us"]
            out["req_lat_median_us"] = lat["median"]
            out["req_lat_p99_us"] = lat["p99"]
            out["req_lat_max_us"] = lat["max"]
        out["guest_blocked_ms"] = dpc["guest-blocked-ms"]
        out["last_page_ms"] = dpc["time-ms"]
        out["vm_lost"] = 1 if dpc["vm-lost"] else 0
    r = recovery(base, rate, nhb)
    dst = r["dst"]
    if r["ref_verified_per_hb"]:
        out["verified_per_hb_before"] = r["ref_verified_per_hb"]
    if r["dirty_before"] is not None:
        out["dirty_mbps_before"] = r["dirty_before"]
    if dst:
        # the window that holds the pause: the first heartbeat, or the second
        # (stall=window hands a worker's stall to the heartbeat after it)
        out["guest_stall_switch_ms"] = max(h[5] for h in dst[:2]) / 1e3
        out["guest_stall_max_ms"] = max(h[5] for h in dst[:r["full"] + 1 if r["full"] is not None else len(dst)]) / 1e3
    if r["full"] is not None and r["switch"]:
        out["full_speed_ms"] = (dst[r["full"]][0] - r["switch"]) / 1e6
        out["full_speed_hbs"] = r["full"] + 1
    elif dst:
        out["full_speed_missed"] = 1
    for k, v in out.items():
        print(f"{prefix}.{k} {v}")
    _, tag, mode = prefix.split(".")
    for k in ("total_ms", "after_first_round_ms"):
        if k in out:
            print(f"pair.{tag}.{rnd}.{mode}.{k} {out[k]}")
    g = lambda k, f="%.1f": (f % out[k]) if out.get(k) is not None else "-"
    print(f"{prefix}: total {g('total_ms')} ms, pause {g('pause_ms')} ms, guest stall at the switch "
          f"{g('guest_stall_switch_ms')} ms, post-copy {'yes' if pc else 'no'}"
          + (f" ({g('missing_pages', '%d')} pages missing, {g('requests', '%d')} requests, latency median "
             f"{g('req_lat_median_us', '%.0f')} p99 {g('req_lat_p99_us', '%.0f')} us, blocked "
             f"{g('guest_blocked_ms')} ms, last page {g('last_page_ms', '%.0f')} ms)" if pc else "")
          + f", back to full speed {g('full_speed_ms', '%.0f')} ms after the switch "
            f"({g('full_speed_hbs', '%d')} heartbeats)", file=sys.stderr)

def stats(xs, nd=3):
    if not xs:
        return None
    return {"median": round(statistics.median(xs), nd), "min": round(min(xs), nd),
            "max": round(max(xs), nd), "n": len(xs)}

def summary(samples_path, out_json, out_md, meta_json):
    meta = json.loads(meta_json)
    vals = defaultdict(list)
    for line in open(samples_path):
        k, v = line.split()
        vals[k].append(float(v))
    md = lambda k: statistics.median(vals[k]) if vals.get(k) else None
    tcp_name = "raw" if meta["connections"] == 1 else f"raw_{meta['connections']}streams"
    tcp = md("tcp." + tcp_name)
    limits = {"tcp": {"name": tcp_name, "gbps": stats([x / 1e9 for x in vals.get("tcp." + tcp_name, [])])},
              "rtt_us": {"median": stats(vals.get("rtt.median_us", []), 1),
                         "p99": stats(vals.get("rtt.p99_us", []), 1)}}
    cases = {}
    for k in vals:
        if k.startswith("case."):
            _, tag, mode, _ = k.split(".", 3)
            cases.setdefault(tag, {}).setdefault(mode, {})
    for tag, modes in cases.items():
        size, rate = tag.split("_", 1)
        for mode, c in modes.items():
            pre = f"case.{tag}.{mode}."
            for k in sorted(x[len(pre):] for x in vals if x.startswith(pre)):
                xs = vals[pre + k]
                if k == "payload_Bps":
                    c["payload_gbps"] = stats([x / 1e9 for x in xs])
                    if tcp:
                        c["payload_ratio_to_tcp"] = stats([x / tcp for x in xs], 4)
                elif k in ("postcopy_engaged", "full_speed_missed", "vm_lost"):
                    c[k] = int(sum(xs))
                else:
                    c[k] = stats(xs)
        pre_t, post_t = vals.get(f"case.{tag}.pre.total_ms"), vals.get(f"case.{tag}.post.total_ms")
        if pre_t and post_t:
            modes["post_over_pre_total"] = round(statistics.median(post_t) / statistics.median(pre_t), 3)
        # the same ratio per round (the two modes ran back to back, so
        # the host's drift hits both alike), for the total and for the
        # time after the first round (the same work in both modes)
        for k, key in (("total_ms", "post_over_pre_total_per_round"),
                       ("after_first_round_ms", "post_over_pre_after_first_round_per_round")):
            rs = sorted({x.split(".")[2] for x in vals if x.startswith(f"pair.{tag}.") and x.endswith("." + k)})
            pairs = [vals[f"pair.{tag}.{r}.post.{k}"][0] / vals[f"pair.{tag}.{r}.pre.{k}"][0] for r in rs
                     if vals.get(f"pair.{tag}.{r}.post.{k}") and vals.get(f"pair.{tag}.{r}.pre.{k}")
                     and vals[f"pair.{tag}.{r}.pre.{k}"][0] > 0]
            if pairs:
                modes[key] = stats(pairs, 3)
        modes["mem"], modes["dirty_rate_mbps"] = size, 0 if rate == "idle" else int(rate[:-4])

    goals = []
    def goal(name, measured, target, ok, ratio, note=""):
        goals.append({"goal": name, "measured": measured, "target": target, "met": ok,
                      "ratio_to_target": None if ratio is None else round(ratio, 3), "note": note})
    for tag in sorted(cases, key=lambda t: (t.split("_")[0], cases[t]["dirty_rate_mbps"])):
        c = cases[tag]
        post, pre = c.get("post", {}), c.get("pre", {})
        n = (post.get("total_ms") or {}).get("n", 0)
        eng = post.get("postcopy_engaged", 0)
        sp = post.get("switch_pause_ms")
        if sp:
            m = sp["median"]
            goal(f"{tag}: post-copy switch pause (source) <= 10 ms", m, "<= 10 ms", m <= 10, m / 10,
                 f"{sp['n']} of {n} runs went post-copy")
        else:
            goal(f"{tag}: post-copy switch pause (source) <= 10 ms", None, "<= 10 ms", None, None,
                 f"none of {n} runs went post-copy (tern switched by pre-copy: the first "
                 f"round's leftovers fit --downtime-ms {meta['pc_downtime_ms']})")
        p99 = post.get("req_lat_p99_us")
        if p99:
            m = p99["median"]
            goal(f"{tag}: page-request latency p99 <= 1 ms (loopback)", m, "<= 1000 us", m <= 1000, m / 1000,
                 f"loopback 4 KiB request/answer round trip in the same run: median "
                 f"{md('rtt.median_us') or 0:.0f} us, p99 {md('rtt.p99_us') or 0:.0f} us")
        elif eng:
            goal(f"{tag}: page-request latency p99 <= 1 ms (loopback)", None, "<= 1000 us", None, None,
                 "no page was requested")
        r = c.get("post_over_pre_total")
        if r is not None:
            note = f"medians: post {post['total_ms']['median']:.0f} ms, pre {pre['total_ms']['median']:.0f} ms"
            pr, pa = c.get("post_over_pre_total_per_round"), c.get("post_over_pre_after_first_round_per_round")
            if pr:
                note += f"; post / pre round by round: median {pr['median']} ({pr['min']}-{pr['max']})"
            if pa:
                a1, b1 = pre.get("after_first_round_ms"), post.get("after_first_round_ms")
                note += (f"; after the first round (the same work in both modes): post {b1['median']:.0f} ms, "
                         f"pre {a1['median']:.0f} ms, round by round post / pre median {pa['median']}")
            if c["dirty_rate_mbps"] == 0:
                goal(f"{tag}: post-copy total time no longer than pre-copy's", r, "post / pre <= 1.0",
                     r <= 1.0, r, note)
            else:
                goal(f"{tag}: post-copy total time shorter than pre-copy's", r, "post / pre < 1.0",
                     r < 1.0, r, note)

    summary = dict(meta)
    summary.update({"limits": limits, "cases": cases, "goals": goals})
    text = json.dumps(summary, indent=1)
    with open(out_json, "w") as f:
        f.write(text + "\n")

    # the table: medians (min-max) over the runs
    def cell(c, k, f="%.0f"):
        s = c.get(k)
        if not s:
            return "-"
        if s["n"] == 1 or s["min"] == s["max"]:
            return f % s["median"]
        return f"{f % s['median']} ({f % s['min']}-{f % s['max']})"
    rows = ["| case | mode | total ms | after round 1 ms | pause ms (VMM) | guest stall at switch ms | "
            "post-copy runs | missing pages | requests | request latency median / p99 us | guest blocked ms | "
            "last page after switch ms | back to full speed ms (heartbeats) | GB sent | payload / raw TCP |",
            "|" + "---|" * 15]
    for tag in sorted(cases, key=lambda t: (t.split("_")[0], cases[t]["dirty_rate_mbps"])):
        for mode in ("pre", "post"):
            c = cases[tag].get(mode)
            if not c:
                continue
            n = (c.get("total_ms") or {}).get("n", 0)
            fs = cell(c, "full_speed_ms")
            if c.get("full_speed_hbs"):
                fs += f" ({cell(c, 'full_speed_hbs')})"
            if c.get("full_speed_missed"):
                fs += f", {c['full_speed_missed']} run(s) not back within the watch"
            lat = "-" if not c.get("req_lat_p99_us") else \
                f"{cell(c, 'req_lat_median_us')} / {cell(c, 'req_lat_p99_us')}"
            gb = c.get("bytes")
            gb = "-" if not gb else f"{gb['median'] / 1e9:.2f}"
            rows.append(f"| {tag} | {mode}-copy | {cell(c, 'total_ms')} | {cell(c, 'after_first_round_ms')} | "
                        f"{cell(c, 'pause_ms', '%.1f')} | "
                        f"{cell(c, 'guest_stall_switch_ms', '%.1f')} | "
                        f"{c.get('postcopy_engaged', 0) if mode == 'post' else '-'}/{n} | "
                        f"{cell(c, 'missing_pages')} | {cell(c, 'requests')} | {lat} | "
                        f"{cell(c, 'guest_blocked_ms', '%.1f')} | {cell(c, 'last_page_ms')} | {fs} | {gb} | "
                        f"{cell(c, 'payload_ratio_to_tcp', '%.2f')} |")
    lines = [f"post-copy against pre-copy: N={meta['n']}, {meta['vm_cpus']} vCPU(s), {meta['connections']} "
             f"connection(s); limits: {tcp_name} TCP {(tcp or 0) / 1e9:.2f} GB/s, loopback 4 KiB request/answer "
             f"median {md('rtt.median_us') or 0:.0f} us, p99 {md('rtt.p99_us') or 0:.0f} us", ""] + rows + ["", "goals:"]
    for g in goals:
        state = "not measured" if g["met"] is None else ("met" if g["met"] else "missed")
        ratio = "" if g["ratio_to_target"] is None else f", {g['ratio_to_target']:.2f}x the target"
        meas = "-" if g["measured"] is None else g["measured"]
        lines.append(f"- {g['goal']}: {meas} ({g['target']}): {state}{ratio}" + (f"; {g['note']}" if g["note"] else ""))
    with open(out_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr)
    print(text)

if __name__ == "__main__":
    if sys.argv[1] == "ready":
        ready(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        summary(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
PY

# perf_summary DATA TAG BASE: the top symbols per thread of a recording,
# with the figures of its migration (BASE.stats, BASE.dst.stats).
perf_summary() {
	local data=$1 tag=$2 base=$3
	if ! perf script -i "$data" -F comm,tid,ip,sym,dso >"$data.script" 2>"$WORK/perf.err"; then
		fail "perf script $tag: $(tail -2 "$WORK/perf.err" | tr '\n' ' ')"
		return 0
	fi
	python3 - "$data.script" "$data.tids" "$OUT/postcopy-perf-$tag.txt" "$tag" "$base" <<'PY' || fail "perf summary $tag"
import json, re, sys
from collections import Counter, defaultdict
script, tids, out, tag, base = sys.argv[1:6]
who, sched = {}, {}
for l in open(tids, errors="replace"):
    p = l.rstrip("\n").split(" ", 4)
    if len(p) == 5 and p[4]:
        who[p[1]] = (p[0], p[4])
        run, wait = sched.get(p[1], (0, 0))
        sched[(p[0], p[4])] = sched[p[1]] = (max(run, int(p[2])), max(wait, int(p[3])))
per, total, cur = defaultdict(Counter), 0, None
for l in open(script, errors="replace"):
    if not l.strip():
        cur = None
        continue
    if not l[0].isspace():
        p = l.split()
        tid = next((x for x in reversed(p) if x.isdigit()), "?")
        if tid in who:
            cur = who[tid]
        else:
            comm = " ".join(x for x in p if not x.isdigit())
            cur = ("other", comm if comm in ("swapper", "perf", "python3") else "other processes")
        continue
    if cur is None:
        continue                          # caller frames: only the leaf counts
    f = l.split(None, 1)
    m = re.match(r"(.*?)(?:\+0x[0-9a-f]+)? \((.*)\)$", f[1].strip()) if len(f) > 1 else None
    sym = "?" if not m else m.group(1) if m.group(1) != "[unknown]" else \
        "[unknown] in " + (m.group(2).rsplit("/", 1)[-1] or "?")
    per[cur][sym] += 1
    total += 1
    cur = None
for k in sched:                           # the request path, sampled or not
    if isinstance(k, tuple) and k[1].startswith("tern-pc") and k not in per:
        per[k] = Counter()
order = sorted(per, key=lambda k: -sum(per[k].values()))
lines = [f"{tag}: perf record -a -g -e cpu-clock over one post-copy migration; {total} samples on 2 CPUs, "
         "share of all samples per thread (src = source, dst = destination), its top symbols (self)"]
try:
    st, dst = json.load(open(base + ".stats")), json.load(open(base + ".dst.stats"))
    pc, dpc = st.get("postcopy"), dst.get("postcopy")
    tl = st.get("timeline") or [{}]
    lines.append(f"the migration: total {st['total-time']:.0f} ms, first round {tl[0].get('duration-ms', 0):.0f} ms, "
                 f"pause {st['downtime']:.1f} ms, " + (
                 f"post-copy: {pc['missing-pages']} pages missing, {dpc['requests']} requests (latency median "
                 f"{dpc['request-latency-us']['median']:.0f} us, p99 {dpc['request-latency-us']['p99']:.0f} us), "
                 f"guest blocked {dpc['guest-blocked-ms']:.1f} ms, last page {dpc['time-ms']:.0f} ms after the switch"
                 if pc and dpc else "no post-copy (converged by pre-copy)"))
except (OSError, ValueError, KeyError) as e:
    lines.append(f"the migration's figures: unreadable ({e})")
for k in order:
    n = sum(per[k].values())
    if n < total * 0.005 and not k[1].startswith("tern-pc"):
        continue                          # the request path's threads always
    rw = sched.get(k)
    lines.append(f"{k[0]} {k[1]}: {100 * n / total:.1f}% of the samples"
                 + (f"; on a CPU {rw[0] / 1e6:.1f} ms, runnable but waiting for one {rw[1] / 1e6:.1f} ms "
                    "(schedstat, the thread's life)" if rw else ""))
    for s, c in per[k].most_common(8):
        lines.append(f"    {100 * c / n:5.1f}%  {s}")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines[:40]), file=sys.stderr)
PY
}

# ---- the run ----

log "tern post-copy benchmark: N=$N, $VM_CPUS vCPU(s), sizes [$SIZES], rates [$RATES] MB/s, pattern $PATTERN, loopback"
log "pre-copy: --downtime-ms $DOWNTIME_MS --timeout $MIG_TIMEOUT --on-timeout force; post-copy: --postcopy --downtime-ms $PC_DOWNTIME_MS; connections: $CONN_NOTE"
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

for i in $(seq "$N"); do
	log "round $i/$N: limits"
	limits_round
	for size in $SIZES; do
		for rate in $RATES; do
			case="${size}_$(rate_label "$rate")"
			modes="pre post"
			[ $((i % 2)) = 0 ] && modes="post pre"
			for mode in $modes; do
				tag="${case}_$mode"
				log "round $i/$N: $case $mode-copy"
				if migrate_once "$tag" "$mode" "$size" "$rate"; then
					analyze "$tag" "case.$case" "$mode" "$rate" "$i"
				fi
				keep "$tag"
			done
		done
	done
done
log "final limits"
limits_round

if [ "$PERF" = 1 ]; then
	big=$(echo "$SIZES" | tr ' ' '\n' | tail -1)
	for rate in $RATES; do
		case="${big}_$(rate_label "$rate")"
		log "perf: $case post-copy under perf record -a -g -e cpu-clock"
		PERF_DATA="$WORK/perf-$case.data"
		if migrate_once "perf_$case" post "$big" "$rate"; then
			perf_summary "$PERF_DATA" "$case" "$WORK/perf_$case"
		fi
		PERF_DATA=""
		keep "perf_$case"
	done
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
META=$(python3 - "$START_DATE" "$N" "$HB_MS" "$DOWNTIME_MS" "$MIG_TIMEOUT" "$PC_DOWNTIME_MS" "$TCP_MIB" \
	"$LOAD_START" "$LOAD_END" "$FAILURES" "$SIZES" "$RATES" "$VM_CPUS" "$CONNS" "$CONN_NOTE" "$RTT_N" "$PATTERN" <<'PY'
import json, os, platform, sys
a = sys.argv[1:]
print(json.dumps({
    "benchmark": "postcopy", "started": a[0], "n": int(a[1]), "hb_ms": int(a[2]),
    "precopy_args": f"--downtime-ms {a[3]} --timeout {a[4]} --on-timeout force",
    "postcopy_args": f"--postcopy --downtime-ms {a[5]}", "pc_downtime_ms": int(a[5]),
    "tcp_stream_mib": int(a[6]),
    "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
             "loadavg_start": a[7], "loadavg_end": a[8]},
    "failures": int(a[9]), "path": "loopback",
    "sizes": a[10].split(), "rates_mbps": [int(x) for x in a[11].split()],
    "vm_cpus": int(a[12]), "connections": int(a[13]), "connections_note": a[14], "rtt_round_trips": int(a[15]),
    "guest": f"build/guest/dirtier.elf, {a[12]} vCPU(s), region = all RAM above the image, fill=1, stall=window, pattern={a[16]}",
    "full_speed": "first destination heartbeat after the switch with dirty_mbps within 10% of the rate and "
                  "verified pages per heartbeat within 20% of the median before the migration; ms from the "
                  "destination's resume line, wall clock",
}))
PY
)
python3 "$WORK/analyze.py" summary "$SAMPLES" "$OUT/postcopy.json" "$OUT/postcopy.md" "$META" || die "summary failed"
log "wrote $OUT/postcopy.json and $OUT/postcopy.md"
[ "$FAILURES" = 0 ] || { log "$FAILURES sample(s) failed"; exit 1; }
exit 0
