# test_qemu.sh - the same guest ELF boots under QEMU's multiboot loader, so
# tern's guests can be compared with another VMM.
#
# Needs QEMU, not /dev/kvm: with KVM the guest runs under `-accel kvm`;
# without it under TCG (emulation), which still checks that the image, the
# ring-0 boot stub (CPUID probe included) and ring 3 work on another VMM.

REQUIRES="qemu"

# start_qemu NAME ACCEL CPU: QEMU with the dirtier in the background; returns
# 0 once the guest's banner is on the console, 1 if QEMU exited first.
start_qemu() {
	local name=$1 accel=$2 cpu=$3
	rm -f "$T/$name.serial"
	# exec: the recorded pid is QEMU itself, so stop_all really stops it
	( exec qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m 256 -display none -no-reboot \
		-kernel "$GUEST" -append "size=16M rate=10 hb_ms=500" \
		-serial "file:$T/$name.serial" -monitor none >"$T/$name.out" 2>&1 ) &
	echo $! >"$T/$name.pid"
	for _ in $(seq 1 600); do
		grep -q '^dirtier: ' "$T/$name.serial" 2>/dev/null && return 0
		kill -0 "$(cat "$T/$name.pid")" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# QEMU 7.2's `-cpu host` aborts on AMD hosts ("failed to set MSR 0x10a");
# `host,-arch-capabilities` works there; a named model works everywhere.
test_dirtier_boots_under_qemu() {
	local accel models cpu ran=""
	if [ -w /dev/kvm ]; then
		accel=kvm models="host host,-arch-capabilities qemu64"
	else
		accel=tcg models="max qemu64"
		note "no writable /dev/kvm: QEMU runs the guest under TCG (emulation)"
	fi
	for cpu in $models; do
		if start_qemu q "$accel" "$cpu"; then
			ran=$cpu
			break
		fi
		note "QEMU -accel $accel -cpu $cpu did not boot the guest: $(head -c 300 "$T/q.out" | tr '\n' ' ')"
		kill "$(cat "$T/q.pid")" 2>/dev/null
	done
	[ -n "$ran" ] || fail "QEMU booted the dirtier with none of the CPU models: $models"
	info "QEMU ran the guest with -accel $accel -cpu $ran"
	wait_line "$T/q.serial" '^hb 2 ' 60
	kill "$(cat "$T/q.pid")"
	grep -q '^dirtier: ncpus=1 ' "$T/q.serial" || fail "guest did not run single-CPU under QEMU"
	no_corruption q
}
