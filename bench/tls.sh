#!/usr/bin/env bash
# bench/tls.sh - what TLS costs a migration: the same guest (1 vCPU, RAM
# written once, then idle) migrated over loopback with and without
# --tls-creds, RUNS times each, alternating; prints each run's payload
# throughput (normal pages x 4 KiB / total time, from `tern migrate
# --stats`) and the ratio of the medians. Run under the heavy-work lock:
#   flock /var/tmp/kvm-heavy.lock bench/tls.sh
# Knobs: BUILD (build), BENCH_MEM (1G), BENCH_SIZE (1000M, the written
# region), BENCH_RUNS (3), BENCH_PERF=1 records `perf record -g` of both
# tern processes during the last TLS run (perf-src.data, perf-dst.data in
# BENCH_OUT, default /tmp/tern-bench-tls).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
TERN=$BUILD/tern GUEST=$BUILD/guest/dirtier.elf
MEM=${BENCH_MEM:-1G} SIZE=${BENCH_SIZE:-1000M} RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-/tmp/tern-bench-tls}
rm -rf "$OUT"; mkdir -p "$OUT"
scripts/tls-certs "$OUT/creds" 2>/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# once MODE(plain|tls) N: one migration; prints its payload GB/s
once() {
	local mode=$1 n=$2 p d=$OUT/$1.$2 tls=() perf=0
	[ "$mode" = tls ] && tls=(--tls-creds "$OUT/creds")
	[ "$mode" = tls ] && [ "${BENCH_PERF:-0}" = 1 ] && [ "$n" = "$RUNS" ] && perf=1
	p=$(port)
	"$TERN" run --guest "$GUEST" --mem "$MEM" --ctl "$d.a.sock" --serial "file:$d.a.serial" \
		--guest-args "size=$SIZE rate=0 hb_ms=500" 2>"$d.a.err" &
	local apid=$!
	for _ in $(seq 1 600); do grep -q '^fill done' "$d.a.serial" 2>/dev/null && break; sleep 0.1; done
	"$TERN" run --incoming "tcp:127.0.0.1:$p" --ctl "$d.b.sock" --serial "file:$d.b.serial" "${tls[@]}" 2>"$d.b.err" &
	local bpid=$!
	for _ in $(seq 1 100); do [ -S "$d.b.sock" ] && break; sleep 0.05; done
	local perfs=()
	if [ $perf = 1 ]; then
		perf record -g -o "$OUT/perf-src.data" -p "$apid" 2>/dev/null & perfs+=($!)
		perf record -g -o "$OUT/perf-dst.data" -p "$bpid" 2>/dev/null & perfs+=($!)
		sleep 0.5
	fi
	"$TERN" migrate --ctl "$d.a.sock" --to "tcp:127.0.0.1:$p" --stats "$d.stats" "${tls[@]}" >"$d.out" 2>&1 ||
		{ cat "$d.out" >&2; kill "$apid" "$bpid" 2>/dev/null; return 1; }
	[ ${#perfs[@]} -gt 0 ] && kill -INT "${perfs[@]}" 2>/dev/null && wait "${perfs[@]}" 2>/dev/null || true
	"$TERN" ctl "$d.b.sock" quit >/dev/null 2>&1 || true
	wait "$apid" "$bpid" 2>/dev/null || true
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); r=s["ram"]
print("%.3f %s %.0f %d" % (r["normal"]*4096/(s["total-time"]/1e3)/1e9, s.get("tls","none"), s["total-time"], r["normal"]))' "$d.stats"
}

plain=() tls=()
for n in $(seq 1 "$RUNS"); do
	read -r g m t pages < <(once plain "$n"); plain+=("$g"); echo "plain run $n: payload $g GB/s ($pages pages in $t ms, tls=$m)"
	read -r g m t pages < <(once tls "$n"); tls+=("$g"); echo "tls   run $n: payload $g GB/s ($pages pages in $t ms, tls=$m)"
done
python3 - "${plain[*]}" "${tls[*]}" <<'PY'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]; t = [float(x) for x in sys.argv[2].split()]
mp, mt = statistics.median(p), statistics.median(t)
print(f"median payload: plain {mp:.3f} GB/s, tls {mt:.3f} GB/s, ratio tls/plain {mt/mp:.2f} (goal >= 0.6)")
PY
