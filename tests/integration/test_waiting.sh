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
	grep -q 'stopped by SIGTERM while waiting for a source' "$T/d.err" || {
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
	grep -q 'incoming migration failed (the source keeps the VM): stopped by SIGINT while waiting' "$T/d.err" || {
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
	expect_error "--takeover .*live.sock is in use by another process" \
		"$TERN" run --takeover "$T/live.sock"
	[ -S "$T/live.sock" ] || fail "the live socket was unlinked"
	# a stale one (nobody serves it) is replaced as before
	kill "$(cat "$T/live.pid")"
	sleep 0.2
	start_waiting n --takeover "$T/live.sock"
	ends_within n 1 TERM
}

# A peer's CONFIG for a VM that cannot be built (64 TiB of RAM) is refused
# with a reply that says why; the destination exits 1 (it segfaulted on this
# failure path once) and keeps nothing. On a host without KVM the VM cannot
# be built for that reason instead: the failure path is the same.
test_incoming_unbuildable_config_refused() {
	local port out rc=0
	port=$(free_port)
	start_waiting d --incoming "tcp:127.0.0.1:$port"
	out=$("$(dirname "$TERN")/tools/wire_peer" migrate "tcp:127.0.0.1:$port" $((1 << 46)) 1) || rc=$?
	[ $rc = 0 ] || fail "the destination did not refuse the CONFIG with a message (wire_peer exit $rc: $out)"
	note "destination: $out"
	[ "$(wait_vm d 10)" = 1 ] || fail "destination exit status $(cat "$T/d.rc"), expected 1"
	grep -q 'incoming migration failed (the source keeps the VM)' "$T/d.err" || fail "no failure message"
}

# A handoff peer that offers a 4 KiB memfd, or a pipe, as 1 GiB of guest
# RAM is refused; the takeover process exits 1 and removes its socket.
test_takeover_bad_ram_fd_refused() {
	local kind out rc
	for kind in memfd4k pipe; do
		rm -f "$T/n.rc"
		start_waiting n --takeover "$T/new.sock"
		rc=0
		out=$("$(dirname "$TERN")/tools/wire_peer" handoff "$T/new.sock" $((1 << 30)) 1 $kind) || rc=$?
		[ $rc = 0 ] || fail "$kind as RAM: not refused with a message (wire_peer exit $rc: $out)"
		note "$kind: $out"
		[ "$(wait_vm n 10)" = 1 ] || fail "$kind as RAM: exit status $(cat "$T/n.rc"), expected 1"
		[ ! -e "$T/new.sock" ] || fail "$kind as RAM: the takeover socket was left behind"
	done
}

# Connections that fail the handshake do not end the wait, and idle ones
# delay nobody: with 30 idle connections open, garbage sent on another and
# a HELLO of the wrong kind refused, the destination still answers a
# source at once. That source's CONFIG asks for 2^62 bytes: refused by the
# default --max-mem (the host's available memory) before anything is built.
test_incoming_survives_bad_connections() {
	local port out rc=0 t0 t1
	port=$(free_port)
	start_waiting d --incoming "tcp:127.0.0.1:$port"
	python3 -c 'import socket,sys,time
idle=[socket.create_connection(("127.0.0.1",int(sys.argv[1]))) for _ in range(30)]
g=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); g.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256))); g.close()
open(sys.argv[2],"w").write("open\n"); time.sleep(60)' "$port" "$T/idle.ready" &
	echo $! >"$T/idle.pid"
	wait_line "$T/idle.ready" open 10
	wait_line "$T/d.err" "dropped a connection .*does not speak tern's protocol" 10
	# a handoff HELLO at a migration port: refused with the reason, wait goes on
	"$(dirname "$TERN")/tools/wire_peer" handoff-at "tcp:127.0.0.1:$port" >"$T/wrongkind.out" 2>&1
	grep -q "waits for a migration, not a handoff" "$T/wrongkind.out" ||
		fail "wrong kind of HELLO: $(cat "$T/wrongkind.out")"
	alive d || fail "the destination ended its wait on a bad connection"
	t0=$(date +%s%N)
	out=$("$(dirname "$TERN")/tools/wire_peer" migrate "tcp:127.0.0.1:$port" $((1 << 62)) 1) || rc=$?
	t1=$(date +%s%N)
	[ $rc = 0 ] || fail "CONFIG of 2^62 bytes not refused with a message (wire_peer exit $rc: $out)"
	echo "$out" | grep -q 'more than this destination accepts (--max-mem' || fail "refused, but not by --max-mem: $out"
	[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "the source waited $(( (t1 - t0) / 1000000 )) ms behind idle connections"
	info "served behind 30 idle connections in $(( (t1 - t0) / 1000000 )) ms"
	[ "$(wait_vm d 10)" = 1 ] || fail "destination exit status $(cat "$T/d.rc"), expected 1"
}

# A CONFIG bound to another connection's nonce (a captured stream replayed
# into a fresh destination) is refused before anything is built.
test_incoming_refuses_replayed_config() {
	local port out rc=0
	port=$(free_port)
	start_waiting d --incoming "tcp:127.0.0.1:$port" --mem 128M
	out=$("$(dirname "$TERN")/tools/wire_peer" migrate "tcp:127.0.0.1:$port" $((128 << 20)) 1 replay) || rc=$?
	[ $rc = 0 ] || fail "a replayed CONFIG was not refused (wire_peer exit $rc: $out)"
	echo "$out" | grep -q 'bound to another connection' || fail "refused, but not as a replay: $out"
	[ "$(wait_vm d 10)" = 1 ] || fail "destination exit status $(cat "$T/d.rc"), expected 1"
}

# --restore from a FIFO (or any other non-file) is refused at once: opening
# a FIFO used to wait for a writer, deaf to SIGTERM.
test_restore_refuses_a_fifo() {
	mkfifo "$T/snap.fifo"
	expect_error "snapshot .*snap.fifo is not a regular file \\(a FIFO\\)" timeout -k 2 10 "$TERN" run --restore "$T/snap.fifo"
	expect_error "is not a regular file \\(a directory\\)" timeout -k 2 10 "$TERN" run --restore "$T"
}
