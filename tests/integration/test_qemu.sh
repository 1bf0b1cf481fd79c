# test_qemu.sh - the same guest ELF boots under QEMU's multiboot loader, so
# tern's guests can be compared with another VMM.

test_dirtier_boots_under_qemu() {
	command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed (scripts/install-deps installs it)"
	local accel=kvm
	# exec: the recorded pid is QEMU itself, so stop_all really stops it
	( exec qemu-system-x86_64 -accel $accel -cpu host -m 256 -display none -no-reboot \
		-kernel "$GUEST" -append "size=16M rate=10 hb_ms=500" \
		-serial "file:$T/q.serial" -monitor none >"$T/q.out" 2>&1 ) &
	echo $! >"$T/q.pid"
	wait_line "$T/q.serial" '^hb 2 ' 45
	kill "$(cat "$T/q.pid")"
	grep -q '^dirtier: ncpus=1 ' "$T/q.serial" || fail "guest did not run single-CPU under QEMU"
	no_corruption q
}
