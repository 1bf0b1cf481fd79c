# test_migrate.sh - live migration between two hosts (network namespaces
# joined by a veth pair, or loopback when namespaces are unavailable).

PROXY=${PROXY:-tests/integration/wireproxy.py}

# migrate NAME_SRC NAME_DST URI [tern migrate options]: must succeed
migrate_ok() {
	local src=$1 dst=$2 uri=$3
	shift 3
	"$TERN" migrate --ctl "$T/$src.sock" --to "$uri" --stats "$T/$src.stats" "$@" \
		>"$T/migrate.out" 2>"$T/migrate.err" || {
		cat "$T/migrate.err" >&2
		fail "migration $src -> $dst failed"
	}
	[ "$(wait_vm "$src" 20)" = 0 ] || fail "the source did not exit 0 after migrating"
	alive "$dst" || fail "the destination is not running the VM"
}

# A plain guest, 1 GiB, 2 vCPUs, dirtying 50 MB/s, between two hosts.
test_migrate_plain_two_hosts() {
	netns_up
	local port=47100
	start_in "$IN_SRC" a --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=256M rate=50 hb_ms=200 duration=25"
	wait_hb a 3 30
	start_in "$IN_DST" b --incoming "tcp:$DST_ADDR:$port" --stats "$T/b.stats"
	local st0
	st0=$(ctl a status)
	migrate_ok a b "tcp:$DST_ADDR:$port"
	note "source stats: $(cat "$T/a.stats")"
	# no --tls-creds between two hosts: both ends say the stream is plaintext
	if [ "$DST_ADDR" != 127.0.0.1 ]; then
		grep -q 'is plaintext' "$T/a.err" || fail "the source did not say the stream is plaintext"
		grep -q 'is plaintext' "$T/b.err" || fail "the destination did not say the stream is plaintext"
	fi
	[ "$(json_get "$(cat "$T/a.stats")" tls)" = none ] || fail "query-migrate's tls is not none"
	check_continues a b
	local st1
	st1=$(ctl b status)
	for k in shared-pages migration-control cpus mem; do
		[ "$(json_get "$st0" $k)" = "$(json_get "$st1" $k)" ] || fail "$k differs after migration"
	done
	local q
	q=$(ctl b query-migrate)
	[ "$(json_get "$q" status)" = completed ] || fail "destination's query-migrate"
	# the destination's own figures, no longer zeros
	python3 -c 'import json,sys; q=json.loads(sys.argv[1]); r=q["ram"]
sys.exit(0 if q["downtime"] > 0 and r["mbps"] > 0 and r["dirty-sync-count"] >= 1 else 1)' "$q" ||
		fail "destination query-migrate lacks downtime, mbps or dirty-sync-count: $q"
	[ "$(wait_vm b 40)" = 0 ] || fail "the migrated guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption a; no_corruption b
	[ "$(json_get "$(cat "$T/a.stats")" ram.duplicate)" -gt 0 ] || note "no zero pages were sent"
}

# A destination given --mem provisions all its RAM while it waits (the
# default --provision setup): the pages land in RAM that is ready, the
# stats say how much was ready when the source came, and the guest goes on
# intact. --provision none and announced are the other two ways in.
test_migrate_destination_provisioned_at_setup() {
	local port how st
	start_vm a --guest "$GUEST" --mem 512M --guest-args "size=256M rate=50 hb_ms=200 duration=20"
	wait_line "$T/a.serial" '^fill done' 30
	for how in setup none; do
		port=$(free_port)
		start_vm b --incoming "tcp:127.0.0.1:$port" --mem 512M --provision $how --stats "$T/b.stats"
		[ $how = none ] || wait_line "$T/b.err" 'provisioned 512 MiB of guest RAM during setup' 30
		wait_hb a 2 30
		migrate_ok a b "tcp:127.0.0.1:$port"
		check_continues a b
		st=$(ctl b query-migrate)
		[ "$(json_get "$st" provision.mode)" = $how ] || fail "query-migrate's provision: $st"
		if [ $how = setup ]; then
			[ "$(json_get "$st" provision.setup-done-at-start)" = $((512 << 20)) ] ||
				fail "the RAM was not all provisioned when the source came: $st"
			grep -q 'provisioned during setup: 512 of 512 MiB' "$T/b.err" ||
				fail "the destination did not say how much RAM was ready"
		fi
		[ $how = none ] && break
		# and back the other way, to try the next mode
		mv "$T/b.serial" "$T/b.$how.serial"
		rm -f "$T/a.serial" "$T/a.rc"
		port=$(free_port)
		start_vm a --incoming "tcp:127.0.0.1:$port" --provision announced --stats "$T/a.stats2"
		migrate_ok b a "tcp:127.0.0.1:$port"
		[ "$(json_get "$(ctl a query-migrate)" provision.mode)" = announced ] || fail "announced not reported"
	done
	[ "$(wait_vm b 40)" = 0 ] || fail "the migrated guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption a; no_corruption b
}

# A confidential guest between two platforms: the private pages go through
# SEND/RECEIVE, the shared ranges stay shared, the counter continues.
test_migrate_cc_two_hosts() {
	netns_up
	two_platforms
	local port=47101
	TERN_PSP_SOCKET=$T/pspA.sock start_in "$IN_SRC" a --guest "$GUEST" --mem 512M --cpus 2 --cc emu \
		--guest-args "size=32M rate=5 hb_ms=200 duration=30 migctl=1 share=0x2000000:0x200000"
	wait_hb a 3 30
	TERN_PSP_SOCKET=$T/pspB.sock start_in "$IN_DST" b --incoming "tcp:$DST_ADDR:$port" --cc emu
	local st0
	st0=$(ctl a status)
	migrate_ok a b "tcp:$DST_ADDR:$port"
	note "source stats: $(cat "$T/a.stats")"
	[ "$(json_get "$(cat "$T/a.stats")" private.pages)" -gt 1000 ] || fail "private pages did not go through the platform"
	check_continues a b
	local st1
	st1=$(ctl b status)
	for k in shared-pages migration-control; do
		[ "$(json_get "$st0" $k)" = "$(json_get "$st1" $k)" ] || fail "$k differs after migration"
	done
	[ "$(wait_vm b 60)" = 0 ] || fail "the migrated confidential guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check not clean"
}

# Private pages never cross the wire in plaintext; shared pages do.
test_migrate_private_pages_not_on_wire() {
	two_platforms
	local port proxy
	port=$(free_port)
	proxy=$(free_port)
	TERN_PSP_SOCKET=$T/pspA.sock start_vm a --guest "$GUEST" --mem 256M --cc emu \
		--guest-args "size=16M rate=2 hb_ms=200 migctl=1 marker=TERN-PRIVATE-MARKER share=0x1000000:0x100000"
	wait_hb a 3 30
	TERN_PSP_SOCKET=$T/pspB.sock start_vm b --incoming "tcp:127.0.0.1:$port" --cc emu
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" pass --tee "$T/wire.bin" >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	migrate_ok a b "tcp:127.0.0.1:$proxy"
	sleep 0.5
	marker_only_in_shared "$T/wire.bin" 0x1000000 0x1100000 || fail "a private page crossed in plaintext"
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	no_corruption b
}

# start a source and a destination on loopback; the stream goes through
# the proxy in MODE; the migration must fail cleanly, the source keep
# running; then a direct migration succeeds.
fault_case() {
	local mode=$1 arg=${2:-}
	local port proxy
	port=$(free_port)
	proxy=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=64M rate=50 hb_ms=200 duration=20"
	wait_hb a 3 30
	start_vm b --incoming "tcp:127.0.0.1:$port"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" $mode $arg >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	expect_error 'fail|refused|closed|corrupt|checksum|malformed|ended|went away' \
		"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy"
	note "$mode: $(grep -h error "$T/b.err" | head -1)"
	[ "$(wait_vm b 20)" = 1 ] || fail "$mode: the destination did not fail"
	alive a || fail "$mode: the source died"
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "$mode: the source VM is not running"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	# and a second attempt, direct, succeeds
	port=$(free_port)
	start_vm c --incoming "tcp:127.0.0.1:$port"
	migrate_ok a c "tcp:127.0.0.1:$port"
	[ "$(wait_vm c 60)" = 0 ] || fail "$mode: the guest did not finish cleanly after the retry"
	grep -q '^done errors=0' "$T/c.serial" || fail "$mode: final self-check not clean"
	no_corruption a; no_corruption c
}

test_migrate_fault_flipped_page() { fault_case flip-ram 3; }
test_migrate_fault_flipped_state() { fault_case flip-state; }
test_migrate_fault_truncated_stream() { fault_case truncate-state; }
test_migrate_fault_cut_connection() { fault_case cut-after-ram 5; }

# The destination is killed mid-migration: the source keeps running.
test_migrate_fault_destination_killed() {
	local port
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=128M rate=50 hb_ms=200"
	wait_hb a 3 30
	start_vm b --incoming "tcp:127.0.0.1:$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --max-bandwidth 50M >"$T/m.out" 2>&1 &
	local mpid=$!
	sleep 1
	kill -9 "$(vm_pid b)"
	wait "$mpid"
	grep -q 'failed' "$T/m.out" || fail "migrate did not report the failure: $(cat "$T/m.out")"
	alive a || fail "the source died"
	runs_on_and_quits a
}

# A platform that refuses a packet aborts the migration; the source
# context is cancelled (SEND_CANCEL) and runs on; a retry succeeds.
test_migrate_cc_refused_packet() {
	two_platforms
	local port
	port=$(free_port)
	TERN_PSP_SOCKET=$T/pspA.sock start_vm a --guest "$GUEST" --mem 256M --cc emu \
		--guest-args "size=16M rate=2 hb_ms=200 migctl=1"
	wait_hb a 2 30
	TERN=$FAULTS TERN_FAULT_PSP_CORRUPT=1 TERN_PSP_SOCKET=$T/pspB.sock start_vm b --incoming "tcp:127.0.0.1:$port" --cc emu
	expect_error 'RECEIVE_UPDATE_DATA|refused' "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port"
	grep -q 'BAD_MEASUREMENT' "$T/b.err" || fail "the platform did not name the MAC failure: $(cat "$T/b.err")"
	alive a || fail "the source died"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	port=$(free_port)
	TERN_PSP_SOCKET=$T/pspB.sock start_vm c --incoming "tcp:127.0.0.1:$port" --cc emu
	migrate_ok a c "tcp:127.0.0.1:$port"
	ctl c quit >/dev/null
	wait_vm c 10 >/dev/null
	no_corruption c
}

# Without the guest's consent (migration-control bit clear) a confidential
# VM does not migrate; with it withdrawn mid-migration, it aborts.
test_migrate_cc_needs_consent() {
	two_platforms
	local port
	port=$(free_port)
	TERN_PSP_SOCKET=$T/pspA.sock start_vm a --guest "$GUEST" --mem 256M --cc emu \
		--guest-args "size=16M rate=2 hb_ms=200"
	wait_hb a 2 30
	TERN_PSP_SOCKET=$T/pspB.sock start_vm b --incoming "tcp:127.0.0.1:$port" --cc emu
	expect_error 'not enabled migration' "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port"
	alive a || fail "the source died"
	kill "$(vm_pid b)"
	wait_vm b 10 >/dev/null
	# consent given at boot, withdrawn 1.5 s later, during a slow migration
	TERN_PSP_SOCKET=$T/pspA.sock start_vm c --guest "$GUEST" --mem 256M --cc emu \
		--guest-args "size=64M rate=20 hb_ms=200 migctl=1 migctl_off_ms=2500"
	wait_hb c 2 30
	port=$(free_port)
	TERN_PSP_SOCKET=$T/pspB.sock start_vm d --incoming "tcp:127.0.0.1:$port" --cc emu
	expect_error 'withdrew its consent' "$TERN" migrate --ctl "$T/c.sock" --to "tcp:127.0.0.1:$port" \
		--max-bandwidth 20M
	alive c || fail "the source died"
	runs_on_and_quits c
}

# A guest that dirties faster than the link: cancel at the timeout keeps
# it running here; force switches over anyway. Never hangs.
test_migrate_too_fast_guest() {
	local port
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=128M rate=max hb_ms=200"
	wait_hb a 2 30
	start_vm b --incoming "tcp:127.0.0.1:$port"
	expect_error 'did not converge' "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" \
		--max-bandwidth 40M --downtime-ms 5 --timeout 3
	alive a || fail "the source died on cancel"
	wait_vm b 20 >/dev/null
	port=$(free_port)
	start_vm c --incoming "tcp:127.0.0.1:$port"
	migrate_ok a c "tcp:127.0.0.1:$port" --max-bandwidth 40M --downtime-ms 5 --timeout 3 --on-timeout force
	note "forced: $(cat "$T/a.stats")"
	wait_hb c 1 20
	ctl c quit >/dev/null
	wait_vm c 10 >/dev/null
	no_corruption c
}

test_migrate_bad_arguments() {
	expect_error 'tcp:ADDR:PORT' "$TERN" run --incoming "nowhere"
	expect_error 'takes no --guest' "$TERN" run --incoming tcp:127.0.0.1:1 --guest "$GUEST"
	expect_error '--provision setup .*needs --mem' "$TERN" run --incoming tcp:127.0.0.1:1 --provision setup
	expect_error '--provision later: use setup, announced or none' "$TERN" run --incoming tcp:127.0.0.1:1 --provision later
	expect_error '--provision .*needs --incoming' "$TERN" run --guest "$GUEST" --provision none
	expect_error 'needs --ctl and --to' "$TERN" migrate --ctl "$T/x.sock"
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10"
	expect_error 'cannot connect' "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$(free_port)"
	expect_error 'no migration in progress' "$TERN" ctl "$T/a.sock" migrate-cancel
	alive a || fail "the VM died"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}

# A destination that stops reading (the proxy stalls after 20 RAM batches):
# the source's send blocks, yet migrate-cancel ends the migration at once
# (it shuts the migration socket), query-migrate says cancelled, and the
# guest keeps running on the source (issue 10 case 3).
test_migrate_cancel_when_destination_stalls() {
	local port proxy st i t0 t1 sent prev
	port=$(free_port)
	proxy=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --guest-args "size=256M rate=20 hb_ms=200"
	wait_hb a 3 30
	start_vm b --incoming "tcp:127.0.0.1:$port"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" stall-after-ram 20 >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" >"$T/m.out" 2>&1 &
	local mpid=$!
	# stuck: the bytes sent stop growing
	prev=-1
	for i in $(seq 1 60); do
		sleep 0.5
		sent=$(json_get "$(ctl a query-migrate)" ram.transferred 2>/dev/null || echo 0)
		[ "$sent" -gt 0 ] && [ "$sent" = "$prev" ] && break
		prev=$sent
	done
	[ "$(json_get "$(ctl a query-migrate)" status)" = active ] || fail "the migration is not stuck in active"
	cancel_migration a 'with the destination stalled'
	wait "$mpid" && fail "tern migrate exited 0 for a cancelled migration"
	grep -q cancelled "$T/m.out" || fail "tern migrate did not say cancelled: $(cat "$T/m.out")"
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "the source VM is not running"
	runs_on_and_quits a 20
}
