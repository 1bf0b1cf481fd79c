# test_boot.sh - booting the dirtier guest, pause/resume, guest exit, crashes.

# 2 vCPUs, 1 GiB: heartbeats arrive, the guest's self-check stays clean, and
# it exits through the guest-call port with status 0.
test_boot_2cpu_1g_heartbeats() {
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=128M rate=50 duration=4"
	wait_line "$T/a.serial" '^dirtier: ncpus=2 ' 10
	wait_hb a 3 20
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" = 0 ] || fail "tern run exited with $rc, expected the guest's status 0"
	grep -q '^done errors=0 ' "$T/a.serial" || fail "no clean final self-check"
	no_corruption a
	# heartbeats are consecutive: 1, 2, 3, ...
	grep -oE '^hb [0-9]+' "$T/a.serial" | awk '{ if ($2 != NR) { print "gap at", NR; exit 1 } }' ||
		fail "heartbeat counter is not consecutive"
	grep -q 'guest exited with status 0' "$T/a.err" || fail "tern did not report the guest's exit"
}

# Pausing stops the guest (no heartbeats), resuming continues the counter,
# and the guest's own stall measure sees the pause.
test_pause_resume() {
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --guest-args "size=32M rate=20 hb_ms=200"
	wait_hb a 3 20
	ctl a pause >/dev/null
	local st n1 n2
	st=$(ctl a status)
	[ "$(json_get "$st" state)" = paused ] || fail "status says $(json_get "$st" state) after pause"
	n1=$(hb_count a)
	sleep 1.5
	n2=$(hb_count a)
	[ "$n1" = "$n2" ] || fail "guest printed heartbeats while paused ($n1 -> $n2)"
	expect_error 'already paused' "$TERN" ctl "$T/a.sock" pause
	ctl a resume >/dev/null
	wait_hb a $(( $(last_hb a) + 3 )) 10
	# the stall the guest saw covers the 1.5 s pause
	local stall
	stall=$(grep -oE 'max_stall_us=[0-9]+' "$T/a.serial" | tail -1 | cut -d= -f2)
	[ "$stall" -ge 1400000 ] || fail "guest's longest stall ${stall}us does not show the pause"
	expect_error 'not paused' "$TERN" ctl "$T/a.sock" resume
	[ "$(json_get "$(ctl a status)" last-pause-us)" -ge 1400000 ] || fail "status does not show the 1.5 s pause"
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "quit did not exit 0"
	no_corruption a
}

# Many quick pause/resume cycles: no lost exit, no hang, guest intact.
test_pause_resume_storm() {
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --guest-args "size=32M rate=max hb_ms=200"
	wait_hb a 2 20
	for _ in $(seq 1 50); do
		ctl a pause >/dev/null
		ctl a resume >/dev/null
	done
	local n
	n=$(last_hb a)
	wait_hb a $((n + 2)) 10
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "quit did not exit 0"
	no_corruption a
}

# A triple fault is reported with its cause and registers, exit code 3.
test_triple_fault_reported() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "crash=triple"
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" = 3 ] || fail "exit code $rc, expected 3 for a guest crash"
	grep -q 'triple-fault' "$T/a.err" || fail "stderr does not say triple fault"
	grep -q 'rip=' "$T/a.err" || fail "no register dump"
}

# An exception in the guest is reported by the guest and ends the VM non-zero.
test_guest_exception_exit_status() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "crash=ud"
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" != 0 ] && [ "$rc" != timeout ] || fail "exit code $rc after #UD"
	grep -q 'EXCEPTION vec=6' "$T/a.serial" || fail "guest did not report #UD"
}

# The control socket is private to its owner.
test_ctl_socket_mode_and_errors() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=16M rate=0"
	local mode
	mode=$(stat -c %a "$T/a.sock")
	[ "$mode" = 600 ] || fail "control socket mode is $mode, expected 600"
	expect_error 'unknown command' "$TERN" ctl "$T/a.sock" frobnicate
	expect_error 'JSON object' "$TERN" ctl "$T/a.sock" raw '{"cmd":'
	expect_error 'no "cmd"' "$TERN" ctl "$T/a.sock" raw '{"x":1}'
	expect_error 'needs a PATH' "$TERN" ctl "$T/a.sock" snapshot
	expect_error 'cannot connect' "$TERN" ctl "$T/nope.sock" status
	# garbage on the socket does not hurt the VM
	printf 'garbage\n\0\0\n{"cmd":"status"}\n' | timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.shutdown(socket.SHUT_WR)
out=b""
while True:
    d=s.recv(65536)
    if not d: break
    out+=d
print(out.decode())' "$T/a.sock" >"$T/garbage.out" || fail "socket closed on garbage"
	grep -q 'not valid JSON' "$T/garbage.out" || fail "garbage was not answered with an error"
	grep -q '"ok":true' "$T/garbage.out" || fail "valid request after garbage was not answered"
	ctl a status >/dev/null
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "quit did not exit 0"
}

# The guest marks ranges shared/private through the guest-call port; bad
# calls get -EINVAL; the migration-control MSR is handled.
test_guest_calls_and_msr() {
	start_vm a --guest "$GUEST" --mem 256M --guest-args \
		"size=32M rate=0 private=0x2000000:0x100000 share=0x2080000:0x1000 private=0x2001001:0x1000 migctl=0"
	wait_hb a 1 20
	grep -q '^private gpa=0x2000000 pages=256 ret=0' "$T/a.serial" || fail "private call failed"
	grep -q '^share gpa=0x2080000 pages=1 ret=0' "$T/a.serial" || fail "share call failed"
	grep -q '^private gpa=0x2001001 .*ret=-22' "$T/a.serial" || fail "misaligned GPA not refused with -22"
	grep -q '^migctl wrote=0 read=0' "$T/a.serial" || fail "migration-control MSR did not read back 0"
	local st
	st=$(ctl a status)
	# 256M = 65536 pages, 256 made private, 1 of them shared again
	[ "$(json_get "$st" shared-pages)" = $((65536 - 255)) ] ||
		fail "shared pages $(json_get "$st" shared-pages), expected $((65536 - 255))"
	[ "$(json_get "$st" migration-control)" = 0 ] || fail "migration-control not 0 in status"
	[ "$(json_get "$st" guest-calls.map-gpa-range-rejected)" = 1 ] || fail "rejected call not counted"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}

# The guest reads CPUID in ring 0 (docs/guest-abi.md): the TSC frequency its
# banner prints is the one tern put in leaf 0x40000010, taken from CPUID
# (not a default), and it sees KVM_FEATURE_MIGRATION_CONTROL (bit 17) — on
# hosts where a ring-3 cpuid answers with another hypervisor's leaves too.
test_guest_reads_tern_cpuid() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=0 hb_ms=200"
	wait_line "$T/a.serial" '^dirtier: ncpus=1 ' 20
	local banner tern_khz guest_khz feat
	banner=$(grep -m1 '^dirtier: ' "$T/a.serial")
	tern_khz=$(sed -n 's/.*vCPU TSC \([0-9]*\) kHz (CPUID 0x40000010).*/\1/p' "$T/a.err" | head -1)
	guest_khz=$(echo "$banner" | sed -n 's/.* tsc_khz=\([0-9]*\) .*/\1/p')
	feat=$(echo "$banner" | sed -n 's/.* kvm_features=\(0x[0-9a-f]*\).*/\1/p')
	note "tern: ${tern_khz:-?} kHz; guest: $banner"
	[ -n "$tern_khz" ] && [ "$tern_khz" -gt 0 ] || fail "tern did not log the TSC kHz it put in CPUID 0x40000010"
	[ "$guest_khz" = "$tern_khz" ] || fail "guest TSC $guest_khz kHz, tern set $tern_khz kHz"
	echo "$banner" | grep -q ' tsc_source=cpuid ' || fail "guest did not take the TSC from CPUID: $banner"
	[ -n "$feat" ] && [ $((feat & (1 << 17))) -ne 0 ] || fail "guest does not see KVM_FEATURE_MIGRATION_CONTROL: $banner"
	[ "$(json_get "$(ctl a status)" tsc-khz)" = "$tern_khz" ] || fail "status reports another TSC than tern logged"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}
