# test_helper.sh - the migration helper's guest side (guest/helper/, issue
# 11) runs for real: helper.elf in ring 3 under QEMU TCG, with the region,
# page tables, GDT, TSS and entry state of docs/guest-abi.md, sealing and
# opening pages that Python's own AES-GCM checks (guest/helper/qemu/smoke.py).
# The VMM side (a mirror VM running it under KVM) is not written yet; this
# is what proves the guest side meanwhile. Needs QEMU, not /dev/kvm.

REQUIRES="qemu"

test_helper_seals_and_opens_in_ring3() {
	local out rc=0
	out=$(timeout -k 5 180 python3 guest/helper/qemu/smoke.py "$(dirname "$TERN")" 2>&1) || rc=$?
	[ $rc = 77 ] && skip "$(printf '%s\n' "$out" | grep -m1 SKIP)"
	printf '%s\n' "$out" | grep -E '^(ok|FAIL|not ok)' | sed 's/^/    /'
	[ $rc = 0 ] || fail "the helper under QEMU: exit $rc: $(printf '%s\n' "$out" | tail -5)"
	[ "$(printf '%s\n' "$out" | grep -c '^ok ')" -ge 8 ] || fail "fewer than 8 checks passed"
}
