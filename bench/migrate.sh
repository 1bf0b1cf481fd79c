#!/usr/bin/env bash
# migrate.sh - live migration of tern: total time, downtime (the VMM's and
# the guest's own longest stall), bytes, iterations, and payload throughput
# as a ratio of the two limits a migration here cannot beat, measured in the
# same run: raw TCP with the same number of connections on the same path,
# and the rate at which this host provisions fresh guest RAM (the fastest
# of bench/provision_bw's methods, for the guest's size); plus the cost of
# a private page through the platform (--cc emu) against a shared page, and
# one timeline chart per case (bench/plot_timeline.sh).
#
#   make && bench/migrate.sh            # 12-25 min with the defaults (BENCH_N=3), root for veth
#   BENCH_N=1 BENCH_SIZES=256M BENCH_RATES="0 50" BENCH_TCP_MIB=256 bench/migrate.sh   # smoke
#
# Environment (all optional):
#   BENCH_N            repetitions of every measurement (default 3)
#   BENCH_VM_CPUS      the guest's vCPUs (default 1)
#   BENCH_CONNECTIONS  data connections: passed as --connections N when
#                      `tern migrate --help` lists it (default: tern's own
#                      default); the raw TCP limit uses as many streams
#   BENCH_TLS          1: also every case over loopback with TLS (path "tls":
#                      scripts/tls-certs, --tls-creds on both ends); skipped,
#                      and said so, when this tern has no --tls-creds
#   BENCH_CHARTS       1 (default): a timeline chart per case (SVG, into
#                      BENCH_OUT) when the stats have a timeline; gnuplot is
#                      installed with apt-get if missing (never when $CI is set)
#   BENCH_SIZES        guest RAM sizes (default "1G 4G"); the dirtier's region
#                      is all RAM above its image (fill=1: every page written
#                      before the migration starts)
#   BENCH_RATES        dirtying rates in MB/s, 0 = idle (default "0 50 200")
#   BENCH_PATHS        "loopback veth" (default); veth = two network namespaces
#                      joined by a veth pair, skipped (and said so) without them
#   BENCH_PROVISION    the destination's --provision: setup (default: the
#                      destination starts with --mem beside the source, as an
#                      orchestrator that prepares it ahead would, and provisions
#                      its RAM while the source boots and fills; the summary
#                      records how much was ready when the migration began)
#                      or announced (started after the fill, without --mem: the
#                      pages are provisioned as the source announces them)
#   BENCH_DOWNTIME_MS  tern migrate --downtime-ms (default 20)
#   BENCH_MIG_TIMEOUT  tern migrate --timeout, with --on-timeout force (default 60 s)
#   BENCH_HB_MS        guest heartbeat period (default 100)
#   BENCH_TCP_MIB      bytes per raw TCP stream sample (default 2048 MiB)
#   BENCH_DIAG         1 (default): diagnostics: tern's per-page work without a
#                      VM (tcp_bw work / work prefault) on loopback, and, when
#                      BENCH_VM_CPUS is not 1, the last (largest) of
#                      BENCH_SIZES idle with 1 vCPU, on loopback
#   BENCH_CC           1 (default): the --cc emu private-page cost; 0 skips it
#   BENCH_CC_MEM, BENCH_CC_SIZE  that guest's RAM and region (512M, 128M)
#   BENCH_TIMEOUT      seconds any one wait may take (default 120)
#   BENCH_KEEP         1: keep the scratch directory (serial logs, stats, per
#                      migration) and say where
#   BENCH_OUT        where the results go (default bench/out)
#   TERN, GUEST, PSP   binaries (default build/tern, build/guest/dirtier.elf,
#                      tern-psp next to TERN)
#   TLS_CERTS          the certificate maker (default scripts/tls-certs)
#
# Prints one JSON summary on stdout and writes it to bench/out/migrate.json.
# Progress goes to stderr. Exit status 0, 1 when any sample failed (the
# summary is still written, "failures" > 0), 2 on a setup error.
set -u -o pipefail
# shared helpers: now_ns, forget, wait_exit, wait_line, hb_after, wait_hb, clean_guest
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}   # where results go (a writable dir)
N=${BENCH_N:-3}
VM_CPUS=${BENCH_VM_CPUS:-1}
TLS=${BENCH_TLS:-0}
CHARTS=${BENCH_CHARTS:-1}
SIZES=${BENCH_SIZES:-1G 4G}
RATES=${BENCH_RATES:-0 50 200}
PATHS=${BENCH_PATHS:-loopback veth}
DOWNTIME_MS=${BENCH_DOWNTIME_MS:-20}
PROVISION=${BENCH_PROVISION:-setup}
case $PROVISION in setup|announced) ;; *) echo "BENCH_PROVISION=$PROVISION: use setup or announced" >&2; exit 2;; esac
MIG_TIMEOUT=${BENCH_MIG_TIMEOUT:-60}
HB_MS=${BENCH_HB_MS:-100}
TCP_MIB=${BENCH_TCP_MIB:-2048}
DIAG=${BENCH_DIAG:-1}
CC=${BENCH_CC:-1}
CC_MEM=${BENCH_CC_MEM:-512M}
CC_SIZE=${BENCH_CC_SIZE:-128M}
TIMEOUT=${BENCH_TIMEOUT:-120}
TERN=${TERN:-$ROOT/build/tern}
GUEST=${GUEST:-$ROOT/build/guest/dirtier.elf}
PSP=${PSP:-$(dirname "$TERN")/tern-psp}
TLS_CERTS=${TLS_CERTS:-$ROOT/scripts/tls-certs}
POLL=0.05

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for v in N VM_CPUS DOWNTIME_MS MIG_TIMEOUT HB_MS TCP_MIB TIMEOUT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
for r in $RATES; do [[ "$r" =~ ^[0-9]+$ ]] || die "BENCH_RATES: '$r' is not a number of MB/s"; done
for p in $PATHS; do [[ "$p" = loopback || "$p" = veth ]] || die "BENCH_PATHS: '$p' (loopback or veth)"; done
[ -x "$TERN" ] || die "$TERN not found; run make first"
[ -w /dev/kvm ] || die "/dev/kvm is missing or not writable: no VM can run here (\`$TERN host-check\` says what this host has)"
[ -f "$GUEST" ] || die "$GUEST not found; run make first"
[ "$CC" = 0 ] || [ -x "$PSP" ] || die "$PSP not found (BENCH_CC=0 skips the private-page part)"
command -v python3 >/dev/null || die "python3 is needed for the JSON summary"
[ "$VM_CPUS" -le 16 ] || die "BENCH_VM_CPUS must be 1-16 (tern's limit)"
[ -z "${BENCH_CONNECTIONS:-}" ] || [[ "$BENCH_CONNECTIONS" =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_CONNECTIONS must be a positive integer"
for s in $SIZES; do [[ "$s" =~ ^[1-9][0-9]*[MG]$ ]] || die "BENCH_SIZES: '$s' (e.g. 1G or 512M)"; done

# What this tern can do: several connections (--connections), TLS (--tls-creds).
MIG_HELP=$("$TERN" migrate --help 2>&1)
RUN_HELP=$("$TERN" run --help 2>&1)
CONN_ARGS=()
if grep -q -- '--connections' <<<"$MIG_HELP"; then
	if [ -n "${BENCH_CONNECTIONS:-}" ]; then
		CONNS=$BENCH_CONNECTIONS
		CONN_ARGS=(--connections "$CONNS")
		CONN_NOTE="--connections $CONNS (BENCH_CONNECTIONS)"
	else
		# tern's default, as its help states it; else its rule of thumb, one per core
		CONNS=$(grep -- '--connections' <<<"$MIG_HELP" | grep -oE 'default[^0-9)]*[0-9]+' | grep -oE '[0-9]+$' | head -1)
		if [ -n "$CONNS" ]; then
			CONN_NOTE="tern migrate's default ($CONNS, from its --help)"
		else
			CONNS=$(nproc)
			CONN_NOTE="tern migrate's default, which its --help does not state as a number: assumed one per core ($CONNS)"
		fi
	fi
else
	[ -z "${BENCH_CONNECTIONS:-}" ] || [ "$BENCH_CONNECTIONS" = 1 ] ||
		die "BENCH_CONNECTIONS=$BENCH_CONNECTIONS: this tern migrate has no --connections (one connection only)"
	CONNS=1
	CONN_NOTE="one connection: this tern migrate has no --connections"
fi
TLS_NOTE="not asked for (BENCH_TLS=1)"
if [ "$TLS" = 1 ]; then
	if ! grep -q -- '--tls-creds' <<<"$MIG_HELP" || ! grep -q -- '--tls-creds' <<<"$RUN_HELP"; then
		TLS=0 TLS_NOTE="skipped: this tern has no --tls-creds"
		log "BENCH_TLS=1: $TLS_NOTE"
	elif [ ! -x "$TLS_CERTS" ]; then
		TLS=0 TLS_NOTE="skipped: $TLS_CERTS is missing"
		log "BENCH_TLS=1: $TLS_NOTE"
	fi
fi

mkdir -p "$OUT"
make -s -C "$BENCH" OUT="$OUT" >&2 || die "cannot build bench/out/tcp_bw, provision_bw and memcpy_bw"
TCPBW="$OUT/tcp_bw"
PROVBW="$OUT/provision_bw"
NHB=$(( (1000 + HB_MS - 1) / HB_MS ))      # heartbeats in one second

# ---- bookkeeping and cleanup ----

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench-mig.XXXXXX") || die "mktemp failed"
SAMPLES="$WORK/samples"
: >"$SAMPLES"
PIDS=()                       # every process we started and have not reaped
FAILURES=0
NS_SRC="" NS_DST=""

# Stop one tern: ask over its socket, then SIGTERM, then SIGKILL. Bounded.
# (A `tern run --incoming` still waiting for its migration answers neither
# its socket nor SIGTERM; it ends with the SIGKILL.)
stop_vm() {
	local pid=$1 sock=${2:-}
	if kill -0 "$pid" 2>/dev/null; then
		[ -n "$sock" ] && [ -S "$sock" ] && timeout 3 "$TERN" ctl "$sock" quit >/dev/null 2>&1
		wait_exit "$pid" 3 || kill -TERM "$pid" 2>/dev/null
		wait_exit "$pid" 3 || kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget "$pid"
	[ -n "$sock" ] && rm -f "$sock"
	return 0
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait_exit "$1" 3 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$NS_SRC" ] && ip netns del "$NS_SRC" 2>/dev/null
	[ -n "$NS_DST" ] && ip netns del "$NS_DST" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

sample() { printf '%s %s\n' "$1" "$2" >>"$SAMPLES"; }
fail() { log "FAILED: $*"; FAILURES=$((FAILURES + 1)); }


# ---- the two hosts ----

# in_ns NS CMD...: CMD in network namespace NS, or in this one when NS is
# empty. Not for `&`: a backgrounded function is a subshell, and $! would be
# its pid, not the command's; use ns_prefix for those.
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# ns_prefix NS: NSP=(ip netns exec NS), or () for this namespace;
# "${NSP[@]}" CMD & gives CMD's own pid in $! (ip netns exec execs CMD).
ns_prefix() {
	NSP=()
	[ -n "$1" ] && NSP=(ip netns exec "$1")
	return 0
}

netns_up() {
	local id=$$
	NS_SRC=tern-bs-$id NS_DST=tern-bd-$id
	if ip netns add "$NS_SRC" 2>/dev/null && ip netns add "$NS_DST" 2>/dev/null &&
	   ip link add "vbs$id" type veth peer name "vbd$id" 2>/dev/null &&
	   ip link set "vbs$id" netns "$NS_SRC" && ip link set "vbd$id" netns "$NS_DST" &&
	   ip -n "$NS_SRC" addr add 10.213.8.1/24 dev "vbs$id" &&
	   ip -n "$NS_DST" addr add 10.213.8.2/24 dev "vbd$id" &&
	   ip -n "$NS_SRC" link set "vbs$id" up && ip -n "$NS_DST" link set "vbd$id" up &&
	   ip -n "$NS_SRC" link set lo up && ip -n "$NS_DST" link set lo up; then
		VETH_MTU=$(ip -n "$NS_SRC" -o link show "vbs$id" | grep -oE 'mtu [0-9]+' | cut -d' ' -f2)
		return 0
	fi
	ip netns del "$NS_SRC" 2>/dev/null
	ip netns del "$NS_DST" 2>/dev/null
	NS_SRC="" NS_DST=""
	return 1
}

VETH_OK=0 VETH_NOTE="" VETH_MTU=""
if [[ " $PATHS " == *" veth "* ]]; then
	if netns_up; then
		VETH_OK=1
		VETH_NOTE="network namespaces $NS_SRC (10.213.8.1) and $NS_DST (10.213.8.2), veth mtu $VETH_MTU"
	else
		VETH_NOTE="network namespaces unavailable (no privilege or no iproute2): the veth path was skipped, loopback only"
		log "$VETH_NOTE"
		PATHS=$(echo "$PATHS" | tr ' ' '\n' | grep -v '^veth$' | tr '\n' ' ')
	fi
fi
[ -n "${PATHS// /}" ] || die "no path left to measure"

if [ "$TLS" = 1 ]; then
	if "$TLS_CERTS" "$WORK/tls" >"$WORK/tls.log" 2>&1; then
		PATHS="$PATHS tls"
		TLS_NOTE="loopback with --tls-creds on both ends (scripts/tls-certs: a CA, localhost server and tern-client certificates)"
	else
		TLS=0 TLS_NOTE="skipped: scripts/tls-certs failed: $(tail -2 "$WORK/tls.log" | tr '\n' ' ')"
		log "BENCH_TLS=1: $TLS_NOTE"
	fi
fi

# The charts need gnuplot: installed here if missing (a benchmark host is
# set up on purpose; CI never installs anything).
CHART_NOTE="off (BENCH_CHARTS=0)"
if [ "$CHARTS" = 1 ]; then
	if ! command -v gnuplot >/dev/null && [ -z "${CI:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing gnuplot-nox for the timeline charts"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >"$WORK/apt.log" 2>&1 ||
			log "apt-get install gnuplot-nox failed: $(tail -1 "$WORK/apt.log")"
	fi
	if command -v gnuplot >/dev/null; then
		CHART_NOTE="one SVG per case: $OUT/timeline-CASE.svg (the last sample's stats)"
	else
		CHARTS=0 CHART_NOTE="skipped: no gnuplot (apt-get install gnuplot-nox)"
		log "charts $CHART_NOTE"
	fi
fi

# path_env PATH: sets SRC_NS, DST_NS, ADDR for a migration over PATH.
# "tls" is loopback with --tls-creds on both ends (TLS_ARGS).
path_env() {
	TLS_ARGS=()
	if [ "$1" = veth ]; then SRC_NS=$NS_SRC DST_NS=$NS_DST ADDR=10.213.8.2
	else SRC_NS="" DST_NS="" ADDR=127.0.0.1; fi
	[ "$1" = tls ] && TLS_ARGS=(--tls-creds "$WORK/tls")
	return 0
}

PORT_NEXT=$(( 47300 + RANDOM % 400 ))
# next_port NS: a TCP port nobody listens on in that namespace.
next_port() {
	local p
	for _ in $(seq 50); do
		p=$PORT_NEXT
		PORT_NEXT=$(( PORT_NEXT >= 48999 ? 47300 : PORT_NEXT + 1 ))
		if in_ns "$1" python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", int(sys.argv[1])))' "$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo 0
}

# ---- the raw stream ----

# tcp_once PATH NAME [tcp_bw options]: one stream of TCP_MIB MiB.
tcp_once() {
	local path=$1 name=$2
	shift 2
	path_env "$path"
	local port rpid j
	port=$(next_port "$DST_NS")
	ns_prefix "$DST_NS"
	"${NSP[@]}" "$TCPBW" recv "$ADDR" "$port" "$@" >"$WORK/tcp.out" 2>"$WORK/tcp.err" &
	rpid=$!
	PIDS+=("$rpid")
	if ! wait_line "$WORK/tcp.err" '^ready' "$rpid"; then
		fail "tcp_bw recv on $path: $(tr '\n' ' ' <"$WORK/tcp.err")"
		stop_pid "$rpid"
		return
	fi
	ns_prefix "$SRC_NS"
	if ! timeout "$TIMEOUT" "${NSP[@]}" "$TCPBW" send "$ADDR" "$port" "$TCP_MIB" "$@" >/dev/null 2>"$WORK/tcp.serr"; then
		fail "tcp_bw send on $path ($name): $(tr '\n' ' ' <"$WORK/tcp.serr")"
		stop_pid "$rpid"
		return
	fi
	wait_exit "$rpid" 10
	wait "$rpid" 2>/dev/null
	forget "$rpid"
	j=$(cat "$WORK/tcp.out")
	local bps
	bps=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes_per_s"])' "$j" 2>/dev/null)
	if [ -n "$bps" ]; then
		sample "tcp.$path.$name" "$bps"
		log "  tcp $path $name: $(python3 -c 'import sys; print("%.2f GB/s" % (float(sys.argv[1]) / 1e9))' "$bps")"
	else
		fail "tcp_bw on $path ($name): no result: $j $(tr '\n' ' ' <"$WORK/tcp.err")"
	fi
}

# prov_once SIZE: bench/provision_bw on a fresh memfd of the guest's size,
# every method once; samples prov.SIZE.METHOD and prov.SIZE.best (bytes/s).
prov_once() {
	local size=$1 mib j
	mib=${size%[MG]}
	[[ "$size" == *G ]] && mib=$((mib * 1024))
	if ! j=$(timeout "$TIMEOUT" "$PROVBW" "$mib" 1 2>"$WORK/prov.err"); then
		fail "provision_bw $size: $(tr '\n' ' ' <"$WORK/prov.err") $j"
		return
	fi
	python3 - "$j" "$size" >>"$SAMPLES" <<'PY'
import json, sys
d, size = json.loads(sys.argv[1]), sys.argv[2]
for m, v in d["methods"].items():
    if "gbps" in v:
        print(f"prov.{size}.{m} {v['gbps'] * 1e9}")
print(f"prov.{size}.best {d['best']['gbps'] * 1e9}")
print(f"prov.{size}.best_is_{d['best']['method']} 1")
PY
	log "  provision $size: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(", ".join("%s %.2f" % (m, v.get("gbps", 0)) for m, v in d["methods"].items()), "GB/s")' "$j")"
}

tcp_round() {
	local path size
	for path in $PATHS; do
		[ "$path" = tls ] && continue          # its raw limit is loopback's
		tcp_once "$path" raw
		tcp_once "$path" raw_tern_sockopts tern
		[ "$CONNS" -gt 1 ] && tcp_once "$path" "raw_${CONNS}streams" "streams=$CONNS"
	done
	for size in $SIZES; do prov_once "$size"; done
	if [ "$DIAG" = 1 ] && [[ " $PATHS " == *" loopback "* ]]; then
		tcp_once loopback work tern work
		tcp_once loopback work_prefault tern work prefault
	fi
}

# ---- one migration ----

# sched_sampler PID OUT: every 50 ms, append "tid run_ns wait_ns" for every
# thread of PID (/proc/PID/task/*/schedstat: time on a CPU, time runnable
# but waiting for one). A thread's last line is at most 50 ms before its end.
sched_sampler() {
	local pid=$1 out=$2 f a b tid
	while kill -0 "$pid" 2>/dev/null; do
		for f in /proc/"$pid"/task/*/schedstat; do
			{ read -r a b _ <"$f"; } 2>/dev/null || continue
			tid=${f%/schedstat}
			echo "${tid##*/} $a $b"
		done >>"$out"
		sleep 0.05
	done
}

schedstat_of() {   # PID TID: "run wait" of one thread
	local a b
	{ read -r a b _ <"/proc/$1/task/$2/schedstat"; } 2>/dev/null && echo "$a $b" || echo "0 0"
}

# start_source TAG NS MEM ARGS [cc]: sets SRC_PID; files $WORK/TAG.*
start_source() {
	local tag=$1 ns=$2 mem=$3 args=$4 cc=${5:-}
	local d="$WORK/$tag"
	rm -f "$d".*
	ns_prefix "$ns"
	if [ -n "$cc" ]; then
		TERN_PSP_SOCKET="$WORK/pspA.sock" "${NSP[@]}" "$TERN" run --guest "$GUEST" --mem "$mem" --cpus "$VM_CPUS" --cc emu \
			--ctl "$d.src.sock" --serial "file:$d.src.serial" --guest-args "$args" 2>"$d.src.err" &
	else
		"${NSP[@]}" "$TERN" run --guest "$GUEST" --mem "$mem" --cpus "$VM_CPUS" \
			--ctl "$d.src.sock" --serial "file:$d.src.serial" --guest-args "$args" 2>"$d.src.err" &
	fi
	SRC_PID=$!
	PIDS+=("$SRC_PID")
}

# start_destination TAG MEM CC SRC_PID: a `tern run --incoming` in the
# destination's namespace (with --mem MEM unless MEM is empty), up and
# listening; DST_PID and DST_PORT set. 1 (and the source stopped) if not.
start_destination() {
	local tag=$1 mem=$2 cc=$3 spid=$4 d="$WORK/$1" memarg=()
	[ -z "$mem" ] || memarg=(--mem "$mem" --provision setup)
	DST_PORT=$(next_port "$DST_NS")
	ns_prefix "$DST_NS"
	if [ -n "$cc" ]; then
		TERN_PSP_SOCKET="$WORK/pspB.sock" "${NSP[@]}" "$TERN" run --incoming "tcp:$ADDR:$DST_PORT" --cc emu \
			"${memarg[@]}" --ctl "$d.dst.sock" --serial "file:$d.dst.serial" 2>"$d.dst.err" &
	else
		"${NSP[@]}" "$TERN" run --incoming "tcp:$ADDR:$DST_PORT" "${TLS_ARGS[@]}" "${memarg[@]}" \
			--ctl "$d.dst.sock" --serial "file:$d.dst.serial" 2>"$d.dst.err" &
	fi
	DST_PID=$!
	PIDS+=("$DST_PID")
	if ! wait_line "$d.dst.err" 'waiting for an incoming migration' "$DST_PID"; then
		fail "$tag: destination did not start: $(tr '\n' ' ' <"$d.dst.err")"
		stop_vm "$DST_PID"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
}

# migrate_once TAG PATH MEM ARGS [cc]: boot a source, wait for the fill and
# NHB+1 heartbeats, start a destination, migrate, watch the destination for
# NHB+5 heartbeats. Leaves $WORK/TAG.* for analyze.py; 0 on success.
migrate_once() {
	local tag=$1 path=$2 mem=$3 args=$4 cc=${5:-}
	local d="$WORK/$tag" port dpid= rc=0 t0 t1 l0 spl f a b t
	path_env "$path"
	start_source "$tag" "$SRC_NS" "$mem" "$args" "$cc"
	local spid=$SRC_PID
	# setup: the destination is prepared while the source boots and fills
	if [ "$PROVISION" = setup ] && ! start_destination "$tag" "$mem" "$cc" "$spid"; then
		return 1
	fi
	if ! wait_line "$d.src.serial" '^fill done' "$spid" || ! wait_hb "$d.src.serial" $((NHB + 1)) "$spid"; then
		fail "$tag: source did not boot and fill (stderr: $(tr '\n' ' ' <"$d.src.err" | tail -c 400))"
		[ -z "$dpid" ] || stop_vm "$dpid"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	if [ "$PROVISION" != setup ] && ! start_destination "$tag" "" "$cc" "$spid"; then
		return 1
	fi
	dpid=$DST_PID port=$DST_PORT

	# the source's threads before, then sampled during the migration
	for f in /proc/"$spid"/task/*/schedstat; do
		{ read -r a b _ <"$f"; } 2>/dev/null && t=${f%/schedstat} && echo "${t##*/} $a $b"
	done >"$d.sched0" 2>/dev/null
	sched_sampler "$spid" "$d.sched" &
	spl=$!
	PIDS+=("$spl")
	schedstat_of "$dpid" "$dpid" >"$d.dsched0"
	l0=$(grep -c '' "$d.src.serial")
	t0=$(now_ns)
	timeout $((MIG_TIMEOUT + TIMEOUT)) "$TERN" migrate --ctl "$d.src.sock" --to "tcp:$ADDR:$port" \
		--downtime-ms "$DOWNTIME_MS" --timeout "$MIG_TIMEOUT" --on-timeout force \
		"${CONN_ARGS[@]}" "${TLS_ARGS[@]}" --stats "$d.stats" >"$d.mig.out" 2>"$d.mig.err" || rc=$?
	t1=$(now_ns)
	schedstat_of "$dpid" "$dpid" >"$d.dsched1"
	echo "$l0 $(( (t1 - t0) / 1000 ))" >"$d.meta"
	if [ $rc != 0 ] || ! grep -q '"completed"' "$d.stats" 2>/dev/null; then
		fail "$tag: tern migrate rc=$rc: $(tr '\n' ' ' <"$d.mig.err") $(cat "$d.stats" 2>/dev/null)"
		stop_pid "$spl"
		stop_vm "$dpid" "$d.dst.sock"
		stop_vm "$spid" "$d.src.sock"
		return 1
	fi
	wait_exit "$spid" 20 || log "$tag: the source did not exit after the migration"
	stop_vm "$spid"
	stop_pid "$spl"
	if ! wait_hb "$d.dst.serial" $((NHB + 5)) "$dpid"; then
		fail "$tag: the destination's guest did not go on (stderr: $(tr '\n' ' ' <"$d.dst.err"))"
		rc=1
	fi
	stop_vm "$dpid" "$d.dst.sock"
	if ! clean_guest "$d.src.serial" || ! clean_guest "$d.dst.serial"; then
		fail "$tag: the guest reported corrupted pages: $(grep -hE 'CORRUPTION|EXCEPTION|errors=[1-9]' "$d".*.serial | head -3 | tr '\n' ' ')"
		rc=1
	fi
	return $rc
}

# chart TAG: the timeline of TAG's last migration, if its stats have one
chart() {
	[ "$CHARTS" = 1 ] && [ -s "$WORK/$1.stats" ] || return 0
	if ! grep -q '"timeline"' "$WORK/$1.stats"; then
		[ -n "${NO_TIMELINE_SAID:-}" ] || log "  no timeline in tern migrate's --stats (this tern does not write one): no chart"
		NO_TIMELINE_SAID=1
		return 0
	fi
	"$BENCH/plot_timeline.sh" "$WORK/$1.stats" "$OUT/timeline-$1.svg" \
		"$1: $VM_CPUS vCPU(s), $CONNS connection(s)" 2>"$WORK/chart.err" ||
		log "  chart for $1 failed: $(tr '\n' ' ' <"$WORK/chart.err")"
}

# analyze TAG PREFIX: samples from one migration's files
analyze() {
	python3 "$WORK/analyze.py" sample "$WORK/$1" "$2" "$HB_MS" "$NHB" "$MIG_TIMEOUT" >>"$SAMPLES" 2>"$WORK/analyze.err" ||
		fail "$1: analysis failed: $(tail -3 "$WORK/analyze.err" | tr '\n' ' ')"
	[ -s "$WORK/analyze.err" ] && log "  $(tail -1 "$WORK/analyze.err")"
	return 0
}

# keep TAG: with BENCH_KEEP=1 move one migration's files aside (for a look),
# else delete them
keep() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		mkdir -p "$WORK/kept/$1.$KEEP_N" && mv "$WORK/$1".* "$WORK/kept/$1.$KEEP_N/" 2>/dev/null
		KEEP_N=$((KEEP_N + 1))
	else
		rm -f "$WORK/$1".*
	fi
}
KEEP_N=0

rate_label() { [ "$1" = 0 ] && echo idle || echo "${1}MBps"; }

# ---- the platform (--cc emu): two tern-psp that trust each other's roots ----


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
	for _ in $(seq 100); do [ -S "$WORK/pspA.sock" ] && [ -S "$WORK/pspB.sock" ] && return 0; sleep 0.05; done
	return 1
}

# ---- the analysis (one migration -> sample lines; all samples -> summary) ----

cat >"$WORK/analyze.py" <<'PY'
import json, math, os, re, statistics, sys

HB = re.compile(r'^hb (\d+) written=(\d+) verified=(\d+) errors=(\d+) max_stall_us=(\d+) dirty_mbps=(\d+)$')

def hb_lines(path):
    """[(line_no, hb, written, verified, stall_us, mbps, after_fill)]"""
    out, after_fill = [], False
    try:
        lines = open(path, errors="replace").read().split("\n")
    except OSError:
        return out
    complete = lines[:-1]                    # the last element has no newline
    for i, l in enumerate(complete):
        if l.startswith("fill done"):
            after_fill = True
            continue
        m = HB.match(l)
        if m:
            n, w, v, e, s, mb = map(int, m.groups())
            out.append((i, n, w, v, s, mb, after_fill))
    return out

def med(xs):
    return statistics.median(xs) if xs else None

def sched(path):
    d = {}
    try:
        for l in open(path):
            t, a, b = l.split()
            ra, wa = d.get(t, (0, 0))
            d[t] = (max(ra, int(a)), max(wa, int(b)))
    except (OSError, ValueError):
        pass
    return d

def sample(base, prefix, hb_ms, nhb, mig_timeout):
    hb_s = hb_ms / 1000
    st = json.load(open(base + ".stats"))
    l0, wall_us = map(int, open(base + ".meta").read().split())
    src, dst = hb_lines(base + ".src.serial"), hb_lines(base + ".dst.serial")
    ram, priv = st["ram"], st.get("private", {})
    total, setup = st["total-time"], st["setup-time"]
    out = {}
    out["total_ms"] = total
    out["setup_ms"] = setup
    out["downtime_ms"] = st["downtime"]
    out["expected_downtime_ms"] = st["expected-downtime"]
    out["bytes"] = ram["transferred"]
    out["iterations"] = ram["iteration"]
    out["dirty_syncs"] = ram["dirty-sync-count"]
    out["normal_pages"] = ram["normal"]
    out["zero_pages"] = ram["duplicate"]
    out["private_pages"] = priv.get("pages", 0)
    out["platform_ms"] = priv.get("platform-ms", 0.0)
    out["forced"] = 1 if total >= mig_timeout * 1000 else 0
    out["migrate_wall_ms"] = wall_us / 1000
    if total > 0:
        out["wire_Bps"] = ram["transferred"] / (total / 1e3)
        out["payload_Bps"] = ram["normal"] * 4096 / (total / 1e3)
    if total - setup > 0:
        out["copy_phase_Bps"] = ram["transferred"] / ((total - setup) / 1e3)
    # the guest's view: before = the NHB heartbeats before the migration
    # started (after the fill, not the first one after it, which counts
    # fill writes); during = the source's lines after it started, but its
    # last (closest to the pause, maybe cut); after = the destination's.
    pre = [h for h in src if h[6] and h[0] < l0][1:]     # not the first after the fill
    before = pre[-nhb:]
    during = [h for h in src if h[0] >= l0][:-1]
    first_sec = dst[:nhb]
    if before:
        out["dirty_mbps_before"] = med([h[5] for h in before])
    if pre:
        ss = sorted(h[4] for h in pre)
        out["stall_baseline_ms"] = med(ss) / 1e3
        out["stall_baseline_p90_ms"] = ss[min(len(ss) - 1, int(0.9 * len(ss)))] / 1e3
        out["stall_baseline_max_ms"] = ss[-1] / 1e3
    if len(before) > 1:
        out["verify_kpps_before"] = med([(b[3] - a[3]) / hb_s / 1e3 for a, b in zip(before, before[1:])])
    if during:
        out["dirty_mbps_during"] = med([h[5] for h in during])
        out["dirty_mbps_during_min"] = min(h[5] for h in during)
        out["stall_during_max_ms"] = max(h[4] for h in during) / 1e3
    if len(during) > 1:
        out["verify_kpps_during"] = med([(b[3] - a[3]) / hb_s / 1e3 for a, b in zip(during, during[1:])])
    if first_sec:
        out["guest_stall_ms"] = max(h[4] for h in first_sec) / 1e3
        # the window that holds the pause: the destination's first heartbeat,
        # or its second when a vCPU ran late (stall=window hands a worker's
        # stall to the heartbeat after it)
        out["guest_stall_switch_ms"] = max(h[4] for h in first_sec[:2]) / 1e3
        out["dirty_mbps_after"] = med([h[5] for h in dst[1:nhb + 5]]) if len(dst) > 1 else None
    if len(dst) > 2:
        out["verify_kpps_after"] = med([(b[3] - a[3]) / hb_s / 1e3 for a, b in zip(dst[1:], dst[2:])])
    if src and dst:
        out["hb_continuity"] = dst[0][1] - [h for h in src][-1][1]
    # CPU: the sender thread (the one that appeared with the migration), the
    # vCPU threads (there before), the destination's receiving main thread
    s0, s1 = sched(base + ".sched0"), sched(base + ".sched")
    new = {t: v for t, v in s1.items() if t not in s0}
    wall_ns = wall_us * 1e3
    if new and wall_ns > 0 and total > 0:
        t, (run, wait) = max(new.items(), key=lambda kv: kv[1][0])
        out["sender_cpu_ms"] = run / 1e6
        out["sender_runq_wait_ms"] = wait / 1e6
        out["sender_cpu_frac"] = run / 1e6 / total
        out["sender_runq_wait_frac"] = wait / 1e6 / total
    old = [(s1[t][0] - s0[t][0]) for t in s0 if t in s1]
    if old and total > 0:
        out["src_other_threads_cpu_frac"] = sum(old) / 1e6 / total
    try:
        d0 = list(map(int, open(base + ".dsched0").read().split()))
        d1 = list(map(int, open(base + ".dsched1").read().split()))
        if total > 0 and d1[0] >= d0[0]:
            out["receiver_cpu_frac"] = (d1[0] - d0[0]) / 1e6 / total
            out["receiver_runq_wait_frac"] = (d1[1] - d0[1]) / 1e6 / total
            # ~1: the receiver always wanted a CPU (it is the bottleneck)
            out["receiver_busy_frac"] = out["receiver_cpu_frac"] + out["receiver_runq_wait_frac"]
            if ram["transferred"]:
                out["receiver_cpu_s_per_GB"] = (d1[0] - d0[0]) / 1e9 / (ram["transferred"] / 1e9)
    except (OSError, ValueError, IndexError):
        pass
    # --provision setup: how much of the destination's RAM was ready when
    # the source came (1.0: provisioning was off the migration's path)
    try:
        m = re.search(r"provisioned during setup: (\d+) of (\d+) MiB", open(base + ".dst.err").read())
        if m and int(m.group(2)):
            out["dst_ram_ready_frac"] = int(m.group(1)) / int(m.group(2))
    except OSError:
        pass
    for k, v in out.items():
        if v is not None:
            print(f"{prefix}.{k} {v}")
    g = lambda k, f="%.1f": (f % out[k]) if out.get(k) is not None else "-"
    print(f"{prefix}: total {g('total_ms')} ms, downtime {g('downtime_ms')} ms, guest stall {g('guest_stall_ms')} ms "
          f"(switch window {g('guest_stall_switch_ms')}; ordinary windows median {g('stall_baseline_ms')}, "
          f"p90 {g('stall_baseline_p90_ms')}), {out['bytes'] / 1e6:.0f} MB, {out['iterations']} iterations, "
          f"payload {out.get('payload_Bps', 0) / 1e9:.2f} GB/s, dirty MB/s before/during/after "
          f"{g('dirty_mbps_before', '%.0f')}/{g('dirty_mbps_during', '%.0f')}/{g('dirty_mbps_after', '%.0f')}, "
          f"sender cpu {g('sender_cpu_frac', '%.2f')} runq-wait {g('sender_runq_wait_frac', '%.2f')}, "
          f"receiver cpu {g('receiver_cpu_frac', '%.2f')} runq-wait {g('receiver_runq_wait_frac', '%.2f')}, "
          f"source vCPUs {g('src_other_threads_cpu_frac', '%.2f')} CPUs", file=sys.stderr)

def stats(xs, nd=3):
    if not xs:
        return None
    return {"median": round(statistics.median(xs), nd), "min": round(min(xs), nd),
            "max": round(max(xs), nd), "n": len(xs)}

def summary(samples_path, out_path, meta_json):
    meta = json.loads(meta_json)
    vals = {}
    for line in open(samples_path):
        k, v = line.split()
        vals.setdefault(k, []).append(float(v))
    md = lambda k: statistics.median(vals[k]) if vals.get(k) else None

    conns = meta["connections"]
    tcp = {}
    for path in ("loopback", "veth"):
        t = {}
        for name in sorted({k.split(".", 2)[2] for k in vals if k.startswith(f"tcp.{path}.")}):
            t[name + "_gbps"] = stats([x / 1e9 for x in vals[f"tcp.{path}.{name}"]])
        if t:
            tcp[path] = t
    # the two limits: raw TCP with as many connections as the migration
    # used, and fresh-RAM provisioning for the guest's size (the fastest way)
    tcp_limit_name = "raw" if conns == 1 else f"raw_{conns}streams"
    provision = {}
    for size in meta["sizes"]:
        p = {}
        for k in sorted({k.split(".", 2)[2] for k in vals if k.startswith(f"prov.{size}.")}):
            if k.startswith("best_is_"):
                p.setdefault("fastest_method_count", {})[k[8:]] = len(vals[f"prov.{size}.{k}"])
            else:
                p[k + "_gbps"] = stats([x / 1e9 for x in vals[f"prov.{size}.{k}"]])
        if p:
            provision[size] = p
    notes_tcp = {
        "raw_gbps": "one TCP stream, kernel default socket options; the reference for every ratio",
        "raw_tern_sockopts_gbps": "the same with tern's options (TCP_NODELAY, 4 MiB SO_SNDBUF/SO_RCVBUF)",
        "work_gbps": "tern's per-page work without a VM: copy+zero check+XXH3 per batch at the sender; "
                     "read into a malloc'd buffer, XXH3, copy each page into an untouched memfd at the receiver",
        "work_prefault_gbps": "the same with the receiver's memfd populated beforehand (no first-touch faults)",
        "raw_Nstreams_gbps": "N parallel raw TCP streams (tcp_bw streams=N, a thread per stream at each end), "
                             "N = the migration's connections; the TCP limit when N > 1",
    }

    cases = {}
    keys = sorted({k.split(".")[1] for k in vals if k.startswith("case.")})
    for tag in keys:
        c = {}
        size, rate, path = tag.split("_", 2)
        c["mem"], c["dirty_rate"], c["path"] = size, rate, path
        net = "loopback" if path == "tls" else path          # tls: loopback with TLS on top
        ref = md(f"tcp.{net}.raw")
        lim_tcp, lim_prov = md(f"tcp.{net}.{tcp_limit_name}"), md(f"prov.{size}.best")
        lim = min(x for x in (lim_tcp, lim_prov) if x) if (lim_tcp or lim_prov) else None
        if lim:
            c["limit"] = {"tcp_gbps": round(lim_tcp / 1e9, 3) if lim_tcp else None,
                          "tcp_streams": conns,
                          "provision_gbps": round(lim_prov / 1e9, 3) if lim_prov else None,
                          "limit_gbps": round(lim / 1e9, 3),
                          "bound_by": "tcp" if lim == lim_tcp else "provision"}
        for k in sorted({k.split(".", 2)[2] for k in vals if k.startswith(f"case.{tag}.")}):
            xs = vals[f"case.{tag}.{k}"]
            if k.endswith("_Bps"):
                c[k[:-4] + "_gbps"] = stats([x / 1e9 for x in xs])
                if ref:
                    c[k[:-4] + "_ratio_to_tcp"] = stats([x / ref for x in xs], 4)
                if lim and k == "payload_Bps":
                    c["payload_ratio_to_limit"] = stats([x / lim for x in xs], 4)
            else:
                c[k] = stats(xs)
        b, d = vals.get(f"case.{tag}.dirty_mbps_before"), vals.get(f"case.{tag}.dirty_mbps_during")
        if b and d and len(b) == len(d):
            c["dirty_mbps_during_over_before"] = stats([y / x for x, y in zip(b, d) if x > 0], 3)
        b, d = vals.get(f"case.{tag}.verify_kpps_before"), vals.get(f"case.{tag}.verify_kpps_during")
        if b and d and len(b) == len(d):
            c["verify_rate_during_over_before"] = stats([y / x for x, y in zip(b, d) if x > 0], 3)
        cases[tag] = c

    psp = {}
    pr, pp = vals.get("psp.private_us_per_page"), vals.get("psp.plain_us_per_page")
    for k in ("private_us_per_page", "dst_private_us_per_page", "cc_us_per_page", "plain_us_per_page", "cc_total_ms",
              "plain_total_ms", "private_pages", "plain_normal_pages", "cc_downtime_ms", "plain_downtime_ms"):
        if vals.get("psp." + k):
            psp[k] = stats(vals["psp." + k])
    if pr and pp:
        psp["private_over_shared"] = stats([a / b for a, b in zip(pr, pp) if b > 0], 2)
    if psp:
        psp["note"] = ("private_us_per_page = platform-ms / private.pages (SEND_UPDATE_DATA round trips to tern-psp); "
                       "dst_private_us_per_page = the destination's platform time (RECEIVE_UPDATE_DATA) per private page; "
                       "plain_us_per_page = (total-time - setup-time) / normal pages of the same guest without --cc; "
                       "cc_us_per_page = the same for the --cc emu migration, all its pages")

    # goals (checked, not asserted)
    goals = []
    def goal(name, measured, target, ok, note=""):
        goals.append({"goal": name, "measured": measured, "target": target,
                      "met": ok, "note": note})
    big = max((cases[t]["mem"] for t in cases), key=lambda s: float(s[:-1]) * (1024 if s[-1] == "G" else 1), default=None)
    t = f"{big}_idle_loopback" if big else None
    if t in cases:
        tm = cases[t]["total_ms"]["median"]
        goal(f"idle {big} guest, all pages written, loopback: total time", tm, "<= 1600 ms", tm <= 1600,
             f"{tm / 1600:.2f}x the target")
        r = cases[t].get("payload_ratio_to_tcp")
        if r:
            goal(f"idle {big} guest, loopback: non-zero page throughput / one raw TCP stream",
                 r["median"], ">= 0.90", r["median"] >= 0.9, f"{r['median'] / 0.9:.2f}x the target")
    for tag, c in sorted(cases.items()):
        r = c.get("payload_ratio_to_limit")
        if r and "1vcpu" not in c["dirty_rate"]:
            want = 0.6 if c["path"] == "tls" else 0.8
            goal(f"{tag}: payload throughput / min(raw TCP with {conns} connection(s), fresh-RAM provisioning)",
                 r["median"], f">= {want}", r["median"] >= want,
                 f"limit {c['limit']['limit_gbps']} GB/s, set by {c['limit']['bound_by']}; "
                 f"{r['median'] / want:.2f}x the target")
        if c["dirty_rate"].startswith("idle"):
            continue
        dt = c["downtime_ms"]["median"]
        goal(f"{tag}: VMM downtime", dt, f"<= {meta['downtime_ms']} ms", dt <= meta["downtime_ms"])
        gs = c.get("guest_stall_ms")
        if gs:
            base = c.get("stall_baseline_ms", {}).get("median")
            p90 = c.get("stall_baseline_p90_ms", {}).get("median")
            sw = c.get("guest_stall_switch_ms", {}).get("median")
            goal(f"{tag}: guest's longest stall in the first second after the switch-over", gs["median"],
                 f"<= {meta['downtime_ms']} ms", gs["median"] <= meta["downtime_ms"],
                 f"in the window holding the pause: {sw} ms; longest stall in an ordinary 100 ms window "
                 f"before the migration (host scheduling noise): median {base} ms, p90 {p90} ms")
        r = c.get("dirty_mbps_during_over_before")
        if r:
            goal(f"{tag}: guest's dirty MB/s during / before", r["median"], ">= 0.95 (not slowed)",
                 r["median"] >= 0.95)

    summary = dict(meta)
    summary.update({"tcp": tcp, "tcp_notes": notes_tcp, "provision": provision,
                    "provision_notes": "bench/provision_bw on a new memfd of the guest's size, once per method per "
                                       "round: allocate (its way) + write every byte once; best = the fastest "
                                       "method of each round, the provisioning limit",
                    "cases": cases, "psp": psp, "goals": goals})
    text = json.dumps(summary, indent=1)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    print(text)

if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "psp":
        # psp CC_BASE PLAIN_BASE: per-page costs from the two stats files
        cc, pl = json.load(open(sys.argv[2] + ".stats")), json.load(open(sys.argv[3] + ".stats"))
        pp, cp = cc["private"]["pages"], cc["ram"]["normal"] + cc["private"]["pages"]
        if pp:
            print(f"psp.private_us_per_page {cc['private']['platform-ms'] * 1e3 / pp}")
            print(f"psp.private_pages {pp}")
        if cp:
            print(f"psp.cc_us_per_page {(cc['total-time'] - cc['setup-time']) * 1e3 / cp}")
        if pl["ram"]["normal"]:
            print(f"psp.plain_us_per_page {(pl['total-time'] - pl['setup-time']) * 1e3 / pl['ram']['normal']}")
            print(f"psp.plain_normal_pages {pl['ram']['normal']}")
        # the destination's side: RECEIVE_UPDATE_DATA, from its stderr line
        # "migrated in: ... N private pages (platform X ms)"
        try:
            m = re.search(r"(\d+) private pages \(platform ([0-9.]+) ms\)", open(sys.argv[2] + ".dst.err").read())
            if m and int(m.group(1)):
                print(f"psp.dst_private_us_per_page {float(m.group(2)) * 1e3 / int(m.group(1))}")
        except OSError:
            pass
        print(f"psp.cc_total_ms {cc['total-time']}")
        print(f"psp.plain_total_ms {pl['total-time']}")
        print(f"psp.cc_downtime_ms {cc['downtime']}")
        print(f"psp.plain_downtime_ms {pl['downtime']}")
        print(f"psp: {pp} private pages, platform {cc['private']['platform-ms']:.0f} ms "
              f"({cc['private']['platform-ms'] * 1e3 / max(pp, 1):.1f} us/page); plain twin "
              f"{(pl['total-time'] - pl['setup-time']) * 1e3 / max(pl['ram']['normal'], 1):.2f} us/page",
              file=sys.stderr)
    else:
        summary(sys.argv[2], sys.argv[3], sys.argv[4])
PY

# ---- the run ----

log "tern migration benchmark: N=$N, $VM_CPUS vCPU(s), sizes [$SIZES], rates [$RATES] MB/s, paths [$PATHS], downtime budget ${DOWNTIME_MS} ms"
log "connections: $CONN_NOTE; TLS: $TLS_NOTE; charts: $CHART_NOTE"
[ "$VETH_OK" = 1 ] && log "$VETH_NOTE"
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

if [ "$CC" = 1 ] && ! psp_up; then
	fail "tern-psp platforms did not start: $(cat "$WORK"/psp*.err 2>/dev/null | tr '\n' ' ')"
	CC=0
fi

for i in $(seq "$N"); do
	log "round $i/$N: raw TCP"
	tcp_round
	for size in $SIZES; do
		for rate in $RATES; do
			for path in $PATHS; do
				tag="${size}_$(rate_label "$rate")_$path"
				log "round $i/$N: $tag"
				migrate_once "$tag" "$path" "$size" "rate=$rate hb_ms=$HB_MS stall=window" &&
					analyze "$tag" "case.$tag" && chart "$tag"
				keep "$tag"
			done
		done
	done
	if [ "$DIAG" = 1 ] && [ "$VM_CPUS" != 1 ] && [[ " $PATHS " == *" loopback "* ]]; then
		big=$(echo "$SIZES" | tr ' ' '\n' | tail -1)
		tag="${big}_idle1vcpu_loopback"
		log "round $i/$N: $tag (diagnostic: one vCPU spinning instead of $VM_CPUS)"
		cpus=$VM_CPUS
		VM_CPUS=1
		migrate_once "$tag" loopback "$big" "rate=0 hb_ms=$HB_MS stall=window" && analyze "$tag" "case.$tag"
		VM_CPUS=$cpus
		keep "$tag"
	fi
	if [ "$CC" = 1 ]; then
		log "round $i/$N: private pages (--cc emu, $CC_MEM, region $CC_SIZE) and the same guest without --cc"
		if migrate_once cc loopback "$CC_MEM" "size=$CC_SIZE rate=0 hb_ms=$HB_MS stall=window migctl=1" cc &&
		   migrate_once plain loopback "$CC_MEM" "size=$CC_SIZE rate=0 hb_ms=$HB_MS stall=window"; then
			python3 "$WORK/analyze.py" psp "$WORK/cc" "$WORK/plain" >>"$SAMPLES" 2>"$WORK/analyze.err" ||
				fail "psp analysis: $(tail -2 "$WORK/analyze.err")"
			log "  $(tail -1 "$WORK/analyze.err")"
		fi
		keep cc
		keep plain
	fi
done
log "final raw TCP samples"
tcp_round

# ---- summary ----

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
META=$(python3 - "$START_DATE" "$N" "$HB_MS" "$DOWNTIME_MS" "$MIG_TIMEOUT" "$TCP_MIB" "${LOAD_START:-?}" \
	"${LOAD_END:-?}" "$FAILURES" "$VETH_OK" "$VETH_NOTE" "$PATHS" "$SIZES" "$RATES" "$CC_MEM" "$CC_SIZE" \
	"$VM_CPUS" "$CONNS" "$CONN_NOTE" "$TLS_NOTE" "$CHART_NOTE" "$PROVISION" <<'PY'
import json, os, platform, sys
a = sys.argv[1:]
print(json.dumps({
    "benchmark": "migrate", "started": a[0], "n": int(a[1]), "hb_ms": int(a[2]),
    "downtime_ms": int(a[3]), "mig_timeout_s": int(a[4]), "tcp_stream_mib": int(a[5]),
    "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
             "loadavg_start": a[6], "loadavg_end": a[7]},
    "failures": int(a[8]),
    "veth": {"available": a[9] == "1", "note": a[10]},
    "paths": a[11].split(), "sizes": a[12].split(), "rates_mbps": [int(x) for x in a[13].split()],
    "cc_guest": {"mem": a[14], "region": a[15]},
    "vm_cpus": int(a[16]), "connections": int(a[17]), "connections_note": a[18],
    "tls": a[19], "charts": a[20],
    "destination_provision": a[21] + (" (started beside the source with --mem, its RAM provisioned "
                                      "while the source boots and fills)" if a[21] == "setup" else
                                      " (started after the fill, pages provisioned as announced)"),
    "guest": f"build/guest/dirtier.elf, {a[16]} vCPU(s), region = all RAM above the image, fill=1, "
             "stall=window; rate=0 still runs the verifier on every vCPU (they never idle)",
}))
PY
)
python3 "$WORK/analyze.py" summary "$SAMPLES" "$OUT/migrate.json" "$META" || die "summary failed"
log "wrote $OUT/migrate.json"
[ "$FAILURES" = 0 ] || { log "$FAILURES sample(s) failed"; exit 1; }
exit 0
