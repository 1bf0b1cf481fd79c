# test_cc_es.sh - SEV-ES launch on the emulated platform (issue 14 section
# 2): the vCPUs' initial state measured as VMSAs after the data, the owner
# recomputing it, handoff carrying the VMSAs with the context, snapshot and
# live migration refused by name.

es_owner_setup() {
	"$PSP" --state-dir "$TERN_PSP_STATE" --export-chain "$T/chain.pem" || fail "export-chain failed"
	awk 'f; /END CERTIFICATE/ { f = 1 }' "$T/chain.pem" >"$T/root.pem"
	"$TERN" owner session --platform "$T/chain.pem" --trust "$T/root.pem" --policy 0x5 \
		--dir "$T/owner" >/dev/null || fail "owner session failed"
}

# An SEV-ES guest (policy 0x5 from the owner's session) with 2 vCPUs: the
# owner's digest with --policy 0x5 --cpus 2 verifies the measurement; the
# same image measured without VMSAs, with one vCPU, or the plain-SEV
# digest does not; the secret goes in and the guest runs clean.
test_cc_es_launch_verified() {
	start_psp
	es_owner_setup
	local args="size=16M rate=10 duration=3 secret=required"
	printf 'es secret %s' "$RANDOM$RANDOM" >"$T/secret.txt"
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/secret.pkt" --launch-timeout 30 --guest-args "$args"
	local m vargs d
	m=$(ctl a measurement)
	[ "$(json_get "$m" policy)" = 5 ] || fail "policy is $(json_get "$m" policy), not 0x5"
	vargs=(--dir "$T/owner" --measurement "$(json_get "$m" measurement)" --mnonce "$(json_get "$m" mnonce)"
	       --api 1.55 --build "$(json_get "$m" build)")
	d=$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 2 --guest-args "$args" --policy 0x5) ||
		fail "owner digest --policy 0x5 failed"
	"$TERN" owner verify "${vargs[@]}" --digest "$d" >/dev/null ||
		fail "the owner could not verify the SEV-ES launch"
	# without the VMSAs, or with another vCPU count, it does not verify
	expect_error 'does not match' "$TERN" owner verify "${vargs[@]}" --digest \
		"$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 2 --guest-args "$args")"
	expect_error 'does not match' "$TERN" owner verify "${vargs[@]}" --digest \
		"$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args" --policy 0x5)"
	seal_secret "$(json_get "$m" measurement)"
	[ "$(wait_vm a 60)" = 0 ] || fail "SEV-ES guest did not exit 0: $(tail -3 "$T/a.err")"
	guest_got_secret a
	grep -q '^done errors=0' "$T/a.serial" || fail "guest self-check not clean"
	grep -q 'ncpus=2' "$T/a.serial" || fail "the guest did not run both vCPUs"
	no_corruption a
}

# The owner whose digest does not match (here: a digest for another image)
# sends no secret; the launch waits for it and gives up, the guest never
# runs. And a secret made for another launch is refused by the platform.
test_cc_es_wrong_digest_refused() {
	start_psp
	es_owner_setup
	start_vm a --guest "$GUEST" --mem 128M --cpus 2 --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/secret.pkt" --launch-timeout 3 --guest-args "secret=required"
	local m d
	m=$(ctl a measurement)
	d=$("$TERN" owner digest --guest "$GUEST" --mem 128M --cpus 2 --guest-args "secret=optional" --policy 0x5)
	expect_error 'does not match' "$TERN" owner verify --dir "$T/owner" \
		--measurement "$(json_get "$m" measurement)" --mnonce "$(json_get "$m" mnonce)" \
		--digest "$d" --api 1.55 --build "$(json_get "$m" build)"
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" = 1 ] || fail "a launch the owner did not accept exited $rc"
	grep -q 'did not appear' "$T/a.err" || fail "no clear reason: $(cat "$T/a.err")"
	[ ! -s "$T/a.serial" ] || fail "the guest ran"
	# a packet sealed for another measurement never reaches the guest
	echo "s3cret" >"$T/secret.txt"
	"$TERN" owner secret --dir "$T/owner" --measurement "$(printf '%064d' 0)" \
		--in "$T/secret.txt" --out "$T/other.pkt" >/dev/null || fail "owner secret failed"
	start_vm b --guest "$GUEST" --mem 128M --cpus 2 --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/other.pkt" --guest-args "secret=required"
	[ "$(wait_vm b 30)" = 1 ] || fail "a foreign secret was accepted"
	grep -q 'LAUNCH_SECRET refused.*BAD_MEASUREMENT' "$T/b.err" || fail "no clear refusal: $(cat "$T/b.err")"
}

# Handoff of an SEV-ES guest: a new process killed at each step leaves the
# guest running here; then three handoffs: the VMSAs go to the platform
# with the context and come back in the new process; the guest's counter
# runs on, its self-check stays clean; each old handle is dead. Snapshot
# and live migration are refused naming SEV-ES, and the guest runs on.
test_cc_es_handoff_and_refusals() {
	start_psp
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --cc emu --cc-policy 0x4 \
		--guest-args "size=32M rate=50 hb_ms=200 share=0x2000000:0x10000 migctl=1"
	wait_hb a 2 30
	grep -q 'LAUNCH_UPDATE_VMSA\|SEV-ES' "$T/a.err" && fail "unexpected error at launch: $(cat "$T/a.err")"
	expect_error 'SEV-ES guest cannot be snapshotted.*VMSA' "$TERN" ctl "$T/a.sock" snapshot "$T/snap"
	[ ! -e "$T/snap" ] || fail "a snapshot file was written"
	expect_error 'live migration of an SEV-ES guest is not supported' \
		"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$(free_port)"
	alive a || fail "the VM died after the refusals"
	# the new process killed at each step: the VMSAs were handed to the
	# platform, but the context stayed here, and so does the VM
	handoff_killed_at_each_step
	local st0 prev=a i
	st0=$(ctl a status)
	for i in 1 2 3; do
		start_takeover n$i "$T/n$i.x"
		ctl a handoff "$T/n$i.x" >/dev/null
		[ "$(wait_vm $prev 10)" = 0 ] || fail "old process $prev did not exit 0 after handoff $i"
		alive n$i || fail "new process n$i is not running: $(tail -3 "$T/n$i.err")"
		grep -q 'SEV-ES: 2 vCPUs restored from the VMSAs that came with the context' "$T/n$i.err" ||
			fail "handoff $i: the vCPUs did not come from the platform's VMSAs"
		grep -q 'old platform handle after handoff: dead (EIO)' "$T/$prev.err" ||
			fail "handoff $i: the old platform handle is not dead"
		status_same "$st0" "$(ctl a status)" "after handoff $i" shared-pages migration-control cpus mem cc
		wait_hb a $(( $(last_hb a) + 2 )) 20
		prev=n$i
	done
	# still SEV-ES after the moves: snapshot refused in the last process too
	expect_error 'SEV-ES guest cannot be snapshotted' "$TERN" ctl "$T/a.sock" snapshot "$T/snap"
	ctl a quit >/dev/null
	[ "$(wait_vm n3 10)" = 0 ] || fail "the last process did not quit cleanly"
	no_corruption a
	local gap
	gap=$(grep -oE '^hb [0-9]+' "$T/a.serial" | awk '{ if ($2 != NR) { print "line", NR, "says hb", $2; exit 1 } }') ||
		fail "heartbeat counter not continuous across the handoffs: $gap"
}

# Bad inputs: the ES bit with a helper, or with token-mode handoff, is
# refused with a message naming the cause; the guest keeps running.
test_cc_es_bad_combinations() {
	start_psp
	local helper=${HELPER_ELF:-$(dirname "$TERN")/guest/helper.elf}
	if [ -r "$helper" ]; then
		expect_error 'helper with an SEV-ES guest' "$TERN" run --guest "$GUEST" --mem 128M --cc emu \
			--cc-policy 0x4 --helper "$helper"
	fi
	expect_error 'helper with an SEV-ES policy' "$TERN" owner digest --guest "$GUEST" \
		--policy 0x4 --helper "${helper:-/nonexistent}"
	start_vm a --guest "$GUEST" --mem 128M --cc emu --cc-policy 0x4 --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 2 30
	start_takeover t "$T/t.x"
	expect_error 'LOCAL_SEND.*not permitted' "$TERN" ctl "$T/a.sock" handoff "$T/t.x" token
	alive a || fail "the VM died after a refused token handoff"
	runs_on_and_quits a 20
}

# A snapshot never carries SEV-ES state (taking one is refused), so a
# forged one that claims it is refused by name: a vCPU record saying its
# state is in a VMSA, and a VM config saying SEV-ES without a platform.
test_cc_es_forged_snapshot_refused() {
	small_snapshot a
	"$FORGE" "$T/a.snap" "$T/v.snap" vcpu-vmsa || fail "snap_forge vcpu-vmsa failed"
	expect_error "vCPU 0's state is in an SEV-ES VMSA.*not an SEV-ES guest" \
		timeout -k 5 60 "$TERN" run --restore "$T/v.snap"
	"$FORGE" "$T/a.snap" "$T/c.snap" config-es || fail "snap_forge config-es failed"
	expect_error "SEV-ES without a confidential platform" \
		timeout -k 5 60 "$TERN" run --restore "$T/c.snap"
}
