# test_waiting.sh - a tern process that waits for a peer (--incoming,
# --takeover) ends promptly on SIGTERM/SIGINT, even mid-message, and never
# takes over a socket that a live process serves. No VM is built before a
# peer sends CONFIG, so these run on hosts without /dev/kvm too.

REQUIRES=""

# start_waiting NAME ARGS...: `tern run ARGS` in the background, until it
# logs that it waits (files $T/NAME.err, .pid, .rc as start_vm).
start_waiting() {
	local name=$1
	shift
	rm -f "$T/$name.rc" "$T/$name.pid"
	( "$TERN" run "$@" >"$T/$name.out" 2>"$T/$name.err" &
	  echo $! >"$T/$name.pid"
	  wait $!
	  echo $? >"$T/$name.rc" ) &
	for _ in $(seq 1 100); do [ -s "$T/$name.pid" ] && break; sleep 0.01; done
	wait_line "$T/$name.err" 'waiting (for an incoming migration|at .* for a VM to take over)' 10
}

# ends_within NAME SECONDS SIGNAL: send SIGNAL; the process must be gone in time
ends_within() {
	local name=$1 secs=$2 sig=$3 pid
	pid=$(vm_pid "$name")
	kill -"$sig" "$pid"
	for _ in $(seq 1 $((secs * 20))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "tern ($name) still runs ${secs}s after SIG$sig"
}

test_incoming_ends_on_sigterm_while_waiting() {
	local port
	port=$(free_port)
	start_waiting d --incoming "tcp:127.0.0.1:$port" --ctl "$T/d.sock"
	ends_within d 1 TERM
	[ "$(wait_vm d 5)" = 143 ] || fail "exit status $(cat "$T/d.rc"), expected 143 (SIGTERM)"
	grep -q 'stopped while waiting for a peer, by SIGTERM' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message naming SIGTERM"; }
	[ ! -e "$T/d.sock" ] || fail "the control socket was left behind"
}

test_incoming_ends_on_sigint_mid_message() {
	local port
	port=$(free_port)
	start_waiting d --incoming "tcp:127.0.0.1:$port"
	# a peer that sends half a header and then nothing
	python3 -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.send(b"TNRW\x01\x00")
open(sys.argv[2],"w").write("sent\n"); time.sleep(30)' "$port" "$T/peer.sent" &
	echo $! >"$T/peer.pid"
	wait_line "$T/peer.sent" sent 10
	sleep 0.3
	alive d || fail "tern exited on a half message"
	ends_within d 1 INT
	[ "$(wait_vm d 5)" = 130 ] || fail "exit status $(cat "$T/d.rc"), expected 130 (SIGINT)"
	grep -q 'incoming migration failed (the source keeps the VM): in WAIT_HELLO: stopped by a signal' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message saying the wait was stopped by a signal"; }
}

test_takeover_ends_on_sigterm_while_waiting() {
	start_waiting n --takeover "$T/new.sock"
	[ -S "$T/new.sock" ] || fail "no takeover socket"
	ends_within n 1 TERM
	[ "$(wait_vm n 5)" = 143 ] || fail "exit status $(cat "$T/n.rc"), expected 143 (SIGTERM)"
	grep -q 'takeover failed .*SIGTERM' "$T/n.err" || { cat "$T/n.err" >&2; fail "no message naming SIGTERM"; }
}

# --takeover on a path a live process serves (a running VM's control
# socket) is refused, and the socket stays where it is.
test_takeover_refuses_live_socket() {
	python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); time.sleep(30)' "$T/live.sock" &
	echo $! >"$T/live.pid"
	for _ in $(seq 1 100); do [ -S "$T/live.sock" ] && break; sleep 0.02; done
	expect_error "--takeover .*live.sock is a live socket that another process serves" \
		"$TERN" run --takeover "$T/live.sock"
	[ -S "$T/live.sock" ] || fail "the live socket was unlinked"
	# a stale one (nobody serves it) is replaced as before
	kill "$(cat "$T/live.pid")"
	sleep 0.2
	start_waiting n --takeover "$T/live.sock"
	ends_within n 1 TERM
}
