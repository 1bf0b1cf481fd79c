# test_ctl_client.sh - `tern ctl` never waits for ever: connecting, sending
# and waiting for the reply end by --timeout (default 5 s) with a message
# that says it timed out, naming the socket and the command; bad usage
# exits 2. The servers here are python3 sockets and a waiting
# `tern run --incoming`, so no VM is needed.

REQUIRES=""

# fake_server NAME MODE: a unix socket at $T/NAME.sock served by python3
# in the background (pid in $T/NAME.pid, so stop_all ends it). MODE:
#   silent   accept, read, never answer
#   nolisten bind only: connecting is refused
#   full     listen without ever accepting, backlog filled: connect blocks
fake_server() {
	local name=$1 mode=$2
	python3 -c '
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
held = []
if mode == "silent":
    s.listen(8)
elif mode == "full":
    s.listen(0)
    while True:                      # fill the backlog from here
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            break
        held.append(c)
open(path + ".ready", "w").close()
while True:
    if mode == "silent":
        c, _ = s.accept()
        c.recv(65536)
        held.append(c)               # keep it open, say nothing
    else:
        time.sleep(1)
' "$T/$name.sock" "$mode" 2>"$T/$name.err" &
	echo $! >"$T/$name.pid"
	for _ in $(seq 1 100); do [ -e "$T/$name.sock.ready" ] && return 0; sleep 0.05; done
	cat "$T/$name.err" >&2
	fail "fake server $name ($mode) did not start"
}

# ctl_fails RC MAX_SECONDS REGEX ARGS...: tern ctl ARGS must exit with RC
# within MAX_SECONDS, its message matching REGEX.
ctl_fails() {
	local want=$1 max=$2 re=$3
	shift 3
	local t0 t1 rc=0 out
	t0=$(date +%s%N)
	out=$("$TERN" ctl "$@" 2>&1 </dev/null) || rc=$?
	t1=$(date +%s%N)
	local ms=$(( (t1 - t0) / 1000000 ))
	[ "$rc" = "$want" ] || { echo "$out" | head -5 >&2; fail "tern ctl $* exited $rc, expected $want"; }
	# Only a bound against hanging: a slow host (the nested-KVM VM of
	# scripts/nested-kvm emulates every instruction) takes seconds to start
	# a process. The message says which path was taken (timed out or
	# refused at once), not the clock.
	[ "$ms" -le $(( (max + 30) * 1000 )) ] || fail "tern ctl $* took ${ms} ms: it hung"
	echo "$out" | grep -qE -- "$re" || {
		echo "$out" | head -5 >&2
		fail "tern ctl $* (rc $rc) does not say /$re/"
	}
	note "tern ctl $*: rc $rc after ${ms} ms: $(echo "$out" | head -1)"
}

test_ctl_timeout_when_the_server_never_answers() {
	fake_server s silent
	ctl_fails 1 4 "timed out after 1 s waiting for the reply to \"status\" from $T/s.sock" \
		--timeout 1 "$T/s.sock" status
	ctl_fails 1 3 "timed out after 0.5 s waiting for the reply to \"snapshot\"" \
		--timeout=0.5 "$T/s.sock" snapshot "$T/x.snap"
	ctl_fails 1 3 'timed out after 0.5 s waiting for the reply to "query-migrate"' \
		--timeout 0.5 "$T/s.sock" raw '{"cmd":"query-migrate"}'
	# the default: a few seconds, not for ever
	ctl_fails 1 9 "timed out after 5 s waiting for the reply to \"status\" from $T/s.sock" \
		"$T/s.sock" status
}

test_ctl_timeout_when_the_server_does_not_accept() {
	fake_server f full
	ctl_fails 1 4 "timed out after 1 s connecting to control socket $T/f.sock" \
		--timeout 1 "$T/f.sock" status
}

test_ctl_not_listening_fails_at_once() {
	fake_server n nolisten
	ctl_fails 1 2 "cannot connect to control socket $T/n.sock: Connection refused" "$T/n.sock" status
	ctl_fails 1 2 "cannot connect to control socket $T/none.sock: No such file" "$T/none.sock" status
	echo "not a socket" >"$T/file.sock"
	ctl_fails 1 2 "cannot connect to control socket $T/file.sock" "$T/file.sock" status
}

# A waiting `tern run --incoming` serves its --ctl socket while it waits
# (it used to answer only once the VM had arrived, and the client timed
# out): a short --timeout is enough (test_incoming_ctl.sh has the rest).
test_ctl_answered_by_a_waiting_tern() {
	local port out
	port=$(free_port)
	rm -f "$T/d.rc"
	( "$TERN" run --incoming "tcp:127.0.0.1:$port" --ctl "$T/d.sock" >"$T/d.out" 2>"$T/d.err" &
	  echo $! >"$T/d.pid"
	  wait $!
	  echo $? >"$T/d.rc" ) &
	for _ in $(seq 1 100); do [ -S "$T/d.sock" ] && break; sleep 0.05; done
	[ -S "$T/d.sock" ] || { cat "$T/d.err" >&2; fail "tern run --incoming did not create its control socket"; }
	out=$("$TERN" ctl --timeout 1 "$T/d.sock" status) || fail "status against a waiting tern: $out"
	echo "$out" | grep -q '"state":"incoming"' || fail "status against a waiting tern: $out"
}

test_ctl_bad_usage() {
	local sock=$T/none.sock
	ctl_fails 2 2 '--timeout abc: a number of seconds' --timeout abc "$sock" status
	ctl_fails 2 2 '--timeout -1: a number of seconds' --timeout -1 "$sock" status
	ctl_fails 2 2 '--timeout 0: a number of seconds' --timeout 0 "$sock" status
	ctl_fails 2 2 '--timeout 1e9: a number of seconds' --timeout 1e9 "$sock" status
	ctl_fails 2 2 '--timeout nan: a number of seconds' --timeout=nan "$sock" status
	ctl_fails 2 2 '--timeout needs a number of seconds' --timeout
	ctl_fails 2 2 'unknown option --bogus' --bogus "$sock" status
	ctl_fails 2 2 'usage: tern ctl' "$sock"
	ctl_fails 2 2 'status takes no arguments \(got "now"\)' "$sock" status now
	ctl_fails 2 2 'snapshot needs a PATH' "$sock" snapshot
	ctl_fails 2 2 'migrate needs a URI' "$sock" migrate
	ctl_fails 2 2 'transfer mode must be move or token, not "copy"' "$sock" handoff "$T/n.sock" copy
	ctl_fails 2 2 'raw needs one JSON object argument' "$sock" raw '{"cmd":'
	ctl_fails 2 2 'raw needs one JSON object argument' "$sock" raw '[1]'
	"$TERN" ctl --help | grep -q -- '--timeout SECONDS' || fail "usage does not mention --timeout"
}
