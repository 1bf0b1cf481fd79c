# test_snapshot_live.sh - live snapshots (the guest runs while its RAM is
# written, paused only for the last round) and the two restores: parallel
# (--restore) and lazy (--restore-lazy, userfaultfd).

# live_snapshot NAME PATH: a live snapshot of running NAME while its
# dirtier dirties; checks the guest kept running through it (heartbeats
# during the snapshot, its own longest stall far below the whole write)
# and that the control socket answered meanwhile. Sets LIVE_BEFORE and
# LIVE_AFTER (heartbeat counters around it) and LIVE_REP (the final reply).
live_snapshot() {
	local name=$1 path=$2 q st stall
	LIVE_BEFORE=$(last_hb "$name")
	"$TERN" ctl "$T/$name.sock" snapshot "$path" --live >"$T/live.rep" 2>"$T/live.err" &
	local cpid=$!
	# the control socket answers while the snapshot runs ("none" until
	# the request has reached it)
	for _ in $(seq 1 100); do
		q=$(ctl "$name" query-snapshot)
		st=$(json_get "$q" status)
		[ "$st" != none ] && break
		sleep 0.02
	done
	case "$st" in active|completed) ;; *) fail "query-snapshot during the snapshot: $q" ;; esac
	json_get "$(ctl "$name" status)" state >/dev/null
	wait $cpid || { cat "$T/live.err" >&2; fail "live snapshot failed: $(cat "$T/live.rep")"; }
	LIVE_REP=$(cat "$T/live.rep")
	LIVE_AFTER=$(last_hb "$name")
	[ "$(json_get "$LIVE_REP" status)" = completed ] || fail "live snapshot not completed: $LIVE_REP"
	[ "$(json_get "$LIVE_REP" rounds)" -ge 2 ] || fail "a live snapshot in one round: $LIVE_REP"
	# the guest ran on: heartbeats came while RAM was written ...
	[ "$LIVE_AFTER" -gt "$LIVE_BEFORE" ] || fail "no heartbeat during the live snapshot: $LIVE_REP"
	# ... and its pause is the last round's, not the whole write's
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["paused-ms"] < r["write-ms"] / 4 else 1)' \
		"$LIVE_REP" || fail "the guest was paused for most of the snapshot: $LIVE_REP"
	wait_hb "$name" $((LIVE_AFTER + 1)) 10
	stall=$(grep -oE '^hb [0-9]+ .*max_stall_us=[0-9]+' "$T/$name.serial" | tail -1 | grep -oE '[0-9]+$')
	[ "${stall:-0}" -lt 1000000 ] || fail "the guest saw a ${stall} us stall during the live snapshot"
	info "live snapshot: $(json_get "$LIVE_REP" rounds) rounds in $(json_get "$LIVE_REP" write-ms) ms," \
		"guest paused $(json_get "$LIVE_REP" paused-ms) ms"
}

# lazy_ok NAME: skip (return 1) when this host gives no userfaultfd
lazy_ok() {
	if grep -q 'cannot open a userfaultfd' "$T/$1.err" 2>/dev/null; then
		skip "no userfaultfd for tern on this host: $(grep userfaultfd "$T/$1.err" | head -1)"
		return 1
	fi
	return 0
}

# restored NAME: NAME was restored from a snapshot taken between heartbeats
# LIVE_BEFORE and LIVE_AFTER: it counts on from there, ends with a clean
# self-check over every page.
restored() {
	local name=$1 first rc
	wait_line "$T/$name.serial" '^hb [0-9]+' 30
	first=$(grep -oE '^hb [0-9]+' "$T/$name.serial" | head -1 | cut -d' ' -f2)
	[ "$first" -gt "$LIVE_BEFORE" ] || fail "$name: counter went back: snapshot at $LIVE_BEFORE..$LIVE_AFTER, restored at $first"
	[ "$first" -le $((LIVE_AFTER + 2)) ] || fail "$name: counter jumped: snapshot at $LIVE_BEFORE..$LIVE_AFTER, restored at $first"
	rc=$(wait_vm "$name" 60)
	[ "$rc" = 0 ] || { cat "$T/$name.err" >&2; fail "restored guest $name exited with $rc"; }
	grep -q '^done errors=0 ' "$T/$name.serial" || fail "restored guest $name's final self-check not clean"
	no_corruption "$name"
}

# A live snapshot of a dirtying guest restores both ways: every page the
# guest wrote during the rounds has its last content.
test_snapshot_live_restore_and_lazy() {
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args \
		"size=384M rate=50 duration=14 hb_ms=200 stall=window"
	wait_line "$T/a.serial" '^fill done' 30
	wait_hb a 3 30
	live_snapshot a "$T/live.snap"
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "source did not quit cleanly"
	no_corruption a

	# lazy first: the guest's TSC counts the time since the snapshot, so
	# a restore started later has less of the dirtier's duration left,
	# and the loader must finish while the guest still runs
	start_vm c --restore-lazy "$T/live.snap"
	lazy_ok c || return 0
	wait_line "$T/c.err" 'lazy restore of .* (complete|stopped)' 60
	grep -q 'lazy restore of .* complete' "$T/c.err" || fail "the lazy restore never completed: $(cat "$T/c.err")"
	restored c
	info "lazy restore $(grep -oE 'complete: .*' "$T/c.err")"

	start_vm b --restore "$T/live.snap"
	restored b
	grep -qE 'restored .* pages in [0-9.]+ ms \(RAM [0-9.]+ ms by [0-9]+ threads' "$T/b.err" ||
		fail "no restore figures: $(cat "$T/b.err")"
}

# A live snapshot fails cleanly (VM running, socket answering) when the file
# cannot be written, and refuses while a lazy restore is still loading.
test_snapshot_live_refusals() {
	start_vm a --guest "$GUEST" --mem 256M --guest-args "size=32M rate=20 hb_ms=200"
	wait_hb a 2 20
	expect_error 'cannot create' "$TERN" ctl "$T/a.sock" snapshot /nonexistent-dir/snap --live
	expect_error 'downtime-ms is for --live' "$TERN" ctl "$T/a.sock" snapshot "$T/x" --downtime-ms 5
	ctl a pause >/dev/null
	expect_error 'is paused' "$TERN" ctl "$T/a.sock" snapshot "$T/x" --live
	ctl a resume >/dev/null
	local n
	n=$(last_hb a)
	wait_hb a $((n + 2)) 10
	ctl a snapshot "$T/ok.snap" --live --downtime-ms 50 >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	no_corruption a
}

# A lazy restore whose snapshot is truncated after the guest started: the
# first page the file can no longer give stops the VM, non-zero, naming the
# page and the file; the guest never runs on a zero page instead (it prints
# no heartbeat and no "done"). tern-faults holds the loader for 1.5 s
# (LAZY_HOLD_MS) so the file can be cut under a restore that has begun.
test_snapshot_lazy_truncated_fails() {
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=256M rate=50 hb_ms=200"
	wait_line "$T/a.serial" '^fill done' 30
	wait_hb a 2 30
	ctl a snapshot "$T/t.snap" --live >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	TERN="$FAULTS" TERN_FAULT_LAZY_HOLD_MS=1500 start_vm d --restore-lazy "$T/t.snap"
	# the control socket comes before the file is read: cut it only once
	# the lazy restore runs (else the start refuses it, tested below)
	wait_line "$T/d.err" 'restoring .* lazily|cannot open a userfaultfd' 30
	lazy_ok d || return 0
	truncate -s 4096 "$T/t.snap"   # every RAM section gone
	local rc
	rc=$(wait_vm d 30)
	[ "$rc" != 0 ] && [ "$rc" != timeout ] || fail "restore from a truncated file exited with $rc"
	grep -qE 'lazy restore: guest page 0x[0-9a-f]+ cannot be loaded from .*t\.snap: .*truncated' "$T/d.err" ||
		fail "the error does not name the page, the file and the cause: $(cat "$T/d.err")"
	if grep -qE '^(hb |done )' "$T/d.serial"; then
		fail "the guest ran on after its snapshot was cut: $(grep -E '^(hb |done )' "$T/d.serial" | head -2)"
	fi
	# a file already short when the lazy restore starts is refused before the guest runs
	expect_error 'truncated' "$TERN" run --restore-lazy "$T/t.snap"
}
