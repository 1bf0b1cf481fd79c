# test_psp_daemon.sh - tern-psp as a host service: one version for both
# binaries, systemd socket activation, `make install`. None needs KVM.
# (Descriptor exhaustion and signals: tests/unit/test_psp_daemon.c.)
REQUIRES=""

# psp_client SOCK OP: one request to a tern-psp (HELLO=1, EXPORT_CHAIN=3)
# as a VMM would send it; prints the reply's status and payload.
psp_client() {
	python3 - "$1" "$2" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(10)
s.connect(sys.argv[1])
s.send(struct.pack("<IHHIiII", 0x50535054, 1, int(sys.argv[2]), 0, 0, 0, 0))
r = s.recv(65536 + 64)
magic, ver, op, cmd, status, fw, n = struct.unpack("<IHHIiII", r[:24])
assert magic == 0x50535054 and len(r) == 24 + n, "malformed reply"
print("status", status)
sys.stdout.buffer.write(r[24:] if op == 3 else b"api %d.%d\n" % (r[24], r[25]))
EOF
}

# activate TYPE SOCK LISTEN_FDS LISTEN_PID|self ARGS...: exec tern-psp the way
# systemd does: a bound, listening socket of TYPE (seqpacket|stream) on
# fd 3, LISTEN_FDS, and LISTEN_PID (self: its own pid). Its pid goes to
# $T/act.pid; every one started is killed when the test ends.
activate() {
	local type=$1 sock=$2 nfds=$3 pid=$4
	shift 4
	python3 - "$type" "$sock" "$nfds" "$pid" "$PSP" "$@" <<'EOF' &
import os, socket, sys
typ, path, nfds, pid, psp = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET if typ == "seqpacket" else socket.SOCK_STREAM)
os.umask(0o177)
s.bind(path)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
if int(nfds) > 1:
    os.dup2(s.fileno(), 4)
os.environ["LISTEN_FDS"] = nfds
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.execv(psp, [psp] + sys.argv[6:])
EOF
	echo $! >"$T/act.pid"
	echo $! >>"$T/act.pids"
	trap 'kill -9 $(cat "$T/act.pids") 2>/dev/null; stop_all' EXIT
}

test_psp_daemon_versions_agree() {
	local a b c want
	a=$("$TERN" --version) || fail "tern --version failed"
	b=$("$PSP" --version) || fail "tern-psp --version failed"
	c=$("$TERN" version) || fail "tern version failed"
	note "$a / $b"
	[ "$a" = "$c" ] || fail "tern --version '$a' and tern version '$c' differ"
	case $a in "tern "*) ;; *) fail "tern --version prints '$a', not 'tern VERSION'" ;; esac
	case $b in "tern-psp "*) ;; *) fail "tern-psp --version prints '$b', not 'tern-psp VERSION'" ;; esac
	[ "${a#tern }" = "${b#tern-psp }" ] || fail "versions disagree: '$a' vs '$b'"
	want=$(sed -n 's/^#define TERN_VERSION "\(.*\)"$/\1/p' src/util/version.h)
	case ${a#tern } in "$want"*) ;; *) fail "version '${a#tern }' is not version.h's $want" ;; esac
	if git rev-parse --git-dir >/dev/null 2>&1; then
		echo "$a" | grep -qE "\(git [0-9a-z.-]+\)$" || fail "built from git, but '$a' carries no git describe"
	fi
}

# Started as systemd starts it: it serves the passed socket, answers a
# VMM's requests with its identity, and on SIGTERM leaves the socket
# (systemd's) in place.
test_psp_daemon_socket_activation() {
	activate seqpacket "$T/act.sock" 1 self --state-dir "$T/state" 2>"$T/psp.err"
	local out pid
	pid=$(cat "$T/act.pid")
	wait_line "$T/psp.err" 'listening on' 10
	grep -q "listening on $T/act.sock (passed by the service manager)" "$T/psp.err" ||
		fail "tern-psp did not say it serves the passed socket: $(cat "$T/psp.err")"
	out=$(psp_client "$T/act.sock" 1) || fail "HELLO over the activated socket failed"
	echo "$out" | grep -q '^status 0$' || fail "HELLO refused: $out"
	echo "$out" | grep -q '^api 1\.' || fail "HELLO reply without the API version: $out"
	# the platform it serves is the identity in --state-dir
	psp_client "$T/act.sock" 3 | tail -n +2 >"$T/chain.sock.pem"
	"$PSP" --state-dir "$T/state" --export-chain "$T/chain.pem" || fail "export-chain failed"
	cmp -s "$T/chain.pem" "$T/chain.sock.pem" || fail "EXPORT_CHAIN over the socket is not the state dir's chain"
	kill -TERM "$pid"
	for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && fail "activated tern-psp still running 1 s after SIGTERM"
	[ -S "$T/act.sock" ] || fail "tern-psp removed the socket systemd owns"
}

# What systemd could pass by mistake is refused, naming the cause.
test_psp_daemon_socket_activation_bad() {
	activate seqpacket "$T/two.sock" 2 self --state-dir "$T/state" 2>"$T/two.err"
	local rc=0
	wait "$(cat "$T/act.pid")" || rc=$?
	[ $rc -ne 0 ] || fail "tern-psp accepted two passed sockets"
	grep -q 'passed 2 sockets' "$T/two.err" || fail "no clear error for LISTEN_FDS=2: $(cat "$T/two.err")"

	activate stream "$T/stream.sock" 1 self --state-dir "$T/state" 2>"$T/stream.err"
	rc=0
	wait "$(cat "$T/act.pid")" || rc=$?
	[ $rc -ne 0 ] || fail "tern-psp accepted a stream socket"
	grep -q 'SOCK_SEQPACKET' "$T/stream.err" || fail "no clear error for a stream socket: $(cat "$T/stream.err")"

	expect_error 'LISTEN_PID=x is not a process id' \
		env LISTEN_PID=x LISTEN_FDS=1 "$PSP" --state-dir "$T/state" --socket "$T/x.sock"

	# LISTEN_PID of another process: not for it; it listens on --socket
	activate seqpacket "$T/other.sock" 1 1 --state-dir "$T/state" --socket "$T/own.sock" \
		2>"$T/own.err"
	wait_line "$T/own.err" "listening on $T/own.sock \(state" 10
	psp_client "$T/own.sock" 1 | grep -q '^status 0$' || fail "no answer on --socket"
	kill -TERM "$(cat "$T/act.pid")"
	wait "$(cat "$T/act.pid")"
	[ -e "$T/own.sock" ] && fail "tern-psp left its own socket behind after SIGTERM"
	return 0
}

# make install DESTDIR=... PREFIX=/usr puts everything where a Debian
# package would, units pointing at the installed binary; uninstall
# removes it again.
test_psp_daemon_make_install() {
	local b r=$T/root
	b=$(dirname "$TERN")
	make -s BUILD="$b" DESTDIR="$r" PREFIX=/usr install >"$T/install.out" 2>&1 ||
		{ cat "$T/install.out" >&2; fail "make install failed"; }
	for f in bin/tern bin/tern-psp; do
		[ -x "$r/usr/$f" ] || fail "/usr/$f not installed (or not executable)"
	done
	for f in share/doc/tern/README.md share/doc/tern/psp.md lib/systemd/system/tern-psp.socket \
		 lib/systemd/system/tern-psp.service; do
		[ -f "$r/usr/$f" ] || fail "/usr/$f not installed"
	done
	for g in "$b"/guest/*.elf; do
		[ -f "$g" ] || continue
		cmp -s "$g" "$r/usr/lib/tern/guest/$(basename "$g")" || fail "guest $(basename "$g") not installed"
	done
	grep -q '^ExecStart=/usr/bin/tern-psp ' "$r/usr/lib/systemd/system/tern-psp.service" ||
		fail "the service does not start /usr/bin/tern-psp"
	grep -q '^ListenSequentialPacket=/run/tern/psp.sock$' "$r/usr/lib/systemd/system/tern-psp.socket" ||
		fail "the socket unit does not listen where tern looks (/run/tern/psp.sock)"
	[ "$("$r/usr/bin/tern" --version)" = "$("$TERN" --version)" ] || fail "installed tern is another version"
	[ "$("$r/usr/bin/tern-psp" --version)" = "$("$PSP" --version)" ] || fail "installed tern-psp is another version"
	if command -v systemd-analyze >/dev/null; then
		# verify wants ExecStart's binary at its path: point it into DESTDIR
		mkdir -p "$T/units"
		cp "$r/usr/lib/systemd/system/tern-psp.socket" "$T/units/"
		sed "s|^ExecStart=/usr/bin/|ExecStart=$r/usr/bin/|" "$r/usr/lib/systemd/system/tern-psp.service" \
			>"$T/units/tern-psp.service"
		systemd-analyze verify "$T/units/tern-psp.socket" "$T/units/tern-psp.service" \
			>"$T/verify.out" 2>&1 || { cat "$T/verify.out" >&2; fail "systemd-analyze verify refused the units"; }
	else
		note "no systemd-analyze: units not verified"
	fi
	# another PREFIX: the units follow it
	make -s BUILD="$b" DESTDIR="$T/root2" install >/dev/null 2>&1 || fail "make install (default PREFIX) failed"
	grep -q '^ExecStart=/usr/local/bin/tern-psp ' "$T/root2/usr/local/lib/systemd/system/tern-psp.service" ||
		fail "with the default PREFIX the service does not start /usr/local/bin/tern-psp"
	make -s BUILD="$b" DESTDIR="$r" PREFIX=/usr uninstall >/dev/null 2>&1 || fail "make uninstall failed"
	local left
	left=$(find "$r" -type f)
	[ -z "$left" ] || fail "make uninstall left: $left"
	expect_error 'is not built: run make first' make -s BUILD="$T/nobuild" DESTDIR="$r" install
}
