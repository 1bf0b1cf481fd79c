# test_reset.sh - guest-initiated reset (port 0xCF9): the machine boots the
# guest again in place, or stops (--on-reset exit, a confidential guest),
# and a migration under way when it happens is cancelled cleanly.

# resets NAME: the "resets" count in NAME's status
resets() { json_get "$(ctl "$1" status)" resets; }

# A plain guest resets after 5 heartbeats: it boots again and counts its
# heartbeats from 1 again, its pages check clean, status counts the reset.
test_reset_plain_restarts() {
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --guest-args "size=32M rate=20 hb_ms=200 reset_after=5"
	wait_line "$T/a.serial" '^reset: writing 0x6 to port 0xCF9' 20
	wait_line "$T/a.err" 'booted .* again \(reset 1' 10
	# booted again: a second banner, and heartbeats from 1 again
	for _ in $(seq 1 100); do
		[ "$(grep -c '^dirtier: ncpus=2 ' "$T/a.serial")" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(grep -c '^dirtier: ncpus=2 ' "$T/a.serial")" -ge 2 ] || fail "the guest did not boot again"
	wait_line "$T/a.serial" '^fill done' 20
	for _ in $(seq 1 100); do
		[ "$(grep -cE '^hb 1 ' "$T/a.serial")" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(grep -cE '^hb 1 ' "$T/a.serial")" -ge 2 ] || fail "heartbeats did not start again from 1"
	local st
	st=$(ctl a status)
	[ "$(json_get "$st" resets)" -ge 1 ] || fail "status shows resets=$(json_get "$st" resets)"
	[ "$(json_get "$st" state)" = running ] || fail "state $(json_get "$st" state) after the reset"
	[ "$(json_get "$st" migration-control)" = 1 ] || fail "migration-control not back at a plain guest's 1"
	# before each reset the heartbeats went 1..5 in order, and after it again
	grep -oE '^hb [0-9]+' "$T/a.serial" | awk '{ want = (NR - 1) % 5 + 1; if ($2 != want) { print "hb", $2, "at line", NR; exit 1 } }' ||
		fail "heartbeats are not 1..5 per boot"
	info "$(grep -oE 'vCPUs parked [0-9.]+ ms' "$T/a.err" | head -1)"
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "quit did not exit 0"
	no_corruption a
}

# The keyboard controller's reset and --on-reset exit: tern stops with
# status 0 and says why (as QEMU -no-reboot).
test_reset_on_reset_exit() {
	start_vm a --on-reset exit --guest "$GUEST" --mem 256M \
		--guest-args "size=16M hb_ms=200 reset_after=3 reset_via=kbc"
	local rc
	rc=$(wait_vm a 30)
	[ "$rc" = 0 ] || fail "tern run exited $rc, expected 0 with --on-reset exit"
	grep -q '^reset: writing 0xFE to port 0x64' "$T/a.serial" || fail "the guest did not reset through port 0x64"
	grep -q 'guest reset the machine (keyboard controller command to port 0x64: 0xfe.*--on-reset exit: stopping' "$T/a.err" ||
		fail "no clear message: $(tail -2 "$T/a.err")"
	[ "$(grep -c '^dirtier: ' "$T/a.serial")" = 1 ] || fail "the guest was booted again"
	no_corruption a
}

# --on-reset takes only restart or exit
test_reset_bad_option() {
	expect_error 'on-reset reboot: use restart or exit' "$TERN" run --on-reset reboot --guest "$GUEST"
}

# A confidential guest cannot be reset in place: tern stops with a clear
# message and a non-zero status.
test_reset_cc_refused() {
	start_psp
	start_vm a --cc emu --guest "$GUEST" --mem 256M --guest-args "size=16M hb_ms=200 reset_after=3"
	local rc
	rc=$(wait_vm a 60)
	[ "$rc" != 0 ] && [ "$rc" != timeout ] || fail "tern run exited $rc, expected a failure status"
	grep -q 'a confidential guest cannot be reset in place: it must be launched again' "$T/a.err" ||
		fail "no clear message: $(tail -2 "$T/a.err")"
	[ "$(grep -c '^dirtier: ' "$T/a.serial")" = 1 ] || fail "the guest was booted again"
}

# A reset while a migration runs: the migration is cancelled, the source
# keeps running its fresh boot, the destination gives up.
test_reset_during_migration() {
	local port st
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=256M rate=20 hb_ms=300 reset_after=10"
	wait_hb a 2 30
	start_vm b --incoming "tcp:127.0.0.1:$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --max-bandwidth 20M >"$T/m.out" 2>&1 &
	local mpid=$!
	for _ in $(seq 1 100); do
		st=$(json_get "$(ctl a query-migrate)" status)
		[ "$st" = active ] && break
		sleep 0.1
	done
	[ "$st" = active ] || fail "the migration did not become active (status $st)"
	[ "$(resets a)" = 0 ] || fail "the guest reset before the migration was under way"
	wait_line "$T/a.err" 'booted .* again \(reset 1' 30
	wait "$mpid" && fail "tern migrate exited 0 across a reset"
	st=$(json_get "$(ctl a query-migrate)" status)
	[ "$st" = cancelled ] || [ "$st" = failed ] || fail "query-migrate says $st after the reset"
	grep -q 'cancelling the migration in progress' "$T/a.err" || fail "tern did not say it cancelled the migration"
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "the source is not running"
	[ "$(resets a)" -ge 1 ] || fail "no reset counted"
	# the fresh boot runs: heartbeats from 1 again
	for _ in $(seq 1 200); do
		[ "$(grep -cE '^hb 2 ' "$T/a.serial")" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(grep -cE '^hb 2 ' "$T/a.serial")" -ge 2 ] || fail "the source's fresh boot does not beat"
	local rc
	rc=$(wait_vm b 20)
	[ "$rc" != 0 ] || fail "the destination exited 0 without a VM"
	info "migration $st by the reset; destination exited $rc"
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "quit did not exit 0"
	no_corruption a
}
