# test_handoff.sh - a new tern process takes over a running VM (live upgrade).



# hand the VM served at $T/a.sock to a new process NAME; the old process
# OLD must exit 0 and the new one must run the VM.
handoff_to() {
	local old=$1 new=$2
	shift 2
	start_takeover "$new" "$T/$new.x" "$@"
	local rep
	rep=$("$TERN" ctl "$T/a.sock" handoff "$T/$new.x" ${XFER:-} 2>"$T/ctl.err") || {
		cat "$T/ctl.err" >&2
		fail "handoff $old -> $new failed"
	}
	[ "$(wait_vm "$old" 10)" = 0 ] || fail "old process $old did not exit 0 after the handoff"
	alive "$new" || fail "new process $new is not running"
	json_get "$rep" downtime-us >>"$T/downtimes"
}

# ten handoffs in a row; the guest's counter runs on, its self-check stays
# clean, its page-status record and migration bit travel with it
ten_handoffs() {
	local cc=$1
	local args="size=64M rate=50 hb_ms=200 private=0x4000000:0x100000 migctl=0"
	[ -n "$cc" ] && args="size=64M rate=50 hb_ms=200 share=0x4000000:0x100000 migctl=1"
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 $cc --guest-args "$args"
	wait_hb a 2 20
	local st0 prev=a
	st0=$(ctl a status)
	for i in $(seq 1 10); do
		handoff_to $prev n$i
		prev=n$i
		status_same "$st0" "$(ctl a status)" "after handoff $i" shared-pages migration-control cpus mem cc
		[ -n "$cc" ] && { grep -q 'old platform handle after handoff: dead (EIO)' \
			"$T/$( [ $i = 1 ] && echo a || echo n$((i - 1)) ).err" ||
			fail "handoff $i: the old platform handle is not dead"; }
	done
	note "downtimes (us): $(tr '\n' ' ' <"$T/downtimes")"
	local n
	n=$(last_hb a)
	wait_hb a $((n + 3)) 10
	# the guest verifies its pages continuously (millions of checks by now)
	ctl a quit >/dev/null
	[ "$(wait_vm n10 10)" = 0 ] || fail "the last process did not quit cleanly"
	no_corruption a
	local gap
	gap=$(grep -oE '^hb [0-9]+' "$T/a.serial" | awk '{ if ($2 != NR) { print "line", NR, "says hb", $2; exit 1 } }') ||
		{ cp "$T/a.serial" /tmp/tern-handoff-gap.serial; fail "heartbeat counter not continuous across handoffs: $gap"; }
}

test_handoff_ten_in_a_row_plain() {
	ten_handoffs ""
}

test_handoff_ten_in_a_row_cc_emu() {
	start_psp
	ten_handoffs "--cc emu"
}

# Token mode (the earlier design): works; a wrong token is refused and the
# old process keeps the VM; the right one then goes through.
test_handoff_cc_token_mode() {
	start_psp
	start_vm a --guest "$GUEST" --mem 256M --cc emu --guest-args "size=16M rate=20 hb_ms=200"
	wait_hb a 2 20
	TERN=$FAULTS TERN_FAULT_TOKEN_XOR=0x5a5a start_takeover bad "$T/bad.x"
	expect_error 'LOCAL_RECEIVE|context' \
		"$TERN" ctl "$T/a.sock" handoff "$T/bad.x" token
	[ "$(wait_vm bad 10)" = 1 ] || fail "the process given a wrong token did not fail"
	grep -q 'Bad address' "$T/bad.err" || fail "wrong token not refused with EFAULT: $(cat "$T/bad.err")"
	alive a || fail "old process died"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	XFER=token handoff_to a n1
	wait_hb a $(( $(last_hb a) + 2 )) 10
	ctl a quit >/dev/null
	wait_vm n1 10 >/dev/null
	no_corruption a
}

# Kill the new process at each step of the protocol: the old one resumes
# the VM every time; afterwards a handoff still succeeds.
test_handoff_new_process_killed_at_each_step() {
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=64M rate=50 hb_ms=200 duration=40"
	wait_hb a 2 20
	handoff_killed_at_each_step
	handoff_to a n1
	[ "$(wait_vm n1 40)" = 0 ] || fail "guest did not finish cleanly"
	grep -q '^done errors=0' "$T/a.serial" || fail "final self-check not clean"
	no_corruption a
}

# A version mismatch and a peer that speaks garbage are refused before the
# VM is paused; the old VM is undisturbed; the new process drops the bad
# connection and goes on waiting (docs/protocol.md), until SIGTERM.
test_handoff_version_mismatch_and_garbage() {
	TERN=$FAULTS TERN_FAULT_WIRE_VERSION=99 start_vm a --guest "$GUEST" --mem 256M --guest-args "size=16M rate=20 hb_ms=200"
	wait_hb a 2 20
	start_takeover n1 "$T/n1.x"
	expect_error 'protocol version 99 is not supported' "$TERN" ctl "$T/a.sock" handoff "$T/n1.x"
	wait_line "$T/n1.err" 'dropped a connection .*protocol version 99' 10
	alive n1 || fail "new process ended its wait on a version mismatch"
	kill -TERM "$(vm_pid n1)"
	[ "$(wait_vm n1 10)" = 143 ] || fail "waiting new process did not end on SIGTERM"
	[ "$(json_get "$(ctl a status)" last-pause-us)" = 0 ] || true
	# a listener that answers garbage
	python3 -c '
import socket,sys,os
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c,_=s.accept(); c.recv(100); c.sendall(os.urandom(200)); c.close()' "$T/g.x" &
	for _ in $(seq 1 100); do [ -S "$T/g.x" ] && break; sleep 0.05; done
	expect_error "does not speak tern" "$TERN" ctl "$T/a.sock" handoff "$T/g.x"
	# garbage sent to a waiting new process
	start_takeover n2 "$T/n2.x"
	python3 -c '
import socket,sys,os
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(os.urandom(64)); s.close()' "$T/n2.x"
	wait_line "$T/n2.err" "dropped a connection .*does not speak tern's protocol" 10
	alive n2 || fail "new process ended its wait on garbage"
	kill -TERM "$(vm_pid n2)"
	[ "$(wait_vm n2 10)" = 143 ] || fail "waiting new process did not end on SIGTERM"
	# nothing waiting at all
	expect_error 'no tern is waiting' "$TERN" ctl "$T/a.sock" handoff "$T/none.x"
	local n
	n=$(last_hb a)
	wait_hb a $((n + 2)) 10
	local stall
	stall=$(grep -oE 'max_stall_us=[0-9]+' "$T/a.serial" | tail -1 | cut -d= -f2)
	[ "$stall" -lt 1000000 ] || fail "the guest stalled ${stall}us: it was paused"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	no_corruption a
}

# bad uses of --takeover
test_handoff_bad_arguments() {
	expect_error 'takes no --guest' "$TERN" run --takeover "$T/x" --guest "$GUEST"
	expect_error 'needs --ctl and --to' "$TERN" handoff --ctl "$T/a.sock"
	touch "$T/file"
	expect_error 'not a socket' "$TERN" run --takeover "$T/file"
}

# The new process maps the RAM the guest has written before the switch
# (--prefault, default auto: KVM_PRE_FAULT_MEMORY where the kernel has it,
# else MADV_POPULATE_WRITE), and only that: a 512M guest that wrote 32 MiB
# stays sparse. off maps nothing; the guest runs on intact either way.
test_handoff_prefault_maps_only_written_ram() {
	start_vm a --guest "$GUEST" --mem 512M --guest-args "size=32M rate=20 hb_ms=100"
	wait_line "$T/a.serial" '^fill done' 20
	wait_hb a 2 20
	local mib
	handoff_to a n1
	mib=$(grep -oE 'prefault: [0-9]+ MiB of guest RAM mapped in [0-9.]+ ms \((KVM_PRE_FAULT_MEMORY|MADV_POPULATE_WRITE)\)' \
		"$T/n1.err" | awk '{ print $2 }')
	[ -n "$mib" ] || fail "no prefault line from the new process: $(cat "$T/n1.err")"
	# the 32 MiB region plus the image and page tables below 4 MiB; never all 512
	[ "$mib" -ge 32 ] && [ "$mib" -le 64 ] ||
		fail "prefault mapped $mib MiB; the guest wrote 32 MiB of 512"
	note "prefault: $(grep -oE 'prefault: .*' "$T/n1.err")"
	wait_hb a $(( $(last_hb a) + 3 )) 10
	handoff_to n1 n2 --prefault off
	grep -q 'prefault' "$T/n2.err" && fail "--prefault off still pre-faulted: $(cat "$T/n2.err")"
	handoff_to n2 n3 --prefault populate
	grep -qE 'prefault: [0-9]+ MiB .* \(MADV_POPULATE_WRITE\)' "$T/n3.err" ||
		fail "--prefault populate did not populate: $(cat "$T/n3.err")"
	wait_hb a $(( $(last_hb a) + 3 )) 10
	ctl a quit >/dev/null
	[ "$(wait_vm n3 10)" = 0 ] || fail "the last process did not quit cleanly"
	no_corruption a
}
