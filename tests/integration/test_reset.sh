# test_reset.sh - guest-initiated reset (port 0xCF9): the machine boots the
# guest again in place, or stops (--on-reset exit, a confidential guest),
# and a migration under way when it happens is cancelled cleanly; a reset
# VM moves whole (handoff, snapshot) and resets again where it arrived
# (--reset-guest); a confidential guest's reset mid-migration sends no
# private page in plaintext.

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

# per_boot_in_order FILE...: the consoles of every process that ran the
# guest, in order, read as one: each boot (a "dirtier:" banner) counts its
# heartbeats 1, 2, 3, ... with none lost or repeated; prints the boots
per_boot_in_order() {
	cat "$@" | python3 -c '
import sys
boots = []
for l in sys.stdin.read().splitlines():
    if l.startswith("dirtier: ncpus="):
        boots.append([])
    elif l.startswith("hb ") and boots:
        boots[-1].append(int(l.split()[1]))
for i, b in enumerate(boots):
    if b != list(range(1, len(b) + 1)):
        sys.exit("boot %d: heartbeats %s" % (i + 1, b))
print(len(boots))'
}

# A VM that has reset is handed off and snapshotted/restored whole: the
# page-status record and migration-control bit that travel are the reset
# ones (a plain guest's launch state), and in the new process the guest
# resets again (--reset-guest names what to boot). Without --reset-guest a
# restored VM's reset stops it with a clear message.
test_reset_then_handoff_and_restore() {
	local args="size=32M rate=10 hb_ms=200 reset_after=8" st0 st1 boots
	start_vm a --guest "$GUEST" --mem 256M --cpus 2 --guest-args "$args"
	wait_line "$T/a.err" 'booted .* again \(reset 1' 20
	for _ in $(seq 1 100); do [ "$(hb_count a)" -ge 10 ] && break; sleep 0.1; done
	st0=$(ctl a status)
	[ "$(json_get "$st0" migration-control)" = 1 ] && [ "$(json_get "$st0" shared-pages)" = 65536 ] ||
		fail "after the reset: migration-control $(json_get "$st0" migration-control), shared-pages $(json_get "$st0" shared-pages)"
	start_takeover b "$T/b.x" --ctl "$T/b.sock" --serial "file:$T/b.serial" \
		--reset-guest "$GUEST" --reset-guest-args "$args"
	"$TERN" ctl "$T/a.sock" handoff "$T/b.x" >/dev/null || fail "handoff of the reset VM failed"
	[ "$(wait_vm a 10)" = 0 ] || fail "the old process did not exit 0 after the handoff"
	for _ in $(seq 1 100); do [ -S "$T/b.sock" ] && break; sleep 0.05; done
	st1=$(ctl b status)
	status_same "$st0" "$st1" "after the handoff" shared-pages migration-control
	# the guest resets again in the process it was handed to
	wait_line "$T/b.err" 'booted .* again \(reset 1' 20
	sleep 0.5
	ctl b pause >/dev/null
	ctl b snapshot "$T/b.snap" >/dev/null
	ctl b quit >/dev/null
	[ "$(wait_vm b 10)" = 0 ] || fail "quit did not exit 0"
	start_vm c --restore "$T/b.snap" --reset-guest "$GUEST" --reset-guest-args "$args"
	st1=$(ctl c status)
	status_same "$st0" "$st1" "after the restore" shared-pages migration-control
	wait_line "$T/c.err" 'booted .* again \(reset 1' 20
	sleep 0.5
	ctl c quit >/dev/null
	[ "$(wait_vm c 10)" = 0 ] || fail "quit did not exit 0"
	boots=$(per_boot_in_order "$T/a.serial" "$T/b.serial" "$T/c.serial") ||
		fail "heartbeats lost or repeated across the moves: $boots"
	[ "$boots" -ge 4 ] || fail "$boots boots, expected 4 (a reset in each of three processes)"
	info "$boots boots across handoff and restore, every heartbeat once"
	no_corruption a; no_corruption b; no_corruption c
	# restored without --reset-guest: its reset stops it, saying why
	start_vm d --restore "$T/b.snap"
	[ "$(wait_vm d 30)" = 1 ] || fail "a restored VM without --reset-guest did not stop with status 1 on reset"
	grep -q 'given no --reset-guest, so it has no guest image to boot again' "$T/d.err" ||
		fail "no clear message: $(tail -2 "$T/d.err")"
}

# --reset-guest is only for a VM that arrives, and its arguments need it
test_reset_guest_option_checks() {
	expect_error 'reset-guest is for a VM that arrives' "$TERN" run --guest "$GUEST" --reset-guest "$GUEST"
	expect_error 'reset-guest-args .* needs it' "$TERN" run --restore x.snap --reset-guest-args "a=1"
}

# A confidential guest that marked pages shared and resets during a live
# migration: it is not booted again in place (it would need a new launch),
# so the migration ends with the VM, and the capture of everything that
# crossed holds the marker only in the pages it had marked shared; the
# destination never runs it.
test_reset_cc_during_migration_no_plaintext() {
	two_platforms
	local port proxy rc
	port=$(free_port)
	proxy=$(free_port)
	TERN_PSP_SOCKET=$T/pspA.sock start_vm a --guest "$GUEST" --mem 512M --cpus 2 --cc emu \
		--guest-args "size=256M rate=20 hb_ms=300 migctl=1 marker=TERN-PRIVATE-MARKER share=0x1000000:0x100000 reset_after=12"
	wait_hb a 2 30
	TERN_PSP_SOCKET=$T/pspB.sock start_vm b --incoming "tcp:127.0.0.1:$port" --cc emu
	python3 tests/integration/wireproxy.py "$proxy" 127.0.0.1 "$port" pass --tee "$T/wire.bin" >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" --max-bandwidth 20M >"$T/m.out" 2>&1 &
	local mpid=$!
	wait_line "$T/a.serial" '^reset: writing 0x6 to port 0xCF9' 30
	wait "$mpid" && fail "the migration completed across the guest's reset"
	rc=$(wait_vm a 20)
	[ "$rc" = 1 ] || fail "the source exited $rc, expected 1 (a confidential guest is not reset in place)"
	grep -q 'a confidential guest cannot be reset in place' "$T/a.err" || fail "no clear message: $(tail -2 "$T/a.err")"
	rc=$(wait_vm b 20)
	[ "$rc" != 0 ] && [ "$rc" != timeout ] || fail "the destination exited $rc"
	grep -q '^hb ' "$T/b.serial" 2>/dev/null && fail "the destination ran the guest"
	sleep 0.3
	marker_only_in_shared "$T/wire.bin" 0x1000000 0x1100000 || fail "a private page crossed in plaintext"
	info "$(tail -1 "$T/m.out")"
	no_corruption a
}
