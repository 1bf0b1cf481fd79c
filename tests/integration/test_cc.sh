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
	"$TERN" owner secret --dir "$T/owner" --measurement "$(mjson "$m" measurement)" \
		--in "$T/secret.txt" --out "$T/secret.pkt.tmp" >/dev/null || fail "owner secret failed"
	mv "$T/secret.pkt.tmp" "$T/secret.pkt"
	[ "$(wait_vm a 30)" = 0 ] || fail "confidential guest did not exit 0"
	local want got
	want=$(sha256sum <"$T/secret.txt" | cut -d' ' -f1)
	got=$(grep -oE '^secret: len=[0-9]+ sha256=[0-9a-f]+' "$T/a.serial" | sed 's/.*sha256=//')
	[ "$got" = "$want" ] || fail "guest saw secret sha256 '$got', expected $want"
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
	wait_hb a $(( $(last_hb a) + 2 )) 20
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	no_corruption a
}
