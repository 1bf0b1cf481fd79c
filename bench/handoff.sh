#!/usr/bin/env bash
# handoff.sh - live-upgrade (handoff) benchmark of tern: the VMM's downtime,
# the stall the guest itself sees, the prepare time and how long the guest
# takes to run at full speed again, for 1, 4 and 16 GiB guests with 1 and 2
# vCPUs, each over a chain of handoffs (every new process is the next source).
#
#   make && bench/handoff.sh
#
# Environment (all optional):
#   BENCH_N          handoffs per configuration (default 20)
#   BENCH_MEMS       guest RAM sizes (default "1G 4G 16G")
#   BENCH_CPUS       vCPU counts (default "1 2")
#   BENCH_HB_MS      guest heartbeat period, ms (default 50)
#   BENCH_RATE       guest dirty rate, MiB/s (default 50)
#   BENCH_REGION     dirtier region size (default 256M; the rest of RAM is untouched)
#   BENCH_PREFAULT   the new process's --prefault modes to compare (default
#                    "auto"; e.g. "off auto": every size and vCPU count once
#                    with each, as separate chains in the same rounds)
#   BENCH_SETTLE_HB  heartbeats to wait after resuming a parked VM (default 6)
#   BENCH_POST_HB    heartbeats to watch after a handoff, at most (default 40)
#   BENCH_TIMEOUT    seconds any one wait may take before it is a failure (60)
#   BENCH_OUT        where the results go (default bench/out)
#   TERN, GUEST      binaries (default build/tern, build/guest/dirtier.elf)
#
# All configurations run at once, but only one at a time is unpaused: each
# round hands every VM over once (in a rotating order), the others parked
# with `tern ctl pause`, so noise on the host hits every configuration alike
# and idle VMs do not compete for the 2 cores. Details: bench/README.md.
#
# Prints one JSON summary on stdout and writes it to bench/out/handoff.json.
# Progress goes to stderr. Exit status 0, or 1 when any handoff failed (the
# summary is still written, with "failures" > 0), or 2 on a setup error.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT=${BENCH_OUT:-$BENCH/out}   # where results go (a writable dir)
N=${BENCH_N:-20}
MEMS=${BENCH_MEMS:-"1G 4G 16G"}
CPUS=${BENCH_CPUS:-"1 2"}
HB_MS=${BENCH_HB_MS:-50}
RATE=${BENCH_RATE:-50}
REGION=${BENCH_REGION:-256M}
PREFAULTS=${BENCH_PREFAULT:-auto}
SETTLE_HB=${BENCH_SETTLE_HB:-6}
POST_HB=${BENCH_POST_HB:-40}
TIMEOUT=${BENCH_TIMEOUT:-60}
TERN=${TERN:-$ROOT/build/tern}
GUEST=${GUEST:-$ROOT/build/guest/dirtier.elf}
POLL=0.01                     # poll interval of the bash-side waits, seconds

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for v in N HB_MS RATE SETTLE_HB POST_HB TIMEOUT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
[ "$POST_HB" -ge 4 ] || die "BENCH_POST_HB must be at least 4"
for m in $MEMS; do [[ "$m" =~ ^[1-9][0-9]*[MG]$ ]] || die "bad size '$m' in BENCH_MEMS"; done
for c in $CPUS; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "bad vCPU count '$c' in BENCH_CPUS"; done
for p in $PREFAULTS; do [[ "$p" =~ ^(auto|populate|off)$ ]] || die "bad mode '$p' in BENCH_PREFAULT (auto, populate, off)"; done
# an older tern (to compare builds) has no --prefault: it can only run as it is
PF_FLAG=1
if ! "$TERN" run --help 2>&1 | grep -q -- '--prefault'; then
	[ "$PREFAULTS" = auto ] || die "BENCH_PREFAULT=$PREFAULTS: $TERN has no --prefault"
	PF_FLAG=0
	log "$TERN has no --prefault: the new processes map nothing ahead (as before it existed)"
fi
[ -x "$TERN" ] || die "$TERN not found; run make first"
[ -w /dev/kvm ] || die "/dev/kvm is missing or not writable: no VM can run here (\`$TERN host-check\` says what this host has)"
[ -f "$GUEST" ] || die "$GUEST not found; run make first"
command -v python3 >/dev/null || die "python3 is needed"

mkdir -p "$OUT"
make -s -C "$BENCH" OUT="$OUT" >&2 || die "cannot build bench/out/memcpy_bw"
MEMCPY="$OUT/memcpy_bw"

# ---- bookkeeping and cleanup ----

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-handoff.XXXXXX") || die "mktemp failed"
SAMPLES="$WORK/samples.jsonl"  # one JSON object per handoff, from step.py
MEMCPY_SAMPLES="$WORK/memcpy"
: >"$SAMPLES"
: >"$MEMCPY_SAMPLES"
PIDS=()                       # every tern we started and have not reaped
FAILURES=0

forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# wait_exit PID: wait up to TIMEOUT for PID to exit, reap it, set RC.
wait_exit() {
	local pid=$1 deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$deadline" ]; do sleep "$POLL"; done
	if kill -0 "$pid" 2>/dev/null; then
		RC=timeout
		return 1
	fi
	wait "$pid" 2>/dev/null
	RC=$?
	forget_pid "$pid"
	return 0
}

# Stop one tern: ask over its socket, then SIGTERM, then SIGKILL. Bounded.
stop_vm() {
	local pid=$1 sock=${2:-} i
	if kill -0 "$pid" 2>/dev/null; then
		[ -n "$sock" ] && [ -S "$sock" ] && timeout 5 "$TERN" ctl "$sock" quit >/dev/null 2>&1
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
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
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

now_ns() { date +%s%N; }

fail() { log "FAILED: $*"; FAILURES=$((FAILURES + 1)); }

# wait_line FILE REGEX PID: poll FILE until a line matches REGEX. Fails when
# PID exits or on TIMEOUT.
wait_line() {
	local file=$1 re=$2 pid=$3 deadline
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while :; do
		grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
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

# wait_sock PATH PID: until PATH is a socket; fails when PID exits or on TIMEOUT.
wait_sock() {
	local path=$1 pid=$2 deadline=$((SECONDS + TIMEOUT))
	while ! [ -S "$path" ]; do
		kill -0 "$pid" 2>/dev/null || { log "tern (pid $pid) exited before creating $path"; return 1; }
		[ $SECONDS -lt "$deadline" ] || { log "timeout (${TIMEOUT}s) waiting for $path"; return 1; }
		sleep "$POLL"
	done
}

json_field() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

memcpy_sample() {
	local j
	j=$("$MEMCPY" 256 5) || { fail "memcpy_bw"; return; }
	json_field "$j" median_gbps >>"$MEMCPY_SAMPLES"
}

# ---- one handoff, measured from the guest's serial output ----
#
# step.py resumes the parked VM, waits for it to settle, takes a plain
# pause/resume as a control, hands the VM to the waiting process, watches the
# heartbeats after it and parks the VM again (now in the new process). It
# follows the serial file in a thread (1 ms polls) so every line has a
# CLOCK_MONOTONIC arrival time, and it speaks the control protocol directly
# (no `tern ctl` fork between the clock reads and the request).
cat >"$WORK/step.py" <<'PY'
import json, os, re, socket, statistics, sys, threading, time

ctl_path, serial, to, new_pid, head_pid = sys.argv[1:6]
settle, post_max, timeout, rate, hb_ms = (int(x) for x in sys.argv[6:11])
new_pid, head_pid = int(new_pid), int(head_pid)

HB = re.compile(r"^hb (\d+) written=(\d+) verified=(\d+) errors=(\d+) "
                r"max_stall_us=(\d+) dirty_mbps=(\d+)$")
mono = time.monotonic
res = {"ok": False}


class Fail(Exception):
    pass


class Tail(threading.Thread):
    """Follows the serial file; lines[] = (arrival time, text)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.f = open(path, "rb")
        self.f.seek(0, os.SEEK_END)
        self.buf = b""
        self.lines = []
        self.stop = False
        self.watch_pid = None     # set: note when this process has exited
        self.exit_t = None

    def gone(self, pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
        except OSError:
            return True

    def run(self):
        while not self.stop:
            if self.watch_pid and self.exit_t is None and self.gone(self.watch_pid):
                self.exit_t = mono()
            data = self.f.read()
            if not data:
                time.sleep(0.001)
                continue
            t = mono()
            self.buf += data
            *done, self.buf = self.buf.split(b"\n")
            self.lines.extend((t, l.decode("ascii", "replace")) for l in done)

    def hbs(self, after):
        """[(t, counter, written, verified, errors, stall_us, mbps)] after time `after`."""
        out = []
        for t, l in list(self.lines):
            m = HB.match(l)
            if m and t > after:
                out.append((t,) + tuple(int(x) for x in m.groups()))
        return out


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def ctl(req, tmo=timeout):
    """One request on a fresh connection; returns the reply object."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(tmo)
    try:
        s.connect(ctl_path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                raise Fail("control socket closed before the reply to %s" % req["cmd"])
            buf += d
    finally:
        s.close()
    return json.loads(buf)


def wait_hb(tail, n, after, pid, what):
    deadline = mono() + timeout
    while True:
        h = tail.hbs(after)
        if len(h) >= n:
            return h
        if not alive(pid):
            raise Fail("tern (pid %d) exited while waiting for %s" % (pid, what))
        if mono() > deadline:
            raise Fail("timeout waiting for %s" % what)
        time.sleep(0.002)


def rates(hbs):
    """verified pages per heartbeat period, for each hb after the first,
    as (t, rate); a heartbeat lost to a cut line counts as a missing period."""
    return [(b[0], (b[3] - a[3]) / max(1, b[1] - a[1])) for a, b in zip(hbs, hbs[1:])]


tail = Tail(serial)
tail.start()
pid = head_pid
try:
    # 1. unpark, let the pacing and the heartbeat windows settle
    r = ctl({"cmd": "resume"})
    if not r.get("ok") and "not paused" not in r.get("error", ""):
        raise Fail("resume: %s" % r.get("error"))
    t = mono()
    wait_hb(tail, settle, t, pid, "%d heartbeats after resume" % settle)

    # 2. control: a plain pause + resume of the same VM (warm EPT, same process)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(ctl_path)
    f = s.makefile("rwb")
    t_pr = mono()
    for c in ("pause", "resume"):
        f.write((json.dumps({"cmd": c}) + "\n").encode())
        f.flush()
        rep = json.loads(f.readline())
        if not rep.get("ok"):
            raise Fail("%s: %s" % (c, rep.get("error")))
    # an upper bound of the pause: from sending pause to the reply to resume
    # (tern's status "last-pause-us" is not filled in)
    res["pause_resume_us"] = (mono() - t_pr) * 1e6
    s.close()
    h = wait_hb(tail, 2, t_pr, pid, "heartbeats after pause/resume")
    res["pause_resume_stall_us"] = max(x[5] for x in h[:2])

    # 3. baseline: three quiet heartbeats right before the handoff
    t_b = h[1][0]
    pre = wait_hb(tail, 4, t_b, pid, "baseline heartbeats")[:4]
    res["baseline_stall_us"] = max(x[5] for x in pre[1:])
    base_vrate = statistics.median(r for _, r in rates(pre))
    res["baseline_verified_per_hb"] = base_vrate

    # 4. the handoff
    t_req = mono()
    rep = ctl({"cmd": "handoff", "to": to}, tmo=timeout)
    t_rep = mono()
    if not rep.get("ok"):
        raise Fail("handoff: %s" % rep.get("error"))
    res["downtime_us"] = rep["downtime-us"]
    res["prepare_ms"] = rep["prepare-ms"]
    res["state_bytes"] = rep["state-bytes"]
    res["request_ms"] = (t_rep - t_req) * 1e3
    res["handed_off"] = True
    tail.watch_pid = head_pid
    # the source paused prepare-ms after it got the request (a little after
    # t_req), and resumed downtime-us later
    t_pause = t_req + rep["prepare-ms"] / 1e3
    t_resume = t_pause + rep["downtime-us"] / 1e6
    pid = new_pid

    # 5. the new process owns the control path once it answers with its pid
    deadline = mono() + timeout
    while True:
        try:
            st = ctl({"cmd": "status"}, tmo=5)
            if st.get("pid") == new_pid:
                break
        except (OSError, Fail, ValueError):
            pass
        if not alive(new_pid):
            raise Fail("the new process (pid %d) exited after the handoff" % new_pid)
        if mono() > deadline:
            raise Fail("the new process never answered on %s" % ctl_path)
        time.sleep(0.002)
    res["ctl_back_ms"] = (mono() - t_req) * 1e3
    res["status_downtime_us"] = st.get("handoff-downtime-us")

    # 6. heartbeats after the pause: the stall, and when the guest is back to speed
    lo, hi = rate * 0.9, rate * 1.1
    while True:
        n = len(tail.hbs(t_pause))
        h = wait_hb(tail, n + 1, t_pause, pid, "heartbeats after the handoff")
        full = next((i for i, x in enumerate(h) if lo <= x[6] <= hi), None)
        vr = rates(pre[-1:] + h)
        ver = next((i for i, (_, r) in enumerate(vr) if r >= 0.9 * base_vrate), None)
        if (len(h) >= 4 and full is not None and ver is not None) or len(h) >= post_max:
            break
    res["guest_stall_us"] = max(x[5] for x in h[:2])
    res["post_stalls_us"] = [x[5] for x in h[:4]]
    res["post_dirty_mbps"] = [x[6] for x in h[:4]]
    res["post_verified_per_hb"] = [round(r) for _, r in vr[:12]]
    res["first_hb_ms"] = (h[0][0] - t_resume) * 1e3
    if full is not None:
        res["full_speed_hb"] = full + 1
        res["full_speed_ms"] = (h[full][0] - t_resume) * 1e3
    if ver is not None:
        res["verify_recovered_hb"] = ver + 1
        res["verify_recovered_ms"] = (vr[ver][0] - t_resume) * 1e3
    # a line cut by the handoff: the old process drops its partial console line
    if tail.exit_t is not None:
        res["old_exit_ms"] = (tail.exit_t - t_rep) * 1e3
    res["cut_line"] = any(t > t_req and l and not HB.match(l) for t, l in tail.lines)
    res["ok"] = True
except (Fail, OSError, ValueError, KeyError) as e:
    res["error"] = str(e)
finally:
    tail.stop = True
    bad = [l for _, l in tail.lines if l.startswith("CORRUPTION") or
           (HB.match(l) and HB.match(l).group(4) != "0")]
    if bad:
        res["ok"] = False
        res["error"] = "guest reported corruption: " + bad[0]
    # park the VM again, wherever it is now
    if alive(pid):
        try:
            ctl({"cmd": "pause"}, tmo=10)
        except (OSError, Fail, ValueError) as e:
            res.setdefault("error", "pause after the step: %s" % e)
print(json.dumps(res))
PY

# ---- configurations ----

CFGS=()                       # tags, e.g. 1g_2cpu (1g_2cpu_pf-off with several BENCH_PREFAULT modes)
declare -A MEM CPU PF HEAD ERRN
for m in $MEMS; do
	for c in $CPUS; do
		for p in $PREFAULTS; do
			tag="${m,,}_${c}cpu"
			[ "$PREFAULTS" = auto ] || tag="${tag}_pf-$p"
			CFGS+=("$tag")
			MEM[$tag]=$m
			CPU[$tag]=$c
			PF[$tag]=$p
		done
	done
done
GUEST_ARGS="size=$REGION rate=$RATE hb_ms=$HB_MS stall=window"

# boot TAG: start the VM, wait for the fill to finish and two heartbeats, park it.
boot() {
	local tag=$1 pid
	local sock="$WORK/$tag.sock" ser="$WORK/$tag.serial" err="$WORK/$tag.0.err"
	ERRN[$tag]=0
	"$TERN" run --guest "$GUEST" --mem "${MEM[$tag]}" --cpus "${CPU[$tag]}" --ctl "$sock" \
		--serial "file:$ser" --guest-args "$GUEST_ARGS" 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	HEAD[$tag]=$pid
	if ! wait_line "$ser" '^fill done ' "$pid" ||
	   ! wait_line "$ser" '^hb .*verified=[1-9]' "$pid" ||
	   ! timeout 10 "$TERN" ctl "$sock" pause >/dev/null; then
		fail "boot $tag (stderr: $(tr '\n' ' ' <"$err"))"
		stop_vm "$pid" "$sock"
		HEAD[$tag]=""
		return 1
	fi
	log "$tag: booted (pid $pid), region filled, parked"
}

# handoff_step TAG ROUND: one handoff of TAG's VM to a fresh process.
handoff_step() {
	local tag=$1 round=$2
	local old=${HEAD[$tag]} new j ok pf
	local sock="$WORK/$tag.sock" ser="$WORK/$tag.serial" next="$WORK/$tag.next.sock"
	[ -n "$old" ] || return 0             # this chain is dead
	ERRN[$tag]=$((ERRN[$tag] + 1))
	local err="$WORK/$tag.${ERRN[$tag]}.err"
	rm -f "$next"
	local pfa=()
	[ "$PF_FLAG" = 1 ] && pfa=(--prefault "${PF[$tag]}")
	"$TERN" run --takeover "$next" "${pfa[@]}" 2>"$err" &
	new=$!
	PIDS+=("$new")
	if ! wait_sock "$next" "$new"; then
		fail "$tag round $round: takeover process did not start ($(tr '\n' ' ' <"$err"))"
		stop_vm "$new"
		return 0
	fi
	j=$(timeout $((TIMEOUT * 3)) python3 "$WORK/step.py" "$sock" "$ser" "$next" "$new" "$old" \
		"$SETTLE_HB" "$POST_HB" "$TIMEOUT" "$RATE" "$HB_MS") || j='{"ok":false,"error":"step.py failed or timed out"}'
	ok=$(json_field "$j" ok)
	# the new process's own account of its pre-fault (logged before it answers CONFIG)
	pf=$(grep -oE 'prefault: [0-9]+ MiB of guest RAM mapped in [0-9.]+ ms' "$err" | head -1 | tr -dc '0-9. ' | xargs)
	printf '%s\n' "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(cfg=sys.argv[2], round=int(sys.argv[3]))
pf = sys.argv[4].split()
if len(pf) == 2: d.update(prefault_mib=int(pf[0]), prefault_ms=float(pf[1]))
print(json.dumps(d))' "$j" "$tag" "$round" "$pf")" >>"$SAMPLES"
	if [ "$(json_field "$j" handed_off)" = True ]; then
		# the old process must exit 0 by itself
		if ! wait_exit "$old"; then
			fail "$tag round $round: old process $old still running after the handoff"
			stop_vm "$old"
		elif [ "$RC" != 0 ]; then
			fail "$tag round $round: old process exited $RC after the handoff"
		fi
		HEAD[$tag]=$new
	else
		stop_vm "$new"
		kill -0 "$old" 2>/dev/null || { log "$tag: chain lost (pid $old gone)"; HEAD[$tag]=""; }
	fi
	if [ "$ok" = True ]; then
		log "$tag round $round: downtime $(json_field "$j" downtime_us) us, guest stall $(json_field "$j" guest_stall_us) us, prepare $(json_field "$j" prepare_ms) ms"
	else
		fail "$tag round $round: $(json_field "$j" error)"
		log "  new process (pid $new) stderr: $(tr '\n' ' ' <"$err")"
	fi
}

# ---- the run ----

log "tern handoff benchmark: N=$N, configurations ${CFGS[*]}, guest args '$GUEST_ARGS'"
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

for tag in "${CFGS[@]}"; do boot "$tag"; done

ncfg=${#CFGS[@]}
for i in $(seq "$N"); do
	log "round $i/$N"
	memcpy_sample
	for k in $(seq 0 $((ncfg - 1))); do
		handoff_step "${CFGS[$(( (k + i - 1) % ncfg ))]}" "$i"
	done
done
memcpy_sample

# the guests must still be intact: resume each chain's head for a few
# heartbeats, then stop it
for tag in "${CFGS[@]}"; do
	pid=${HEAD[$tag]}
	[ -n "$pid" ] || continue
	timeout 10 "$TERN" ctl "$WORK/$tag.sock" resume >/dev/null 2>&1
	sleep 0.3
	if grep -qE '^CORRUPTION|errors=[1-9]' "$WORK/$tag.serial"; then
		fail "$tag: guest reported corruption"
	fi
	stop_vm "$pid" "$WORK/$tag.sock"
done

# ---- summary ----

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
python3 - "$SAMPLES" "$MEMCPY_SAMPLES" "$OUT/handoff.json" "$FAILURES" "$N" "$START_DATE" \
	"${LOAD_START:-?}" "${LOAD_END:-?}" "$GUEST_ARGS" "$RATE" "${CFGS[@]}" <<'PY'
import json, os, platform, re, statistics, sys

(samples_path, memcpy_path, out_path, failures, n, start, load0, load1, gargs,
 rate) = sys.argv[1:11]
cfgs = sys.argv[11:]
rows = [json.loads(l) for l in open(samples_path) if l.strip()]
memcpy = [float(l) for l in open(memcpy_path) if l.strip()]
ref = statistics.median(memcpy) if memcpy else None          # GB/s

def stats(xs, nd=3):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "n": 0}
    return {"median": round(statistics.median(xs), nd), "min": round(min(xs), nd),
            "max": round(max(xs), nd), "n": len(xs)}

def size_bytes(tag):
    m = re.match(r"(\d+)([mg])_", tag)
    return int(m.group(1)) << (30 if m.group(2) == "g" else 20)

out = {}
for tag in cfgs:
    ok = [r for r in rows if r["cfg"] == tag and r.get("ok")]
    ram = size_bytes(tag)
    c = {
        "handoffs_ok": len(ok),
        "handoffs_failed": len([r for r in rows if r["cfg"] == tag and not r.get("ok")]),
        "downtime_us": stats([r["downtime_us"] for r in ok]),
        "guest_stall_us": stats([r["guest_stall_us"] for r in ok]),
        "guest_stall_minus_downtime_us": stats([r["guest_stall_us"] - r["downtime_us"] for r in ok]),
        "prepare_ms": stats([r["prepare_ms"] for r in ok]),
        "prefault_ms": stats([r.get("prefault_ms") for r in ok], 1),
        "prefault_mib": stats([r.get("prefault_mib") for r in ok], 0),
        "state_bytes": stats([r["state_bytes"] for r in ok], 0),
        "full_speed_ms": stats([r.get("full_speed_ms") for r in ok], 1),
        "full_speed_hb": stats([r.get("full_speed_hb") for r in ok], 1),
        "first_hb_ms": stats([r["first_hb_ms"] for r in ok], 1),
        "verify_recovered_ms": stats([r.get("verify_recovered_ms") for r in ok], 1),
        "verify_recovered_hb": stats([r.get("verify_recovered_hb") for r in ok], 1),
        "verify_not_recovered": len([r for r in ok if r.get("verify_recovered_hb") is None]),
        "baseline_stall_us": stats([r["baseline_stall_us"] for r in ok]),
        "pause_resume_us": stats([r["pause_resume_us"] for r in ok]),
        "pause_resume_stall_us": stats([r["pause_resume_stall_us"] for r in ok]),
        "request_ms": stats([r["request_ms"] for r in ok]),
        "old_exit_ms": stats([r.get("old_exit_ms") for r in ok], 1),
        "cut_lines": len([r for r in ok if r.get("cut_line")]),
        "stall_below_downtime": len([r for r in ok if r["guest_stall_us"] < r["downtime_us"]]),
    }
    c["samples"] = {
        "fields": ["round", "downtime_us", "guest_stall_us", "baseline_stall_us", "prepare_ms",
                   "verify_recovered_ms", "old_exit_ms", "error"],
        "rows": [[r["round"]] + [None if r.get(k) is None else round(r[k], 1) for k in
                  ("downtime_us", "guest_stall_us", "baseline_stall_us", "prepare_ms",
                   "verify_recovered_ms", "old_exit_ms")] + [r.get("error")]
                 for r in rows if r["cfg"] == tag]}
    d = c["downtime_us"]["median"]
    if ref and d:
        c["memcpy_ram_ms"] = round(ram / (ref * 1e9) * 1e3, 1)
        c["downtime_ratio_to_memcpy"] = round(ram / (d / 1e6) / 1e9 / ref, 1)
    out[tag] = c

goal = {"median_downtime_limit_us": 500, "growth_limit": 1.25, "configs": {}, "growth": {}}
passed = True
for tag in cfgs:
    d = out[tag]["downtime_us"]["median"]
    g = d is not None and d <= 500
    goal["configs"][tag] = {"median_downtime_us": d, "ok": g}
    passed = passed and g
for tag in cfgs:
    m = re.match(r"(\d+[mg])_(\d+cpu(?:_pf-\w+)?)$", tag)
    small, big = "1g_" + m.group(2), "16g_" + m.group(2)
    if m.group(1) != "16g" or small not in out:
        continue
    a, b = out[small]["downtime_us"]["median"], out[big]["downtime_us"]["median"]
    r = round(b / a, 3) if a and b else None
    sa, sb = out[small]["guest_stall_us"]["median"], out[big]["guest_stall_us"]["median"]
    goal["growth"][m.group(2)] = {
        "downtime_ratio_16g_to_1g": r, "ok": r is not None and r < 1.25,
        "guest_stall_ratio_16g_to_1g": round(sb / sa, 3) if sa and sb else None,
        "prepare_ratio_16g_to_1g": round(out[big]["prepare_ms"]["median"] /
                                         out[small]["prepare_ms"]["median"], 3)
        if out[small]["prepare_ms"]["median"] and out[big]["prepare_ms"]["median"] else None}
    passed = passed and r is not None and r < 1.25
goal["passed"] = passed and bool(goal["growth"])

summary = {
    "benchmark": "handoff",
    "started": start,
    "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
             "loadavg_start": load0, "loadavg_end": load1},
    "n": int(n),
    "guest_args": gargs,
    "memcpy_gbps": dict(stats(memcpy), unit="GB/s",
                        note="single-thread memcpy of 256 MiB, median of 5 reps per round"),
    "configs": out,
    "goal": goal,
    "notes": {
        "downtime_us": "tern's own figure: source pause -> destination resume (CLOCK_MONOTONIC, both processes)",
        "guest_stall_us": "max of max_stall_us (stall=window) over the first 2 heartbeats after the handoff",
        "full_speed_ms": f"first heartbeat after the handoff with dirty_mbps within 10% of {rate}; "
                         "ms from the estimated resume to that line's arrival (1 ms polls)",
        "verify_recovered_ms": "first heartbeat period after the handoff in which the guest verified >= 90% "
                               "of the pages it verified per period just before it",
        "baseline_stall_us": "max_stall_us over the 3 heartbeats before the handoff: the host's noise floor",
        "pause_resume_us": "control: a plain ctl pause + resume of the same VM just before the handoff; "
                           "this is sending 'pause' -> reply to 'resume' on one connection, an upper bound",
        "pause_resume_stall_us": "the guest's stall for that pause: max_stall_us over the 2 heartbeats after it",
        "cut_lines": "handoffs that cut a console line (the old process drops its partial line)",
        "old_exit_ms": "handoff reply -> the old process has exited (its teardown: munmap of guest RAM, VM destroy)",
        "prefault_ms": "the new process's pre-fault of the RAM the guest has written (its stderr line): "
                       "done while the old process still runs the guest, inside prepare_ms",
        "samples": "every handoff, failed ones included, in the order they ran",
        "downtime_ratio_to_memcpy": "(guest RAM / downtime) / memcpy bandwidth: how many times faster "
                                    "than copying the guest's RAM once",
    },
    "failures": int(failures),
}
# one line per sample row
rowtext = {}
for c in out.values():
    for i, r in enumerate(c["samples"]["rows"]):
        key = "@row%d@" % len(rowtext)
        rowtext['"%s"' % key] = json.dumps(r)
        c["samples"]["rows"][i] = key
text = json.dumps(summary, indent=1)
for k, v in rowtext.items():
    text = text.replace(k, v, 1)
with open(out_path, "w") as f:
    f.write(text + "\n")
print(text)
PY
py=$?
[ $py = 0 ] || die "summary failed"
log "wrote $OUT/handoff.json"
[ "$FAILURES" = 0 ] || { log "$FAILURES handoff(s) or checks failed"; exit 1; }
exit 0
