# test_cc.sh - confidential launch on the emulated platform (tern-psp):
# measurement, the owner's verification, secret injection, identity.

# owner_setup: export the platform chain, trust its root, make a session.
owner_setup() {
	"$PSP" --state-dir "$TERN_PSP_STATE" --export-chain "$T/chain.pem" || fail "export-chain failed"
	awk 'f; /END CERTIFICATE/ { f = 1 }' "$T/chain.pem" >"$T/root.pem"
	"$TERN" owner session --platform "$T/chain.pem" --trust "$T/root.pem" --policy 0x0 \
		--dir "$T/owner" >/dev/null || fail "owner session failed"
}

mjson() { json_get "$1" "$2"; }

# The whole guest-owner flow: launch, measurement checked against the
# digest the owner computes from the image, secret injected, the guest
# prints the secret's SHA-256.
test_cc_launch_measure_secret() {
	start_psp
	owner_setup
	local args="size=16M rate=10 duration=3 secret=required"
	printf 'the owner says: %s' "$RANDOM$RANDOM" >"$T/secret.txt"
	start_vm a --guest "$GUEST" --mem 256M --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/secret.pkt" --launch-timeout 30 --guest-args "$args"
	local m st
	m=$(ctl a measurement)
	st=$(ctl a status)
	[ "$(json_get "$st" state)" = launching ] || fail "VM should wait in 'launching', is $(json_get "$st" state)"
	local d
	d=$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args") || fail "digest"
	"$TERN" owner verify --dir "$T/owner" --measurement "$(mjson "$m" measurement)" \
		--mnonce "$(mjson "$m" mnonce)" --digest "$d" --api 1.55 --build "$(mjson "$m" build)" \
		>/dev/null || fail "the owner could not verify the launch measurement"
	# another image (other arguments) does not verify
	local d2
	d2=$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "size=16M")
	expect_error 'does not match' "$TERN" owner verify --dir "$T/owner" \
		--measurement "$(mjson "$m" measurement)" --mnonce "$(mjson "$m" mnonce)" \
		--digest "$d2" --api 1.55 --build "$(mjson "$m" build)"
	seal_secret "$(mjson "$m" measurement)"
	[ "$(wait_vm a 30)" = 0 ] || fail "confidential guest did not exit 0"
	guest_got_secret a
	grep -q '^done errors=0' "$T/a.serial" || fail "guest self-check not clean"
	grep -q 'injected' "$T/a.err" || fail "tern did not report the injection"
}

# A secret packet bound to another launch's measurement is refused by the
# platform; the guest never runs and tern says why.
test_cc_secret_for_other_launch_refused() {
	start_psp
	owner_setup
	echo "s3cret" >"$T/secret.txt"
	"$TERN" owner secret --dir "$T/owner" --measurement "$(printf '%064d' 0)" \
		--in "$T/secret.txt" --out "$T/secret.pkt" >/dev/null || fail "owner secret failed"
	start_vm a --guest "$GUEST" --mem 128M --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/secret.pkt" --guest-args "secret=required"
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" != 0 ] && [ "$rc" != timeout ] || fail "launch with a foreign secret exited $rc"
	grep -q 'LAUNCH_SECRET refused.*BAD_MEASUREMENT' "$T/a.err" || fail "no clear refusal in: $(cat "$T/a.err")"
	[ ! -s "$T/a.serial" ] || fail "the guest ran"
	# a corrupted packet file is refused before it reaches the platform
	printf 'garbage' >"$T/bad.pkt"
	start_vm b --guest "$GUEST" --mem 128M --cc emu --owner-session "$T/owner" --owner-secret "$T/bad.pkt"
	[ "$(wait_vm b 30)" = 1 ] || fail "garbage packet accepted"
	grep -q 'not a secret packet' "$T/b.err" || fail "garbage packet: unclear error"
}

# Without a session: the platform picks its own keys; a confidential guest
# starts with every page private and migration disabled, and cannot be
# snapshotted (its memory may leave only through the platform).
test_cc_defaults_and_snapshot_refused() {
	start_psp
	start_vm a --guest "$GUEST" --mem 128M --cc emu --guest-args "size=8M rate=10 share=0x800000:0x2000"
	wait_hb a 1 20
	local st
	st=$(ctl a status)
	[ "$(json_get "$st" cc)" = emu ] || fail "status does not say cc emu"
	[ "$(json_get "$st" migration-control)" = 0 ] || fail "migration bit should start at 0"
	[ "$(json_get "$st" shared-pages)" = 2 ] || fail "expected exactly the 2 pages the guest shared, got $(json_get "$st" shared-pages)"
	expect_error 'confidential VM cannot be snapshotted' "$TERN" ctl "$T/a.sock" snapshot "$T/snap"
	[ ! -e "$T/snap" ] || fail "a snapshot file was written"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	expect_error 'not possible' "$TERN" run --restore "$T/nothing" --cc emu
}

# tern starts tern-psp itself when none is running, and the platform's
# identity (its PDH chain) survives a restart of the daemon.
test_cc_autostart_and_identity_persists() {
	export TERN_PSP_SOCKET=$T/auto.sock TERN_PSP_STATE=$T/auto-state
	start_vm a --guest "$GUEST" --mem 128M --cc emu --guest-args "size=8M rate=0 duration=1"
	[ "$(wait_vm a 30)" = 0 ] || fail "guest under an auto-started platform did not exit 0"
	grep -q 'starting one' "$T/a.err" || fail "tern did not say it started tern-psp"
	[ -S "$T/auto.sock" ] || fail "no daemon socket"
	"$PSP" --state-dir "$TERN_PSP_STATE" --export-chain "$T/c1.pem"
	pkill -f "tern-psp --socket $T/auto.sock"
	for _ in $(seq 1 50); do [ -S "$T/auto.sock" ] || break; sleep 0.1; done
	"$PSP" --socket "$T/auto.sock" --state-dir "$TERN_PSP_STATE" 2>/dev/null &
	echo $! >"$T/psp2.pid"
	for _ in $(seq 1 100); do [ -S "$T/auto.sock" ] && break; sleep 0.05; done
	"$PSP" --state-dir "$TERN_PSP_STATE" --export-chain "$T/c2.pem"
	cmp -s "$T/c1.pem" "$T/c2.pem" || fail "platform identity changed across a restart"
	start_vm b --guest "$GUEST" --mem 128M --cc emu --guest-args "size=8M rate=0 duration=1"
	[ "$(wait_vm b 30)" = 0 ] || fail "guest under the restarted platform did not exit 0"
	grep -q 'starting one' "$T/b.err" && fail "tern started a second daemon"
	kill "$(cat "$T/psp2.pid")" 2>/dev/null
	true
}

# A missing platform is a clear error, not a hang.
test_cc_sev_without_hardware() {
	expect_error '/dev/sev' "$TERN" run --guest "$GUEST" --mem 128M --cc sev
}

# tern-psp dies under a running confidential VM: tern notices at once, logs
# it, status says "platform": "lost", and handoff and migration are refused
# with a message saying why; the guest itself keeps running.
test_cc_platform_lost_is_noticed() {
	start_psp
	start_vm a --guest "$GUEST" --mem 128M --cc emu --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 2 30
	[ "$(json_get "$(ctl a status)" platform)" = connected ] || fail "status does not say the platform is connected"
	kill "$(cat "$T/psp.pid")"
	wait_line "$T/a.err" 'connection to the platform \(tern-psp at .*\) was lost' 10
	[ "$(json_get "$(ctl a status)" platform)" = lost ] || fail "status does not say the platform was lost"
	start_psp                         # a new daemon does not bring the context back
	start_takeover n "$T/n.sock"
	expect_error 'handoff refused: the connection to the platform .* was lost' \
		"$TERN" ctl "$T/a.sock" handoff "$T/n.sock"
	expect_error 'migration refused: the connection to the platform .* was lost' \
		"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$(free_port)"
	alive a || fail "the VM died"
	runs_on_and_quits a 20
}

HELPER_ELF=${HELPER_ELF:-$(dirname "$TERN")/guest/helper.elf}

# A launch with the migration helper (docs/guest-abi.md, "Migration
# helper"): its region is measured after the guest, so the owner's digest
# must name the same helper.elf to verify, and a helper changed by one byte
# does not; the owner's helper key reaches the key slot by LAUNCH_SECRET
# and the guest still runs clean.
test_cc_helper_launch_measured() {
	[ -r "$HELPER_ELF" ] || fail "$HELPER_ELF is not built (make guests)"
	start_psp
	owner_setup
	local args="size=16M rate=10 duration=3"
	start_vm a --guest "$GUEST" --mem 256M --cc emu --owner-session "$T/owner" \
		--helper "$HELPER_ELF" --owner-helper-key "$T/hkey.pkt" --launch-timeout 30 \
		--guest-args "$args"
	local m d vargs
	m=$(ctl a measurement)
	grep -q "helper $HELPER_ELF loaded at 0x400000 (C-bit 0)" "$T/a.err" || fail "tern did not report the helper"
	vargs=(--dir "$T/owner" --measurement "$(mjson "$m" measurement)" --mnonce "$(mjson "$m" mnonce)"
	       --api 1.55 --build "$(mjson "$m" build)")
	d=$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args" \
		--helper "$HELPER_ELF") || fail "owner digest --helper failed"
	"$TERN" owner verify "${vargs[@]}" --digest "$d" >/dev/null ||
		fail "the owner could not verify a launch with the helper"
	# the same launch without the helper, with another C-bit, or with
	# another helper image measures differently
	expect_error 'does not match' "$TERN" owner verify "${vargs[@]}" --digest \
		"$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args")"
	expect_error 'does not match' "$TERN" owner verify "${vargs[@]}" --digest \
		"$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args" \
			--helper "$HELPER_ELF" --c-bit 47)"
	cp "$HELPER_ELF" "$T/other-helper.elf"
	# one byte of the first loaded segment (file offset 0x1010: the code)
	printf '\xCC' | dd of="$T/other-helper.elf" bs=1 seek=$((0x1010)) conv=notrunc status=none
	cmp -s "$HELPER_ELF" "$T/other-helper.elf" && fail "the copy did not change"
	expect_error 'does not match' "$TERN" owner verify "${vargs[@]}" --digest \
		"$("$TERN" owner digest --guest "$GUEST" --mem 256M --cpus 1 --guest-args "$args" \
			--helper "$T/other-helper.elf")"
	# the owner's key: kept in the session directory, sealed for this launch
	"$TERN" owner helper-key --dir "$T/owner" --measurement "$(mjson "$m" measurement)" \
		--out "$T/hkey.pkt.tmp" >/dev/null || fail "owner helper-key failed"
	[ "$(stat -c '%a %s' "$T/owner/helper.key")" = "600 32" ] || fail "helper.key: $(stat -c '%a %s' "$T/owner/helper.key")"
	expect_error 'already exists' "$TERN" owner helper-key --dir "$T/owner" \
		--measurement "$(mjson "$m" measurement)" --out "$T/hkey2.pkt"
	[ "$(head -c 8 "$T/hkey.pkt.tmp")" = TERNHKYP ] || fail "helper-key packet has the wrong magic"
	mv "$T/hkey.pkt.tmp" "$T/hkey.pkt"
	[ "$(wait_vm a 60)" = 0 ] || fail "confidential guest with the helper did not exit 0"
	grep -q "owner's helper key injected at GPA 0x585000" "$T/a.err" || fail "tern did not report the key injection"
	grep -q '^done errors=0' "$T/a.serial" || fail "guest self-check not clean"
	no_corruption a
	# a helper-key packet is never taken as the guest's secret
	start_vm b --guest "$GUEST" --mem 128M --cc emu --owner-session "$T/owner" \
		--owner-secret "$T/hkey.pkt" --launch-timeout 30
	[ "$(wait_vm b 30)" = 1 ] || fail "a helper-key packet was accepted as the guest's secret"
	grep -q 'is a helper-key packet' "$T/b.err" || fail "swapped packet: unclear error: $(cat "$T/b.err")"
	[ ! -s "$T/b.serial" ] || fail "the guest ran"
}

# The helper's options go with a confidential launch only.
test_cc_helper_options_refused() {
	expect_error 'owner-helper-key .* needs --helper' "$TERN" run --guest "$GUEST" --cc emu \
		--owner-helper-key "$T/k.pkt"
	expect_error 'helper needs a confidential launch' "$TERN" run --guest "$GUEST" --helper "$HELPER_ELF"
	expect_error 'helper-lanes needs --helper' "$TERN" run --guest "$GUEST" --cc emu --helper-lanes 2
	expect_error 'helper-lanes 5: must be a number from 1 to 4' "$TERN" run --guest "$GUEST" --cc emu \
		--helper "$HELPER_ELF" --helper-lanes 5
	expect_error 'c-bit .* needs --helper' "$TERN" owner digest --guest "$GUEST" --c-bit 47
	expect_error 'c-bit 12' "$TERN" owner digest --guest "$GUEST" --helper "$HELPER_ELF" --c-bit 12
	# the guest (converted to ELF32) is not a helper image
	expect_error 'helper image: not a little-endian ELF64' "$TERN" owner digest --guest "$GUEST" --helper "$GUEST"
}
