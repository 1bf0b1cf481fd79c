# test_incoming_ctl.sh - `tern run --incoming URI --ctl SOCK` serves its
# control socket while it waits for a source and while it receives, not
# only once the VM has arrived (issue 9, issue 10 case 4): status and
# query-migrate answer with what is known, migrate-cancel and quit end the
# receive (the process exits 1, the source keeps its VM), everything else
# is refused with a reason. Nothing here builds a VM, so these run on hosts
# without /dev/kvm too (test_incoming_ctl_kvm.sh has a real migration).

REQUIRES=""

# waiting NAME PORT: `tern run --incoming` with a control socket, until it
# says it waits (files $T/NAME.err, .pid, .rc, socket $T/NAME.sock)
waiting() {
	local name=$1 port=$2
	rm -f "$T/$name.rc" "$T/$name.pid"
	( "$TERN" run --incoming "tcp:127.0.0.1:$port" --ctl "$T/$name.sock" \
		>"$T/$name.out" 2>"$T/$name.err" &
	  echo $! >"$T/$name.pid"
	  wait $!
	  echo $? >"$T/$name.rc" ) &
	for _ in $(seq 1 100); do [ -s "$T/$name.pid" ] && break; sleep 0.01; done
	wait_line "$T/$name.err" 'waiting for an incoming migration' 10
}

# ctl_reply NAME ARGS...: the reply line, whatever its "ok" (tern ctl exits 1 on a refusal)
ctl_reply() {
	local name=$1
	shift
	"$TERN" ctl --timeout 3 "$T/$name.sock" "$@" 2>&1 || true
}

test_status_and_query_while_waiting() {
	local port out
	port=$(free_port)
	waiting d "$port"
	out=$(ctl d status)
	[ "$(json_get "$out" state)" = incoming ] || fail "status while waiting: $out"
	[ "$(json_get "$out" incoming)" = "tcp:127.0.0.1:$port" ] || fail "status does not name the URI: $out"
	[ "$(json_get "$out" migration)" = setup ] || fail "status: migration is not setup: $out"
	[ "$(json_get "$out" pid)" = "$(vm_pid d)" ] || fail "status: pid: $out"
	echo "$out" | grep -q '"cpus"' && fail "status names cpus before any CONFIG: $out"
	out=$(ctl d query-migrate)
	[ "$(json_get "$out" status)" = setup ] || fail "query-migrate while waiting: $out"
	[ "$(json_get "$out" ram.transferred)" = 0 ] || fail "query-migrate: bytes before a source: $out"
	# commands that need the VM are refused with the reason
	for c in pause resume measurement "snapshot path=$T/x.snap" "migrate uri=tcp:127.0.0.1:1"; do
		# shellcheck disable=SC2086
		out=$(ctl_reply d $c)
		echo "$out" | grep -q 'no VM yet: the migration has not arrived' ||
			fail "'$c' before the VM: $out"
	done
	# bad input is still named as such
	out=$(ctl_reply d frobnicate)
	echo "$out" | grep -q 'unknown command' || fail "unknown command: $out"
	alive d || fail "the destination ended while being asked"
	ends_in d 1 TERM
	[ "$(wait_vm d 5)" = 143 ] || fail "exit status $(cat "$T/d.rc"), expected 143"
	[ ! -e "$T/d.sock" ] || fail "the control socket was left behind"
}

# gone NAME SECONDS [WHY]: the process must exit in time
gone() {
	local pid
	pid=$(vm_pid "$1")
	for _ in $(seq 1 $(($2 * 20))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "tern ($1) still runs $2 s ${3:-later}"
}

# ends_in NAME SECONDS SIGNAL: sent SIGNAL, the process must be gone in time
ends_in() {
	kill -"$3" "$(vm_pid "$1")"
	gone "$1" "$2" "after SIG$3"
}

test_migrate_cancel_while_waiting() {
	local port out
	port=$(free_port)
	waiting d "$port"
	out=$(ctl d migrate-cancel)
	[ "$(json_get "$out" status)" = cancelled ] || fail "migrate-cancel: $out"
	gone d 2
	[ "$(wait_vm d 5)" = 1 ] || fail "exit status $(cat "$T/d.rc"), expected 1"
	grep -q 'incoming migration cancelled (the source keeps the VM): cancelled by migrate-cancel on the control socket while waiting for a source' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message saying migrate-cancel cancelled the wait"; }
	[ ! -e "$T/d.sock" ] || fail "the control socket was left behind"
	# the port is free again: nothing of the receive is left
	python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$port" ||
		fail "the migration port is still bound"
}

test_quit_while_waiting() {
	local port out
	port=$(free_port)
	waiting d "$port"
	out=$(ctl d quit)
	[ "$(json_get "$out" ok)" = true ] || fail "quit: $out"
	gone d 2
	[ "$(wait_vm d 5)" = 1 ] || fail "exit status $(cat "$T/d.rc"), expected 1"
	grep -q 'cancelled by quit on the control socket' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message saying quit cancelled the wait"; }
}

# A peer that sent half a header holds the receiver in the handshake: the
# control socket answers all the same, and a cancel still ends it at once.
test_status_while_peer_is_mid_handshake() {
	local port out
	port=$(free_port)
	waiting d "$port"
	python3 -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.send(b"TNRW\x01\x00")
open(sys.argv[2],"w").write("sent\n"); time.sleep(30)' "$port" "$T/peer.sent" &
	echo $! >"$T/peer.pid"
	wait_line "$T/peer.sent" sent 10
	sleep 0.2
	for _ in 1 2 3; do
		out=$(ctl d status)
		[ "$(json_get "$out" state)" = incoming ] || fail "status mid-handshake: $out"
		[ "$(json_get "$out" migration)" = setup ] || fail "status mid-handshake: $out"
	done
	out=$(ctl d migrate-cancel)
	[ "$(json_get "$out" ok)" = true ] || fail "migrate-cancel mid-handshake: $out"
	gone d 2
	[ "$(wait_vm d 5)" = 1 ] || fail "exit status $(cat "$T/d.rc"), expected 1"
}

# After a source's HELLO the receive is active (WAIT_CONFIG): query-migrate
# says so, and migrate-cancel ends it there too; the source sees the
# connection close instead of waiting for a reply that never comes.
test_cancel_after_hello() {
	local port out
	port=$(free_port)
	waiting d "$port"
	"$(dirname "$TERN")/tools/wire_peer" hello-wait "tcp:127.0.0.1:$port" >"$T/peer.out" 2>&1 &
	echo $! >"$T/peer.pid"
	wait_line "$T/peer.out" 'hello accepted' 10
	for _ in $(seq 1 40); do
		out=$(ctl d query-migrate)
		[ "$(json_get "$out" status)" = active ] && break
		sleep 0.05
	done
	[ "$(json_get "$out" status)" = active ] || fail "query-migrate after HELLO: $out"
	out=$(ctl d status)
	[ "$(json_get "$out" migration)" = active ] || fail "status after HELLO: $out"
	out=$(ctl d migrate-cancel)
	[ "$(json_get "$out" ok)" = true ] || fail "migrate-cancel after HELLO: $out"
	gone d 2
	[ "$(wait_vm d 5)" = 1 ] || fail "exit status $(cat "$T/d.rc"), expected 1"
	grep -q 'in WAIT_CONFIG: cancelled by migrate-cancel on the control socket' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message saying the receive was cancelled in WAIT_CONFIG"; }
	wait_line "$T/peer.out" '^closed' 5
}

# With --ctl, SIGTERM still ends the wait as before, and the
# cancel fd registered beside the signal fd does not confuse the message.
test_sigterm_still_named_with_ctl() {
	local port
	port=$(free_port)
	waiting d "$port"
	ends_in d 1 TERM
	[ "$(wait_vm d 5)" = 143 ] || fail "exit status $(cat "$T/d.rc"), expected 143"
	grep -q 'incoming migration failed (the source keeps the VM): stopped by SIGTERM while waiting' "$T/d.err" || {
		cat "$T/d.err" >&2; fail "no message naming SIGTERM"; }
}
