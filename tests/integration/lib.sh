# lib.sh - helpers for integration tests that drive the real binaries.
# Each test is a shell function test_NAME run in its own subshell and
# temporary directory ($T); it fails by calling `fail MESSAGE`.

TERN=${TERN:-build/tern}
GUEST=${GUEST:-$(dirname "$TERN")/guest/dirtier.elf}
PSP=${PSP:-$(dirname "$TERN")/tern-psp}
# tern with test faults armed by TERN_FAULT_* (src/util/fault.h); only the
# tests that inject a fault run it
FAULTS=${FAULTS:-$(dirname "$TERN")/tools/tern-faults}
# writes a snapshot with valid checksums but forged content (tests/tools)
FORGE=${FORGE:-$(dirname "$TERN")/tools/snap_forge}

fail() {
	echo "    FAIL: $*" >&2
	exit 1
}

note() {
	echo "    $*" >&2
}

# info MESSAGE: a fact worth seeing even when the test passes (the runner
# prints it on the PASS line), e.g. which QEMU CPU model ran.
info() {
	echo "$*" >>"$T/info"
}

# skip REASON: this host cannot run the test. The runner counts it as
# skipped and prints the reason; exit status 77 is reserved for this.
skip() {
	echo "$*" >"$T/skip-reason"
	exit 77
}

# requires CAPABILITY...: skip the test unless the host has each one.
# A capability is a check of `tern host-check` (kvm, dirty-log, user-msr,
# netns, tern-psp, ...), whose report the runner saved in $HOST_CHECK;
# MISSING skips with host-check's own reason, OK and LIMITED run. `qemu`
# means qemu-system-x86_64 is installed. A missing or unreadable report
# fails the test: a broken host-check must not turn into silent skips.
requires() {
	local cap reason
	for cap in "$@"; do
		if [ "$cap" = qemu ]; then
			command -v qemu-system-x86_64 >/dev/null ||
				skip "qemu: qemu-system-x86_64 is not installed"
			continue
		fi
		[ -s "${HOST_CHECK:-}" ] || fail "requires $cap: no host-check report (HOST_CHECK=${HOST_CHECK:-unset})"
		reason=$(python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
for c in report["checks"]:
    if c["name"] == sys.argv[2]:
        if c["status"] == "MISSING":
            print("%s: %s (host-check: MISSING; affects %s)" % (c["name"], c["detail"], c["affects"]))
        sys.exit(0)
print("?")' "$HOST_CHECK" "$cap") || fail "requires $cap: cannot read the host-check report $HOST_CHECK"
		[ "$reason" = "?" ] && fail "requires $cap: host-check has no check of that name"
		[ -z "$reason" ] || skip "$reason"
	done
}

# start_vm NAME [tern run args...]: boot in the background; serial console
# in $T/NAME.serial, tern's stderr in $T/NAME.err, control socket $T/NAME.sock.
start_vm() {
	local name=$1 stale
	shift
	rm -f "$T/$name.rc" "$T/$name.pid"
	# a socket left by a killed VM is not this VM's: wait for a new one
	stale=$(stat -c %i "$T/$name.sock" 2>/dev/null || echo none)
	# a watcher subshell is tern's parent, so it can collect the exit status
	( "$TERN" run --ctl "$T/$name.sock" --serial "file:$T/$name.serial" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" &
	  echo $! >"$T/$name.pid"
	  wait $!
	  echo $? >"$T/$name.rc" ) &
	for _ in $(seq 1 100); do [ -s "$T/$name.pid" ] && break; sleep 0.01; done
	# wait for the control socket (or an early exit)
	for _ in $(seq 1 200); do
		if [ -S "$T/$name.sock" ] && [ "$(stat -c %i "$T/$name.sock" 2>/dev/null)" != "$stale" ]; then
			incoming_ready "$name" "$@"
			return 0
		fi
		kill -0 "$(cat "$T/$name.pid")" 2>/dev/null || break
		sleep 0.05
	done
	# a guest that ends at once (crash=ud) may be gone, socket and all,
	# before the first look: it came up if tern said it was running it
	grep -q '^tern: running ' "$T/$name.err" 2>/dev/null && return 0
	cat "$T/$name.err" >&2
	fail "VM $name did not come up"
}

# incoming_ready NAME ARGS...: with --incoming, the control socket is
# claimed first and the migration port listens only after the TLS
# credentials load (slow under ASan): a migration started on the socket's
# word alone could find the port closed. Wait for tern's own line (or its
# exit: the test sees that).
incoming_ready() {
	local name=$1 a
	shift
	for a in "$@"; do
		[ "$a" = --incoming ] || continue
		for _ in $(seq 1 200); do
			grep -q 'waiting for an incoming migration on' "$T/$name.err" 2>/dev/null && return 0
			kill -0 "$(cat "$T/$name.pid")" 2>/dev/null || return 0
			sleep 0.05
		done
		return 0
	done
}

vm_pid() { cat "$T/$1.pid"; }

# wait_vm NAME [TIMEOUT]: wait for the tern process to exit; prints its status.
wait_vm() {
	local pid
	pid=$(vm_pid "$1")
	local t=${2:-60}
	for _ in $(seq 1 $((t * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		echo timeout        # not `fail`: we run inside $(...)
		return
	fi
	for _ in $(seq 1 50); do [ -s "$T/$1.rc" ] && break; sleep 0.02; done
	cat "$T/$1.rc" 2>/dev/null || echo unknown
}

# wait_line FILE REGEX [TIMEOUT]: wait until a line matching REGEX appears.
wait_line() {
	local f=$1 re=$2 t=${3:-30}
	for _ in $(seq 1 $((t * 20))); do
		grep -qE "$re" "$f" 2>/dev/null && return 0
		sleep 0.05
	done
	note "last lines of $f:"
	tail -5 "$f" >&2 2>/dev/null
	fail "no line matching /$re/ in $(basename "$f") within ${t}s"
}

# last_hb NAME: the newest heartbeat counter on NAME's console (0 if none).
last_hb() {
	local n
	n=$(grep -oE '^hb [0-9]+' "$T/$1.serial" 2>/dev/null | tail -1 | cut -d' ' -f2)
	echo "${n:-0}"
}

# hb_count NAME: how many heartbeat lines NAME's console has.
# two_platforms: two tern-psp "hosts" that trust each other's roots,
# at $T/pspA.sock and $T/pspB.sock (chains in $T/chainA.pem, chainB.pem)
two_platforms() {
	"$PSP" --state-dir "$T/pspA" --export-chain "$T/chainA.pem" >/dev/null
	"$PSP" --state-dir "$T/pspB" --export-chain "$T/chainB.pem" >/dev/null
	{ awk 'f; /END CERTIFICATE/ { f = 1 }' "$T/chainA.pem"
	  awk 'f; /END CERTIFICATE/ { f = 1 }' "$T/chainB.pem"; } >"$T/roots.pem"
	for p in A B; do
		"$PSP" --socket "$T/psp$p.sock" --state-dir "$T/psp$p" --trust "$T/roots.pem" 2>"$T/psp$p.err" &
		echo $! >"$T/psp$p.pid"
	done
	for _ in $(seq 1 100); do [ -S "$T/pspA.sock" ] && [ -S "$T/pspB.sock" ] && return 0; sleep 0.05; done
	fail "platforms did not start"
}

# marker_only_in_shared WIRE LO HI: the guest's marker (marker=TERN-PRIVATE-MARKER,
# at byte 64 of every data page) appears in the captured stream WIRE (whole
# wire messages, as wireproxy.py --tee writes them), and only inside plain
# pages (RAM entries of kind NORMAL, docs/protocol.md) whose GPA lies in the
# shared range [LO, HI): no private page crossed in plaintext
marker_only_in_shared() {
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
lo, hi = int(sys.argv[2], 0), int(sys.argv[3], 0)
m = b"TERN-PRIVATE-MARKER"
W_RAM, NORMAL, PRIVATE, HELPER, HELPER_PACKET = 7, 0, 2, 3, None
# plain pages in the stream: data offset -> gpa
plain = {}
off = 0
while off + 24 <= len(data):
    _, _, cmd, _, _, length = struct.unpack_from("<IHHIIQ", data, off)
    body = off + 24
    if cmd == W_RAM and length >= 16:
        count = struct.unpack_from("<I", data, body)[0]
        ents = [struct.unpack_from("<QQ", data, body + 16 + 16 * i) for i in range(count)]
        p = body + 16 + 16 * count
        sizes = [4096 if w & 0xfff == NORMAL else (aux if w & 0xfff == PRIVATE else 0) for w, aux in ents]
        helper = [w & 0xfff == HELPER for w, _ in ents]
        if any(helper):   # helper packets fill the rest evenly
            fixed = sum(sizes)
            per = (length - 16 - 16 * count - fixed) // sum(helper)
            sizes = [per if h else sz for sz, h in zip(sizes, helper)]
        for (w, aux), sz in zip(ents, sizes):
            if w & 0xfff == NORMAL:
                plain[p] = w & ~0xfff
            p += sz
    off = body + length
found = bad = 0
i = data.find(m)
while i >= 0:
    gpa = plain.get(i - 64)
    if gpa is not None and lo <= gpa < hi:
        found += 1
    else:
        bad += 1
    i = data.find(m, i + 1)
print(f"stream {len(data)} bytes, {len(plain)} plain pages: marker in {found} shared pages, {bad} elsewhere")
sys.exit(0 if found > 0 and bad == 0 else 1)
PY
}

# check_continues SRC DST: after a move, DST's first heartbeat carries on
# from SRC's last one (the guest's counter did not restart or jump)
check_continues() {
	local src=$1 dst=$2
	local last first
	last=$(last_hb "$src")
	wait_line "$T/$dst.serial" '^hb [0-9]+' 20
	first=$(grep -oE '^hb [0-9]+' "$T/$dst.serial" | head -1 | cut -d' ' -f2)
	[ "$first" -ge "$last" ] && [ "$first" -le $((last + 2)) ] ||
		fail "heartbeat went from $last (source) to $first (destination)"
}

# handoff_killed_at_each_step [CHECK]: the VM served at $T/a.sock (by a
# process named a) is handed to a tern-faults process that kills itself
# when HELLO, CONFIG, STATE, then COMMIT arrives; each time the old process
# keeps the VM running (and CHECK STEP, a function, holds)
handoff_killed_at_each_step() {
	local check=${1:-true} step
	for step in HELLO CONFIG STATE COMMIT; do
		TERN=$FAULTS TERN_FAULT_HANDOFF_DIE=$step start_takeover k$step "$T/k$step.x"
		expect_error 'failed|refused|closed' "$TERN" ctl "$T/a.sock" handoff "$T/k$step.x"
		[ "$(wait_vm k$step 10)" = 137 ] || fail "new process was not killed at $step"
		alive a || fail "old process died when the new one was killed at $step"
		[ "$(json_get "$(ctl a status)" state)" = running ] || fail "VM not running after kill at $step"
		$check "$step"
		wait_hb a $(( $(last_hb a) + 2 )) 10
	done
}

hb_count() { grep -cE '^hb [0-9]+' "$T/$1.serial" 2>/dev/null || true; }

# wait_hb NAME N [TIMEOUT]: wait until the heartbeat counter reaches N.
wait_hb() {
	local t=${3:-30}
	for _ in $(seq 1 $((t * 20))); do
		[ "$(last_hb "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	tail -3 "$T/$1.serial" >&2
	fail "heartbeat $2 not reached on $1 within ${t}s (at $(last_hb "$1"))"
}

# ctl NAME COMMAND...: run tern ctl, reply on stdout; fails the test if not ok.
ctl() {
	local name=$1
	shift
	"$TERN" ctl "$T/$name.sock" "$@" 2>"$T/ctl.err" || {
		cat "$T/ctl.err" >&2
		fail "tern ctl $name $* failed"
	}
}

# json_get JSON KEY: a top-level number/string/bool from a one-line reply.
json_get() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1]); 
for k in sys.argv[2].split("."): v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}

# cancel_migration NAME [WHAT]: send migrate-cancel to NAME's control
# socket and wait up to 10 s for query-migrate to say cancelled; records how
# long it took (WHAT, if given, is added to that line, e.g. the condition).
cancel_migration() {
	local name=$1 what=${2:+, $2} st t0 t1
	t0=$(date +%s%N)
	ctl "$name" migrate-cancel >/dev/null
	for _ in $(seq 1 200); do
		st=$(json_get "$(ctl "$name" query-migrate)" status)
		[ "$st" = cancelled ] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	[ "$st" = cancelled ] || fail "query-migrate says $st 10 s after migrate-cancel"
	info "cancelled $(( (t1 - t0) / 1000000 )) ms after migrate-cancel$what"
}

# runs_on_and_quits NAME [TIMEOUT]: NAME's guest counts two more heartbeats
# within TIMEOUT seconds (default 10), then quits over the control socket
# having reported no corrupted page.
runs_on_and_quits() {
	wait_hb "$1" $(( $(last_hb "$1") + 2 )) "${2:-10}"
	ctl "$1" quit >/dev/null
	wait_vm "$1" 10 >/dev/null
	no_corruption "$1"
}

# status_same ST0 ST1 WHEN KEY...: two `status` replies agree on each KEY;
# else fail naming the key, WHEN (e.g. "after the handoff") and both values.
status_same() {
	local st0=$1 st1=$2 when=$3 k
	shift 3
	for k in "$@"; do
		[ "$(json_get "$st0" "$k")" = "$(json_get "$st1" "$k")" ] ||
			fail "$k differs $when: $(json_get "$st0" "$k") -> $(json_get "$st1" "$k")"
	done
}

# seal_secret MEASUREMENT: the owner ($T/owner) seals $T/secret.txt for that
# launch measurement into $T/secret.pkt; the file appears whole (a launch
# waiting for --owner-secret must not read it half-written).
seal_secret() {
	"$TERN" owner secret --dir "$T/owner" --measurement "$1" \
		--in "$T/secret.txt" --out "$T/secret.pkt.tmp" >/dev/null || fail "owner secret failed"
	mv "$T/secret.pkt.tmp" "$T/secret.pkt"
}

# guest_got_secret NAME: NAME's guest reported the sha256 of $T/secret.txt
# as the secret it was given.
guest_got_secret() {
	local want got
	want=$(sha256sum <"$T/secret.txt" | cut -d' ' -f1)
	got=$(grep -oE '^secret: len=[0-9]+ sha256=[0-9a-f]+' "$T/$1.serial" | sed 's/.*sha256=//')
	[ "$got" = "$want" ] || fail "guest saw secret sha256 '$got', expected $want"
}

# small_snapshot NAME: a small 2-vCPU guest run as NAME, snapshotted to
# $T/NAME.snap once it beats, then quit (a base for forged snapshots).
small_snapshot() {
	start_vm "$1" --guest "$GUEST" --mem 128M --cpus 2 --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb "$1" 2 30
	ctl "$1" snapshot "$T/$1.snap" >/dev/null
	ctl "$1" quit >/dev/null
	wait_vm "$1" 10 >/dev/null
}

# no_corruption NAME: the guest reported no corrupted page.
no_corruption() {
	if grep -qE 'CORRUPTION|EXCEPTION' "$T/$1.serial"; then
		grep -E 'CORRUPTION|EXCEPTION' "$T/$1.serial" | head -5 >&2
		fail "guest $1 reported corruption or an exception"
	fi
	local e
	e=$(grep -oE 'errors=[0-9]+' "$T/$1.serial" | sort -t= -k2 -n | tail -1 | cut -d= -f2)
	[ "${e:-0}" = 0 ] || fail "guest $1 counted $e corrupted pages"
}

# expect_error "MESSAGE REGEX" COMMAND...: command must fail with a message.
expect_error() {
	local re=$1
	shift
	local out rc=0
	out=$("$@" 2>&1 </dev/null) || rc=$?
	[ $rc -ne 0 ] || fail "'$*' succeeded, expected an error /$re/"
	echo "$out" | grep -qiE -e "$re" || {
		echo "$out" | head -5 >&2
		fail "'$*' failed (rc $rc) without naming the cause /$re/"
	}
}

# stop_all: kill any VM this test started (runs on exit).
stop_all() {
	pkill -f "tern-psp --socket $T/" 2>/dev/null
	pkill -f "wireproxy.py" 2>/dev/null
	netns_down
	for p in "$T"/*.pid; do
		[ -f "$p" ] || continue
		kill -9 "$(cat "$p")" 2>/dev/null
	done
}

# start_takeover NAME PATH [args...]: a `tern run --takeover PATH` waiting
# in the background (files $T/NAME.err, .out, .pid, .rc like start_vm).
start_takeover() {
	local name=$1 path=$2
	shift 2
	rm -f "$T/$name.rc" "$T/$name.pid"
	( "$TERN" run --takeover "$path" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	  echo $! >"$T/$name.pid"
	  wait $!
	  echo $? >"$T/$name.rc" ) &
	for _ in $(seq 1 200); do [ -S "$path" ] && return 0; sleep 0.02; done
	cat "$T/$name.err" >&2
	fail "takeover process $name did not start listening"
}

# alive NAME: the tern process NAME is still running
alive() { kill -0 "$(vm_pid "$1")" 2>/dev/null; }

# start_psp: a private tern-psp for this test (socket and state under $T),
# and the environment that points tern at it.
start_psp() {
	export TERN_PSP_SOCKET=$T/psp.sock TERN_PSP_STATE=$T/psp-state
	"$PSP" --socket "$TERN_PSP_SOCKET" --state-dir "$TERN_PSP_STATE" 2>"$T/psp.err" &
	echo $! >"$T/psp.pid"
	for _ in $(seq 1 100); do [ -S "$T/psp.sock" ] && return 0; sleep 0.05; done
	cat "$T/psp.err" >&2
	fail "tern-psp did not start"
}

# netns_up: two "hosts" — network namespaces joined by a veth pair — for
# migration tests. Sets SRC_NS, DST_NS (prefix commands with
# `ip netns exec "$SRC_NS"`) and DST_ADDR. Without namespaces (no
# privilege, no iproute2) it falls back to loopback and says so.
netns_up() {
	local id
	id=$(basename "$T" | tr -dc 'a-zA-Z0-9' | tail -c 6)
	SRC_NS=tern-s-$id DST_NS=tern-d-$id
	if ip netns add "$SRC_NS" 2>/dev/null && ip netns add "$DST_NS" 2>/dev/null &&
	   ip link add "vs$id" type veth peer name "vd$id" 2>/dev/null &&
	   ip link set "vs$id" netns "$SRC_NS" && ip link set "vd$id" netns "$DST_NS" &&
	   ip -n "$SRC_NS" addr add 10.213.7.1/24 dev "vs$id" &&
	   ip -n "$DST_NS" addr add 10.213.7.2/24 dev "vd$id" &&
	   ip -n "$SRC_NS" link set "vs$id" up && ip -n "$DST_NS" link set "vd$id" up &&
	   ip -n "$SRC_NS" link set lo up && ip -n "$DST_NS" link set lo up; then
		echo "$SRC_NS $DST_NS" >"$T/netns"
		DST_ADDR=10.213.7.2
		IN_SRC="ip netns exec $SRC_NS"
		IN_DST="ip netns exec $DST_NS"
	else
		note "network namespaces unavailable: migrating over loopback instead"
		ip netns del "$SRC_NS" 2>/dev/null
		ip netns del "$DST_NS" 2>/dev/null
		DST_ADDR=127.0.0.1
		IN_SRC="" IN_DST=""
	fi
}

netns_down() {
	[ -f "$T/netns" ] || return 0
	for ns in $(cat "$T/netns"); do ip netns del "$ns" 2>/dev/null; done
	rm -f "$T/netns"
}

# start_in PREFIX NAME [tern run args]: start_vm inside a namespace
start_in() {
	local prefix=$1 name=$2
	shift 2
	rm -f "$T/$name.rc" "$T/$name.pid"
	( $prefix "$TERN" run --ctl "$T/$name.sock" --serial "file:$T/$name.serial" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" &
	  echo $! >"$T/$name.pid"
	  wait $!
	  echo $? >"$T/$name.rc" ) &
	for _ in $(seq 1 200); do
		[ -S "$T/$name.sock" ] && return 0
		[ -s "$T/$name.rc" ] && break
		sleep 0.05
	done
	cat "$T/$name.err" >&2
	fail "VM $name did not come up"
}

# free_port: a TCP port nobody listens on (in the root namespace)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Confidential guests with a migration helper, on two_platforms' platform A
# (source) and B (destination): test_mirror.sh, test_postcopy.sh.
HELPER=${HELPER:-$(dirname "$TERN")/guest/helper.elf}

# helper_vm NAME HELPER_ELF LANES MEM GUEST_ARGS [more tern run args]: launch
# on platform A with the helper, play the owner (a session for platform A,
# then from the measurement the helper's key packet), wait until the
# helper's lanes are ready.
helper_vm() {
	local name=$1 elf=$2 lanes=$3 mem=$4 args=$5 m
	shift 5
	"$TERN" owner session --platform "$T/chainA.pem" --trust "$T/roots.pem" --policy 0x0 \
		--dir "$T/owner-$name" >/dev/null || fail "owner session failed"
	TERN_PSP_SOCKET=$T/pspA.sock start_vm "$name" --guest "$GUEST" --mem "$mem" --cpus 1 --cc emu \
		--owner-session "$T/owner-$name" --helper "$elf" --helper-lanes "$lanes" \
		--owner-helper-key "$T/$name.hk" --launch-timeout 30 --guest-args "$args" "$@"
	m=$(ctl "$name" measurement)
	"$TERN" owner helper-key --dir "$T/owner-$name" --measurement "$(json_get "$m" measurement)" \
		--out "$T/$name.hk.tmp" >/dev/null || fail "owner helper-key failed"
	mv "$T/$name.hk.tmp" "$T/$name.hk"
	wait_line "$T/$name.err" 'migration helper: [0-9]+ lanes? ready' 30
}

dest_vm() {
	local name=$1 port=$2
	shift 2
	TERN_PSP_SOCKET=$T/pspB.sock start_vm "$name" --incoming "tcp:127.0.0.1:$port" --cc emu "$@"
}

stat_of() { json_get "$(cat "$T/$1.stats")" "$2"; }
