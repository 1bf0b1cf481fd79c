# test_mirror.sh - mirror VMs and the migration helper (issue 11): a
# confidential guest whose private pages cross sealed by the helper in its
# mirror VM, on the emulated platform (two tern-psp "hosts").

PROXY=${PROXY:-tests/integration/wireproxy.py}

# A 1 GiB confidential guest dirtying private memory migrates between two
# platforms through the helper: the region crossed by the PSP path (512
# pages), every other private page sealed by the helper; the counter goes
# on, the shared ranges are the same, the self-check is clean, and no
# private page crossed in plaintext (the marker is only in shared pages).
test_helper_migrate_two_platforms() {
	two_platforms
	local port proxy st0 st1
	port=$(free_port)
	proxy=$(free_port)
	helper_vm a "$HELPER" 1 1G \
		"size=256M rate=20 hb_ms=200 duration=40 migctl=1 marker=TERN-PRIVATE-MARKER share=0x1000000:0x100000"
	wait_hb a 3 30
	dest_vm b "$port"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" pass --tee "$T/wire.bin" >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	# the helper's view of the guest's data warms up before any migration
	for _ in $(seq 1 100); do
		st0=$(ctl a status)
		[ "$(json_get "$st0" helper.warm.pages)" -gt 60000 ] && break
		sleep 0.1
	done
	[ "$(json_get "$st0" helper.state)" = serving ] || fail "status shows no serving helper: $st0"
	[ "$(json_get "$st0" helper.warm.pages)" -gt 60000 ] || fail "the helper did not warm its view: $st0"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" --stats "$T/a.stats" \
		>"$T/migrate.out" 2>"$T/migrate.err" || { cat "$T/migrate.err" >&2; fail "migration failed"; }
	[ "$(wait_vm a 20)" = 0 ] || fail "the source did not exit 0 after migrating"
	note "source: $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["private"]))' "$T/a.stats")"
	[ "$(stat_of a private.helper.pages)" -gt 10000 ] || fail "private pages did not go through the helper"
	[ "$(stat_of a private.psp.pages)" = 512 ] || fail "the PSP path carried $(stat_of a private.psp.pages) pages, not the helper's 512-page region"
	check_continues a b
	st1=$(ctl b status)
	for k in shared-pages migration-control; do
		[ "$(json_get "$st0" $k)" = "$(json_get "$st1" $k)" ] || fail "$k differs after migration"
	done
	[ "$(json_get "$st1" helper.state)" = serving ] || fail "the destination's helper is not serving: $st1"
	[ "$(wait_vm b 60)" = 0 ] || fail "the migrated guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption b
	marker_only_in_shared "$T/wire.bin" 0x1000000 0x1100000 || fail "a private page crossed in plaintext"
}

# refused_case src|dst FAULT WHAT: a tern-faults source (or destination)
# tampers as an attacker on the wire could (util/fault.h: HELPER_TAMPER,
# HELPER_OTHER_KEY); the destination's helper refuses with WHAT, the
# migration fails saying so, the source runs on with its helper serving,
# and a retry (a new stream) to a fresh destination succeeds.
refused_case() {
	local side=$1 fault=$2 what=$3 port
	two_platforms
	port=$(free_port)
	export "TERN_FAULT_$fault"
	if [ "$side" = src ]; then
		TERN=$FAULTS helper_vm a "$HELPER" 1 256M "size=32M rate=10 hb_ms=200 migctl=1"
		unset "TERN_FAULT_${fault%%=*}"
		dest_vm b "$port"
	else
		unset "TERN_FAULT_${fault%%=*}"
		helper_vm a "$HELPER" 1 256M "size=32M rate=10 hb_ms=200 migctl=1"
		export "TERN_FAULT_$fault"
		TERN=$FAULTS dest_vm b "$port"
		unset "TERN_FAULT_${fault%%=*}"
	fi
	wait_hb a 2 30
	expect_error "$what" "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port"
	alive a || fail "the source died"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	[ "$(json_get "$(ctl a status)" helper.state)" = serving ] || fail "the source's helper stopped"
	port=$(free_port)
	dest_vm c "$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" >/dev/null 2>"$T/retry.err" ||
		fail "retry after a refused stream failed: $(cat "$T/retry.err")"
	[ "$(wait_vm a 20)" = 0 ] || fail "the source did not exit 0 after the retry"
	ctl c quit >/dev/null
	wait_vm c 10 >/dev/null
	no_corruption c
}

test_helper_refuses_flipped_bit()   { refused_case src HELPER_TAMPER=flip 'TAG'; }
test_helper_refuses_moved_page()    { refused_case src HELPER_TAMPER=gpa 'GPA'; }
test_helper_refuses_replayed_page() { refused_case src HELPER_TAMPER=replay 'REPLAY'; }
test_helper_refuses_other_key()     { refused_case dst HELPER_OTHER_KEY=1 'TAG'; }

# A helper that hangs mid-batch (helper-hang.elf stops answering at its
# first SEAL) ends the migration within the batch timeout; one that faults
# (helper-crash.elf) ends it at once. Either way the source runs on.
dead_helper_case() {
	local elf=$1 what=$2 port
	two_platforms
	port=$(free_port)
	helper_vm a "$elf" 1 256M "size=32M rate=10 hb_ms=200 migctl=1"
	wait_hb a 2 30
	dest_vm b "$port"
	expect_error "$what" "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port"
	alive a || fail "the source died with its helper"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	[ "$(json_get "$(ctl a status)" helper.state)" = dead ] || fail "status does not show the helper dead"
	# without its helper the VM still moves, by the PSP path
	port=$(free_port)
	dest_vm c "$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/a.stats" >/dev/null 2>"$T/psp.err" ||
		fail "a VM whose helper died could not move by the PSP path: $(cat "$T/psp.err")"
	[ "$(stat_of a private.helper.pages)" = 0 ] || fail "a dead helper sealed pages"
	grep -q 'not serving' "$T/a.err" || fail "the source did not say its helper is not serving"
	ctl c quit >/dev/null
	wait_vm c 10 >/dev/null
	no_corruption c
}
test_helper_hung()    { dead_helper_case "$(dirname "$TERN")/guest/helper-hang.elf" 'did not answer'; }
test_helper_crashed() { dead_helper_case "$(dirname "$TERN")/guest/helper-crash.elf" 'helper died'; }

# --private-path psp: a VM with a helper still moves its private pages by
# the platform when asked (and the destination's helper starts anyway);
# --private-path helper on a VM without one is refused.
test_helper_private_path_choice() {
	two_platforms
	local port
	port=$(free_port)
	helper_vm a "$HELPER" 1 256M "size=16M rate=5 hb_ms=200 migctl=1"
	wait_hb a 2 30
	dest_vm b "$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --private-path psp --stats "$T/a.stats" \
		>/dev/null 2>"$T/m.err" || fail "psp path: $(cat "$T/m.err")"
	[ "$(stat_of a private.helper.pages)" = 0 ] || fail "--private-path psp used the helper"
	[ "$(stat_of a private.psp.pages)" -gt 4000 ] || fail "--private-path psp sent too few pages by the platform"
	[ "$(json_get "$(ctl b status)" helper.state)" = serving ] || fail "the destination's helper did not start"
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	no_corruption b
	TERN_PSP_SOCKET=$T/pspA.sock start_vm c --guest "$GUEST" --mem 128M --cc emu --guest-args "size=8M rate=5 migctl=1"
	wait_hb c 1 20
	expect_error 'no migration helper' "$TERN" migrate --ctl "$T/c.sock" --to "tcp:127.0.0.1:1" --private-path helper
	expect_error 'helper or psp' "$TERN" migrate --ctl "$T/c.sock" --to "tcp:127.0.0.1:1" --private-path nope
}

# hand the VM at $T/a.sock to a new process NEW; OLD must exit 0
mirror_handoff() {
	local old=$1 new=$2 rep
	start_takeover "$new" "$T/$new.x"
	rep=$("$TERN" ctl "$T/a.sock" handoff "$T/$new.x" 2>"$T/ctl.err") || {
		cat "$T/ctl.err" >&2
		fail "handoff $old -> $new failed"
	}
	[ "$(wait_vm "$old" 10)" = 0 ] || fail "old process $old did not exit 0 after the handoff"
	alive "$new" || fail "new process $new is not running"
	wait_line "$T/$new.err" 'migration helper: [0-9]+ lanes? ready' 20
	json_get "$rep" downtime-us >>"$T/downtimes"
}

# Ten handoffs in a row of a VM with a mirror: each new process moves the
# owner's context in and copies a fresh mirror from it (the helper's lanes
# idle across the move); the counter runs on, the self-check stays clean,
# and the helper still seals at the end: a migration through it succeeds.
test_helper_ten_handoffs_then_migrate() {
	two_platforms
	helper_vm a "$HELPER" 2 512M "size=64M rate=20 hb_ms=200 migctl=1 share=0x8000000:0x100000"
	wait_hb a 2 20
	local prev=a st port
	for i in $(seq 1 10); do
		mirror_handoff $prev n$i
		prev=n$i
		st=$(ctl a status)
		[ "$(json_get "$st" helper.state)" = serving ] || fail "handoff $i: no serving helper: $st"
		[ "$(json_get "$st" helper.lanes-count)" = 2 ] || fail "handoff $i: the helper lost lanes"
	done
	note "downtimes (us): $(tr '\n' ' ' <"$T/downtimes")"
	wait_hb a $(( $(last_hb a) + 3 )) 10
	port=$(free_port)
	dest_vm b "$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/a.stats" >/dev/null 2>"$T/m.err" ||
		fail "migration after ten handoffs failed: $(cat "$T/m.err")"
	[ "$(wait_vm n10 20)" = 0 ] || fail "the last process did not exit 0 after migrating"
	[ "$(stat_of a private.helper.pages)" -gt 1000 ] || fail "the helper did not seal after the handoffs"
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	no_corruption a
	no_corruption b
	local gap
	gap=$(grep -oE '^hb [0-9]+' "$T/a.serial" | awk '{ if ($2 != NR) { print "line", NR, "says hb", $2; exit 1 } }') ||
		fail "heartbeat counter not continuous across handoffs: $gap"
}

helper_still_serving() {
	[ "$(json_get "$(ctl a status)" helper.state)" = serving ] || fail "helper not serving after a kill at $1"
}

# The new process killed at each step of a handoff of a VM with a mirror:
# the old process keeps the VM and its helper serving; then a handoff
# succeeds and the new process's helper serves.
test_helper_handoff_killed_at_each_step() {
	two_platforms
	helper_vm a "$HELPER" 1 256M "size=32M rate=20 hb_ms=200 migctl=1"
	wait_hb a 2 20
	handoff_killed_at_each_step helper_still_serving
	mirror_handoff a n1
	[ "$(json_get "$(ctl a status)" helper.state)" = serving ] || fail "the new process's helper is not serving"
	ctl a quit >/dev/null
	[ "$(wait_vm n1 10)" = 0 ] || fail "the new process did not quit cleanly"
	no_corruption a
}

# A mirror's owner going away: the guest ends (the mirror goes first, the
# process exits with the guest's status), and a process killed outright
# leaves the platform whole: the same platform launches the next helper VM.
test_helper_owner_dies() {
	two_platforms
	helper_vm a "$HELPER" 2 128M "size=8M rate=5 hb_ms=200 duration=3"
	[ "$(wait_vm a 30)" = 0 ] || fail "a guest with a helper did not end cleanly"
	grep -q '^done errors=0' "$T/a.serial" || fail "self-check not clean"
	helper_vm b "$HELPER" 1 128M "size=8M rate=5 hb_ms=200"
	wait_hb b 1 20
	kill -9 "$(vm_pid b)"
	wait_vm b 10 >/dev/null
	kill -0 "$(cat "$T/pspA.pid")" || fail "the platform died with the owner of a mirror"
	helper_vm c "$HELPER" 1 128M "size=8M rate=5 hb_ms=200"
	wait_hb c 1 20
	[ "$(json_get "$(ctl c status)" helper.state)" = serving ] || fail "no helper after the owner before it died"
	ctl c quit >/dev/null
	wait_vm c 10 >/dev/null
}
