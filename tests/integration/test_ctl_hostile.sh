# test_ctl_hostile.sh - a running VM's control socket against clients that
# misbehave (issue #10, cases 8, 9, 10): one that never reads its replies,
# idle connections by the dozen, frames with NUL bytes or trailing garbage,
# over-long lines, and badly typed or unknown arguments. Through all of it
# the VM keeps running and a well-behaved `tern ctl` is answered at once.
# Needs a VM (REQUIRES unset: kvm).

# small and quiet: the control socket is what is under test
start_quiet_vm() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=5 hb_ms=200"
	wait_hb a 2 30
}

# status_quickly: tern ctl status answered within 2 s
status_quickly() {
	"$TERN" ctl --timeout 2 "$T/a.sock" status >"$T/status.out" 2>"$T/ctl.err" || {
		cat "$T/ctl.err" >&2
		fail "status not answered within 2 s${1:+ ($1)}"
	}
	[ "$(json_get "$(cat "$T/status.out")" state)" = running ] || fail "VM not running: $(cat "$T/status.out")"
}

# the guest keeps printing heartbeats
still_beating() {
	wait_hb a $(( $(last_hb a) + 2 )) 10
	no_corruption a
}

# A client that sends requests and never reads: while it stalls the others
# are answered; one whose unread replies pass the limit is dropped; one
# under the limit gets every reply, in order, when it reads at last.
test_ctl_client_that_never_reads() {
	start_quiet_vm
	# under the limit: 200 status replies (~150 KiB, more than the kernel
	# holds for it) wait for it
	python3 -c '
import socket, sys, time, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"status\"}\n" * 200)
time.sleep(6)                                  # not reading meanwhile
s.settimeout(10)
buf = b""
while buf.count(b"\n") < 200:
    d = s.recv(65536)
    if not d: break
    buf += d
lines = buf.split(b"\n")[:-1]
ok = sum(1 for l in lines if json.loads(l).get("ok") is True)
print("replies", len(lines), "ok", ok)
sys.exit(0 if len(lines) == 200 and ok == 200 else 1)' "$T/a.sock" >"$T/stall.out" 2>&1 &
	echo $! >"$T/stall.pid"
	# over the limit: keeps sending, never reads, must be hung up on
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
req = b"{\"cmd\":\"status\"}\n" * 64
t0, sent = time.time(), 0
while time.time() - t0 < 20:
    try:
        sent += s.send(req)
    except BlockingIOError:
        time.sleep(0.005)
    except (BrokenPipeError, ConnectionResetError):
        print("dropped after", sent, "bytes of requests"); sys.exit(0)
print("never dropped;", sent, "bytes of requests sent"); sys.exit(1)' "$T/a.sock" >"$T/hog.out" 2>&1 &
	echo $! >"$T/hog.pid"
	sleep 0.5
	for i in $(seq 1 8); do
		status_quickly "call $i, with a client that does not read"
		sleep 0.2
	done
	wait "$(cat "$T/hog.pid")" || { cat "$T/hog.out" >&2; fail "the client past the output limit was not dropped"; }
	wait "$(cat "$T/stall.pid")" || { cat "$T/stall.out" >&2; fail "the slow reader did not get its 200 replies"; }
	rm -f "$T/hog.pid" "$T/stall.pid"       # gone: stop_all must not kill a reused pid
	note "$(cat "$T/hog.out"); slow reader: $(cat "$T/stall.out")"
	status_quickly
	still_beating
}

# 48 idle connections (three times the limit) do not lock anyone out: each
# newcomer takes the slot of the client idle longest, which is told why;
# what is left is closed after 30 s idle, also with a line saying why.
test_ctl_idle_clients_do_not_lock_out() {
	start_quiet_vm
	python3 -c '
import socket, sys, time
conns = []
for i in range(48):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)
    time.sleep(0.01)
open(sys.argv[2], "w").close()
deadline = time.time() + 40
got = [b""] * len(conns)
open_ = set(range(len(conns)))
while open_ and time.time() < deadline:
    for i in list(open_):
        conns[i].settimeout(0.01)
        try:
            d = conns[i].recv(4096)
        except socket.timeout:
            continue
        if d:
            got[i] += d
        else:
            open_.discard(i)
evicted = sum(1 for g in got if b"idle longest" in g)
idled = sum(1 for g in got if b"without a complete request" in g)
print("evicted", evicted, "idle-closed", idled, "still open", len(open_))
sys.exit(0 if not open_ and evicted >= 32 and evicted + idled == 48 else 1)' \
		"$T/a.sock" "$T/idle.ready" >"$T/idle.out" 2>&1 &
	echo $! >"$T/idle.pid"
	for _ in $(seq 1 100); do [ -e "$T/idle.ready" ] && break; sleep 0.05; done
	[ -e "$T/idle.ready" ] || { cat "$T/idle.out" >&2; fail "idle clients did not connect"; }
	for i in $(seq 1 5); do
		status_quickly "call $i, with 48 idle connections"
	done
	wait "$(cat "$T/idle.pid")" || { cat "$T/idle.out" >&2; fail "idle connections were not all closed with a reason"; }
	rm -f "$T/idle.pid"
	note "$(cat "$T/idle.out")"
	status_quickly
	still_beating
}

# A request is exactly one JSON object on one line. Each frame below holds
# a quit that must not run; each gets an error naming the problem, and
# the connection stays usable (except after an over-long line).
test_ctl_exact_frames() {
	start_quiet_vm
	python3 -c '
import socket, sys, json
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
    return s, s.makefile("rb")
s, f = conn()
cases = [
    (b"{\"cmd\":\"quit\"}\x00junk\n", "NUL byte at offset 14"),
    (b"{\"cmd\":\"quit\"} junk\n", "trailing data after the JSON value at offset 14"),
    (b"{\"cmd\":\"quit\"}{\"cmd\":\"quit\"}\n", "trailing data"),
    (b"[{\"cmd\":\"quit\"}]\n", "must be a JSON object, not an array"),
    (b"\"quit\"\n", "must be a JSON object, not a string"),
    (b"{\"cmd\":\"quit\",\"cmd\":\"quit\"}\n", "duplicate"),
    (b"{\"cmd\":\"qu\\u0000it\"}\n", "not valid JSON"),
    (b"{\"cmd\":\"quit\"\n", "not valid JSON"),
    (b"{\"cmd\":\"quit\",\"now\":true}\n", "quit: unknown field \"now\" (quit takes no arguments)"),
    (b"{\"cmd\":[\"quit\"]}\n", "\"cmd\" must be a string"),
]
for frame, want in cases:
    s.sendall(frame)
    r = json.loads(f.readline())
    if r.get("ok") is not False or want not in r.get("error", ""):
        print("frame", frame, "got", r, "wanted an error with", want); sys.exit(1)
s.sendall(b"{\"cmd\":\"status\"}\n")
r = json.loads(f.readline())
if r.get("ok") is not True:
    print("status after bad frames:", r); sys.exit(1)
# a line longer than 64 KiB: an error, then the connection is closed
s.sendall(b"{\"cmd\":\"quit\"}" + b" " * 70000 + b"\n")
r = json.loads(f.readline())
if "longer than 65536 bytes" not in r.get("error", ""):
    print("over-long line:", r); sys.exit(1)
try:
    rest = f.readline()
except ConnectionResetError:         # closed with our unread bytes in its queue
    rest = b""
if rest != b"":
    print("connection not closed after an over-long line"); sys.exit(1)
# a request cut off by the end of input is refused, not run
s, f = conn()
s.sendall(b"{\"cmd\":\"quit\"}"); s.shutdown(socket.SHUT_WR)
r = json.loads(f.readline())
if "ended inside a request" not in r.get("error", ""):
    print("unterminated request:", r); sys.exit(1)
print("all frames refused")' "$T/a.sock" >"$T/frames.out" 2>&1 || {
		cat "$T/frames.out" >&2
		fail "a bad frame was not refused as it should be"
	}
	alive a || fail "the VM quit: a bad frame was executed"
	status_quickly
	still_beating
}

# Every argument's type and range is checked and the bad one named; a
# refused command does nothing (tern ctl exits 1, not 0).
test_ctl_every_field_checked() {
	start_quiet_vm
	local uri=tcp:127.0.0.1:$(free_port)
	bad() {
		local re=$1 json=$2 rc=0
		"$TERN" ctl "$T/a.sock" raw "$json" >"$T/bad.out" 2>&1 || rc=$?
		[ $rc = 1 ] || { cat "$T/bad.out" >&2; fail "$json: exit $rc, expected 1"; }
		grep -qF -- "$re" "$T/bad.out" || { cat "$T/bad.out" >&2; fail "$json: no '$re' in the error"; }
	}
	bad '"max-bandwidth" must be an integer from 1 to 1099511627776, not "20000000" (a string)' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"max-bandwidth\":\"20000000\"}"
	bad '"downtime-ms" must be an integer from 1 to 3600000, not "abc" (a string)' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"downtime-ms\":\"abc\"}"
	bad '"downtime-ms" must be an integer from 1 to 3600000, not -5' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"downtime-ms\":-5}"
	bad '"downtime-ms" must be an integer from 1 to 3600000, not 1.5 (a real number)' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"downtime-ms\":1.5}"
	bad '"downtime-ms" must be an integer from 1 to 3600000, not "50" (a string)' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"downtime-ms\":\"50\"}"
	bad '"timeout" must be an integer from 1 to 604800, not -1' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"timeout\":-1}"
	bad '"max-bandwidth" must be an integer from 1 to 1099511627776, not -1' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"max-bandwidth\":-1}"
	bad '"timeout-action" must be one of "cancel", "force" or "postcopy", not "later"' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"timeout-action\":\"later\"}"
	bad '"stats-file" must be an absolute path' \
		"{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"stats-file\":\"rel.json\"}"
	bad 'unknown field "max_bandwidth"' "{\"cmd\":\"migrate\",\"uri\":\"$uri\",\"max_bandwidth\":1}"
	bad 'migrate needs "uri"' '{"cmd":"migrate"}'
	bad '"uri" must be tcp:HOST:PORT or unix:PATH' '{"cmd":"migrate","uri":"udp:h:1"}'
	bad '"path" must be an absolute path, not "rel.snap"' '{"cmd":"snapshot","path":"rel.snap"}'
	bad '"cc-transfer" must be "move" or "token", not "copy"' \
		"{\"cmd\":\"handoff\",\"to\":\"$T/n.sock\",\"cc-transfer\":\"copy\"}"
	bad 'pause: unknown field "now" (pause takes no arguments)' '{"cmd":"pause","now":true}'
	bad 'quit: unknown field "code"' '{"cmd":"quit","code":0}'
	# none of them did anything
	[ "$(json_get "$(ctl a query-migrate)" status)" = none ] || fail "a refused migrate started a migration"
	[ ! -e rel.snap ] && [ ! -e "$T/rel.snap" ] || fail "a refused snapshot wrote a file"
	status_quickly
	# tern migrate leaves out the options it was not given, and the VM
	# takes the ones it was: only the connection fails here
	expect_error 'cannot connect|refused' "$TERN" migrate --ctl "$T/a.sock" --to "$uri"
	expect_error 'cannot connect|refused' "$TERN" migrate --ctl "$T/a.sock" --to "$uri" \
		--downtime-ms 50 --max-bandwidth 20M --timeout 30 --on-timeout force
	status_quickly
	still_beating
}
