#!/usr/bin/env bash
# boot_snapshot.sh - boot time, snapshot write and restore throughput of tern,
# each also as a ratio to this host's memcpy bandwidth measured in the same run.
#
#   make && bench/boot_snapshot.sh
#
# Environment (all optional):
#   BENCH_N         repetitions of every measurement (default 5)
#   BENCH_HB_MS     guest heartbeat period in ms (default 100; see README)
#   BENCH_SNAP_DIR  directory for the snapshot files (default: a fresh
#                   directory under ${TMPDIR:-/tmp}; /dev/shm takes the disk
#                   out of the snapshot numbers, tern fsyncs the file)
#   BENCH_TIMEOUT   seconds any one wait may take before it is a failure (60)
#   TERN, GUEST     binaries (default build/tern, build/guest/dirtier.elf)
#   FAULTS          tern built with test faults (default build/tools/tern-faults):
#                   the restore without bulk allocation, for comparison
#   BENCH_PARTS     which parts to run (default "boot live"): boot = boot, paused
#                   snapshot and restore; live = a 1 GiB guest dirtying 50 MB/s
#                   snapshotted live (its pause), restored in full (throughput,
#                   with and without bulk allocation) and lazily (first heartbeat)
#   BENCH_LIVE_HB_MS heartbeat period of the live part's guest (default 10: the
#                   lazy restore's first heartbeat includes at most one period)
#
# Prints one JSON summary on stdout and writes it to bench/out/boot_snapshot.json.
# Progress goes to stderr. Exit status 0, or 1 when any sample failed (the
# summary is still written, with "failures" > 0).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT="$BENCH/out"
N=${BENCH_N:-5}
HB_MS=${BENCH_HB_MS:-100}
TIMEOUT=${BENCH_TIMEOUT:-60}
TERN=${TERN:-$ROOT/build/tern}
GUEST=${GUEST:-$ROOT/build/guest/dirtier.elf}
FAULTS=${FAULTS:-$(dirname "$TERN")/tools/tern-faults}
PARTS=${BENCH_PARTS:-boot live}
LIVE_HB_MS=${BENCH_LIVE_HB_MS:-10}
POLL=0.01                     # serial-file poll interval, seconds

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer"
[[ "$HB_MS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_HB_MS must be a positive integer"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"
[ -x "$TERN" ] || die "$TERN not found; run make first"
[ -w /dev/kvm ] || die "/dev/kvm is missing or not writable: no VM can run here (\`$TERN host-check\` says what this host has)"
[ -f "$GUEST" ] || die "$GUEST not found; run make first"
command -v python3 >/dev/null || die "python3 is needed for the JSON summary"

mkdir -p "$OUT"
make -s -C "$BENCH" >&2 || die "cannot build bench/out/memcpy_bw"
MEMCPY="$OUT/memcpy_bw"

# ---- bookkeeping and cleanup ----

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench.XXXXXX") || die "mktemp failed"
if [ -n "${BENCH_SNAP_DIR:-}" ]; then
	SNAPDIR=$(mktemp -d "$BENCH_SNAP_DIR/tern-bench-snap.XXXXXX") || die "cannot use BENCH_SNAP_DIR=$BENCH_SNAP_DIR"
else
	SNAPDIR="$WORK"
fi
SAMPLES="$WORK/samples"
: >"$SAMPLES"
PIDS=()                       # every tern we started and have not reaped
FAILURES=0

# Stop one tern: ask over its socket, then SIGTERM, then SIGKILL. Bounded.
stop_vm() {
	local pid=$1 sock=$2 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	[ -S "$sock" ] && timeout 5 "$TERN" ctl "$sock" quit >/dev/null 2>&1
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	rm -f "$sock"
	return 0
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$WORK"
	[ "$SNAPDIR" != "$WORK" ] && rm -rf "$SNAPDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

now_ns() { date +%s%N; }

# sample NAME VALUE: one measurement, summarized at the end.
sample() { printf '%s %s\n' "$1" "$2" >>"$SAMPLES"; }

fail() { log "FAILED: $*"; FAILURES=$((FAILURES + 1)); }

# wait_line FILE REGEX PID: poll FILE until a line matches REGEX; sets
# T_LINE (ns, date +%s%N) on success. Fails when PID exits or on TIMEOUT.
wait_line() {
	local file=$1 re=$2 pid=$3 deadline
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while :; do
		if grep -qE -m1 "$re" "$file" 2>/dev/null; then
			T_LINE=$(now_ns)
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -qE -m1 "$re" "$file" 2>/dev/null && { T_LINE=$(now_ns); return 0; }
			log "tern (pid $pid) exited while waiting for /$re/ in $file"
			return 1
		fi
		if [ "$(now_ns)" -gt "$deadline" ]; then
			log "timeout (${TIMEOUT}s) waiting for /$re/ in $file"
			return 1
		fi
		sleep "$POLL"
	done
}

# json_field JSON KEY: print one top-level field of a one-line JSON object.
json_field() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

memcpy_sample() {
	local j
	j=$("$MEMCPY" 256 5) || { fail "memcpy_bw"; return; }
	sample memcpy.gbps "$(json_field "$j" median_gbps)"
}

# boot_once TAG MEM CPUS ARGS [SNAPSHOT]: boot, time the banner, the first
# heartbeat and (with the fill) "fill done"; with SNAPSHOT also take a
# snapshot, quit, restore it in a new process and time that.
boot_once() {
	local tag=$1 mem=$2 cpus=$3 args=$4 snap=${5:-}
	local sock="$WORK/$tag.sock" ser="$WORK/$tag.serial" err="$WORK/$tag.err"
	local t0 pid rc=0
	rm -f "$sock" "$ser" "$err"

	t0=$(now_ns)
	"$TERN" run --guest "$GUEST" --mem "$mem" --cpus "$cpus" --ctl "$sock" \
		--serial "file:$ser" --guest-args "$args" 2>"$err" &
	pid=$!
	PIDS+=("$pid")

	if wait_line "$ser" '^dirtier: ' "$pid"; then
		local t_banner=$T_LINE
		sample "boot.$tag.banner_ms" $(( (t_banner - t0) / 1000 ))e-3
		if wait_line "$ser" '^hb ' "$pid"; then
			sample "boot.$tag.first_hb_ms" $(( (T_LINE - t0) / 1000 ))e-3
		else rc=1; fi
		if [ $rc = 0 ] && [[ "$args" != *fill=0* ]]; then
			if wait_line "$ser" '^fill done ' "$pid"; then
				sample "boot.$tag.fill_done_ms" $(( (T_LINE - t0) / 1000 ))e-3
				sample "boot.$tag.fill_ms" $(( (T_LINE - t_banner) / 1000 ))e-3
			else rc=1; fi
		fi
	else
		rc=1
	fi
	if [ $rc != 0 ]; then
		fail "boot $tag (stderr: $(tr '\n' ' ' <"$err"))"
		stop_vm "$pid" "$sock"
		return
	fi
	if grep -qE 'errors=[1-9]' "$ser"; then
		fail "boot $tag: guest reported verification errors"
	fi

	if [ -n "$snap" ]; then
		local j
		rm -f "$snap"
		j=$(timeout "$TIMEOUT" "$TERN" ctl "$sock" snapshot "$snap" 2>&1)
		if [ "$(json_field "$j" ok)" = True ]; then
			sample snapshot.bytes "$(json_field "$j" bytes)"
			sample snapshot.ram_pages "$(json_field "$j" ram-pages)"
			sample snapshot.zero_pages "$(json_field "$j" zero-pages)"
			sample snapshot.write_ms "$(json_field "$j" write-ms)"
			sample snapshot.paused_ms "$(json_field "$j" paused-ms)"
		else
			fail "snapshot $tag: $j"
			snap=""
		fi
	fi
	stop_vm "$pid" "$sock"
	[ -n "$snap" ] && restore_once "$tag" "$snap"
	[ -n "$snap" ] && rm -f "$snap"
	return 0
}

# restore_once TAG SNAPSHOT: restore in a new process; the restore time and
# page count come from tern's "restored ...: N pages in X ms" line.
restore_once() {
	local tag=$1 snap=$2
	local sock="$WORK/$tag-r.sock" ser="$WORK/$tag-r.serial" err="$WORK/$tag-r.err"
	local t0 pid line
	rm -f "$sock" "$ser" "$err"

	t0=$(now_ns)
	"$TERN" run --restore "$snap" --ctl "$sock" --serial "file:$ser" 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	if wait_line "$ser" '^hb ' "$pid"; then
		sample restore.first_hb_ms $(( (T_LINE - t0) / 1000 ))e-3
		line=$(grep -m1 -E 'restored .* [0-9]+ pages in [0-9.]+ ms' "$err")
		if [[ "$line" =~ ([0-9]+)\ pages\ in\ ([0-9.]+)\ ms ]]; then
			sample restore.pages "${BASH_REMATCH[1]}"
			sample restore.ms "${BASH_REMATCH[2]}"
		else
			fail "restore $tag: no 'N pages in X ms' on stderr: $(tr '\n' ' ' <"$err")"
		fi
		if grep -qE 'errors=[1-9]' "$ser"; then
			fail "restore $tag: guest reported verification errors after the restore"
		fi
	else
		fail "restore $tag (stderr: $(tr '\n' ' ' <"$err"))"
	fi
	stop_vm "$pid" "$sock"
}

# restore_line ERRFILE PREFIX: the "restored ... N pages in X ms (RAM Y ms by
# T threads, A thread-ms of it allocating)" figures as samples PREFIX.*
restore_line() {
	local line
	line=$(grep -m1 -E 'restored .* pages in' "$1")
	if [[ "$line" =~ ([0-9]+)\ pages\ in\ ([0-9.]+)\ ms\ \(RAM\ ([0-9.]+)\ ms\ by\ ([0-9]+)\ threads,\ ([0-9.]+)\ thread-ms ]]; then
		sample "$2.pages" "${BASH_REMATCH[1]}"
		sample "$2.ms" "${BASH_REMATCH[2]}"
		sample "$2.ram_ms" "${BASH_REMATCH[3]}"
		sample "$2.threads" "${BASH_REMATCH[4]}"
		sample "$2.alloc_thread_ms" "${BASH_REMATCH[5]}"
		return 0
	fi
	fail "$2: no restore figures on stderr: $(tr '\n' ' ' <"$1")"
	return 1
}

# live_once I: a 1 GiB, 2-vCPU guest with a 900M region dirtying 50 MB/s is
# snapshotted live (pause, rounds); the snapshot is restored in full (with
# and, through tern-faults, without bulk allocation) and lazily (tern run
# start -> first heartbeat of the restored guest, and the load's end).
live_once() {
	local i=$1 snap="$SNAPDIR/live.$1"
	local sock="$WORK/live.sock" ser="$WORK/live.serial" err="$WORK/live.err"
	local t0 pid j
	rm -f "$sock" "$ser" "$err" "$snap"
	"$TERN" run --guest "$GUEST" --mem 1G --cpus 2 --ctl "$sock" --serial "file:$ser" \
		--guest-args "size=900M rate=50 duration=0 hb_ms=$LIVE_HB_MS" 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	if ! wait_line "$ser" '^fill done ' "$pid"; then
		fail "live $i: boot (stderr: $(tr '\n' ' ' <"$err"))"
		stop_vm "$pid" "$sock"
		return
	fi
	sleep 1                   # dirtying at its rate, not filling
	j=$(timeout "$TIMEOUT" "$TERN" ctl "$sock" snapshot "$snap" --live 2>&1)
	stop_vm "$pid" "$sock"
	if [ "$(json_field "$j" status)" != completed ]; then
		fail "live snapshot $i: $j"
		return
	fi
	sample live.paused_ms "$(json_field "$j" paused-ms)"
	sample live.write_ms "$(json_field "$j" write-ms)"
	sample live.rounds "$(json_field "$j" rounds)"
	sample live.last_round_pages "$(json_field "$j" last-round-pages)"
	sample live.bytes "$(json_field "$j" bytes)"

	local mode
	for mode in full noprealloc lazy; do
		local bin=$TERN env=()
		local rsock="$WORK/r.sock" rser="$WORK/r.serial" rerr="$WORK/r.err"
		rm -f "$rsock" "$rser" "$rerr"
		[ $mode = noprealloc ] && { [ -x "$FAULTS" ] || continue; bin=$FAULTS; env=(TERN_FAULT_RESTORE_NO_PREALLOC=1); }
		local flag=--restore
		[ $mode = lazy ] && flag=--restore-lazy
		t0=$(now_ns)
		env "${env[@]}" "$bin" run "$flag" "$snap" --ctl "$rsock" --serial "file:$rser" 2>"$rerr" &
		pid=$!
		PIDS+=("$pid")
		if wait_line "$rser" '^hb ' "$pid"; then
			sample "restore_live.$mode.first_hb_ms" $(( (T_LINE - t0) / 1000 ))e-3
			if [ $mode = lazy ]; then
				wait_line "$rerr" 'lazy restore of .* complete' "$pid" &&
				[[ "$(grep -m1 'lazy restore of' "$rerr")" =~ ([0-9]+)\ pages\ in\ ([0-9.]+)\ ms,\ ([0-9]+)\ faults ]] &&
				{ sample restore_live.lazy.complete_ms "${BASH_REMATCH[2]}"
				  sample restore_live.lazy.faults "${BASH_REMATCH[3]}"; } ||
				fail "lazy restore $i did not complete: $(tr '\n' ' ' <"$rerr")"
			else
				restore_line "$rerr" "restore_live.$mode"
			fi
			grep -qE 'errors=[1-9]' "$rser" && fail "restore $mode $i: guest reported verification errors"
		else
			fail "restore $mode $i (stderr: $(tr '\n' ' ' <"$rerr"))"
		fi
		stop_vm "$pid" "$rsock"
	done
	rm -f "$snap"
}

# ---- the run ----

log "tern benchmark: N=$N, heartbeat ${HB_MS} ms, snapshots in $SNAPDIR"
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

# Interleaved so slow drift of a noisy host hits every metric alike.
for i in $(seq "$N"); do
	log "round $i/$N"
	memcpy_sample
	if [[ " $PARTS " == *" boot "* ]]; then
		boot_once 1cpu_256m_fill0 256M 1 "rate=50 duration=0 fill=0 hb_ms=$HB_MS"
		boot_once 2cpu_1g_fill0 1G 2 "size=256M rate=50 duration=0 fill=0 hb_ms=$HB_MS"
		boot_once 2cpu_1g_fill256m 1G 2 "size=256M rate=50 duration=0 hb_ms=$HB_MS" \
			"$SNAPDIR/snap.$i"
	fi
	[[ " $PARTS " == *" live "* ]] && live_once "$i"
done
memcpy_sample

# ---- summary ----

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
SNAPFS=$(df -PT "$SNAPDIR" 2>/dev/null | awk 'NR==2 {print $2}')
python3 - "$SAMPLES" "$OUT/boot_snapshot.json" "$FAILURES" "$N" "$HB_MS" \
	"$START_DATE" "${SNAPFS:-unknown}" "${LOAD_START:-?}" "${LOAD_END:-?}" "$LIVE_HB_MS" <<'PY'
import json, os, platform, statistics, sys

samples_path, out_path, failures, n, hb_ms, start, snapfs, load0, load1, live_hb_ms = sys.argv[1:]
vals = {}
with open(samples_path) as f:
    for line in f:
        k, v = line.split()
        vals.setdefault(k, []).append(float(v))

def stats(xs, nd=3):
    if not xs:
        return None
    return {"median": round(statistics.median(xs), nd), "min": round(min(xs), nd),
            "max": round(max(xs), nd), "n": len(xs)}

memcpy = vals.get("memcpy.gbps", [])
ref = statistics.median(memcpy) if memcpy else None    # GB/s
MiB = 1 << 20

metrics = {}
def put(name, xs, unit, basis=None, note=None):
    """basis: bytes the ratio is computed over. For a time metric (ms) the
    effective bandwidth is basis/time; for a GB/s metric basis is None."""
    m = {"unit": unit}
    m.update(stats(xs) or {"median": None, "n": 0})
    if ref and xs and (unit == "GB/s" or basis):
        if unit == "GB/s":
            r = [x / ref for x in xs]
        else:
            r = [basis / (x / 1e3) / 1e9 / ref for x in xs if x > 0]
            m["ratio_basis_bytes"] = int(basis)
        m["ratio_to_memcpy"] = stats(r, 4)
    if note:
        m["note"] = note
    metrics[name] = m

boots = {"1cpu_256m_fill0": 256 * MiB, "2cpu_1g_fill0": 1024 * MiB, "2cpu_1g_fill256m": 1024 * MiB}
for tag, ram in boots.items():
    put(f"boot.{tag}.banner_ms", vals.get(f"boot.{tag}.banner_ms", []), "ms", ram,
        note="tern run start -> guest banner line")
    put(f"boot.{tag}.first_hb_ms", vals.get(f"boot.{tag}.first_hb_ms", []), "ms", ram,
        note=f"tern run start -> first 'hb ' line (includes one {hb_ms} ms heartbeat period)")
put("boot.2cpu_1g_fill256m.fill_done_ms", vals.get("boot.2cpu_1g_fill256m.fill_done_ms", []),
    "ms", 1024 * MiB, note="tern run start -> 'fill done' (boot + fill of the 256M region)")
fill_ms = vals.get("boot.2cpu_1g_fill256m.fill_ms", [])
put("fill.2cpu_256m.gbps", [256 * MiB / (x / 1e3) / 1e9 for x in fill_ms if x > 0], "GB/s",
    note="256M region / (banner -> 'fill done'), guest ring-3 stores on 2 vCPUs")

sb, sw = vals.get("snapshot.bytes", []), vals.get("snapshot.write_ms", [])
put("snapshot.write_gbps", [b / (w / 1e3) / 1e9 for b, w in zip(sb, sw) if w > 0], "GB/s",
    note=f"bytes / write-ms of a 1G guest with its 256M region filled (fsync included, {snapfs})")
put("snapshot.write_ms", sw, "ms", statistics.median(sb) if sb else None)
put("snapshot.paused_ms", vals.get("snapshot.paused_ms", []), "ms", statistics.median(sb) if sb else None)
rp, rm = vals.get("restore.pages", []), vals.get("restore.ms", [])
put("restore.gbps", [p * 4096 / (t / 1e3) / 1e9 for p, t in zip(rp, rm) if t > 0], "GB/s",
    note="pages*4096 / restore ms from tern's stderr (snapshot file warm in the page cache)")
put("restore.ms", rm, "ms", statistics.median(rp) * 4096 if rp else None)
put("restore.first_hb_ms", vals.get("restore.first_hb_ms", []), "ms",
    statistics.median(rp) * 4096 if rp else None,
    note="tern run --restore start -> first 'hb ' line of the restored guest")

# the live part
put("live.paused_ms", vals.get("live.paused_ms", []), "ms",
    note="live snapshot of a 1G 2-vCPU guest dirtying 50 MB/s over a 900M region: the guest's "
         "pause (pause request -> resume), goal <= 20 ms")
put("live.write_ms", vals.get("live.write_ms", []), "ms", note="the whole live snapshot, fsync included")
put("live.rounds", vals.get("live.rounds", []), "rounds")
put("live.last_round_pages", vals.get("live.last_round_pages", []), "pages")
for mode in ("full", "noprealloc"):
    rp, rm = vals.get(f"restore_live.{mode}.pages", []), vals.get(f"restore_live.{mode}.ram_ms", [])
    put(f"restore_live.{mode}.gbps", [p * 4096 / (t / 1e3) / 1e9 for p, t in zip(rp, rm) if t > 0], "GB/s",
        note="pages*4096 / the RAM load's wall time (parallel readers"
             + (", fallocate+MADV_POPULATE_WRITE per section first)" if mode == "full" else
                ", no bulk allocation: each page faulted in by the read)") + "; goal >= 0.5 x memcpy")
    put(f"restore_live.{mode}.alloc_thread_ms", vals.get(f"restore_live.{mode}.alloc_thread_ms", []), "ms",
        note="thread-ms of the load spent allocating guest RAM")
    put(f"restore_live.{mode}.ms", vals.get(f"restore_live.{mode}.ms", []), "ms",
        note="the whole restore (state and RAM)")
put("restore_live.lazy.first_hb_ms", vals.get("restore_live.lazy.first_hb_ms", []), "ms",
    note=f"tern run --restore-lazy start -> first 'hb ' line (at most one {live_hb_ms} ms heartbeat "
         "period included); goal <= 50 ms")
put("restore_live.full.first_hb_ms", vals.get("restore_live.full.first_hb_ms", []), "ms",
    note="the same for the full restore")
put("restore_live.lazy.complete_ms", vals.get("restore_live.lazy.complete_ms", []), "ms",
    note="lazy restore: guest start -> every page loaded (background + faults)")
put("restore_live.lazy.faults", vals.get("restore_live.lazy.faults", []), "faults")

summary = {
    "benchmark": "boot_snapshot",
    "started": start,
    "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
             "loadavg_start": load0, "loadavg_end": load1},
    "n": int(n),
    "hb_ms": int(hb_ms),
    "snapshot_fs": snapfs,
    "memcpy_gbps": dict(stats(memcpy) or {}, unit="GB/s",
                        note="single-thread memcpy of 256 MiB, median of 5 reps per sample; "
                             "the median over samples is the reference for every ratio"),
    "snapshot": {"bytes": stats(sb, 0), "ram_pages": stats(vals.get("snapshot.ram_pages", []), 0),
                 "zero_pages": stats(vals.get("snapshot.zero_pages", []), 0)},
    "metrics": metrics,
    "failures": int(failures),
}
text = json.dumps(summary, indent=1)
with open(out_path, "w") as f:
    f.write(text + "\n")
print(text)
PY
py=$?
[ $py = 0 ] || die "summary failed"
log "wrote $OUT/boot_snapshot.json"
[ "$FAILURES" = 0 ] || { log "$FAILURES sample(s) failed"; exit 1; }
exit 0
