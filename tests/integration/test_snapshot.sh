# test_snapshot.sh - snapshot a running VM, restore it in a new process.

# The restored guest continues where it stopped: its heartbeat counter goes
# on, its page-status record and migration bit are the same, and its final
# self-check over every page is clean.
test_snapshot_restore_continues() {
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args \
		"size=128M rate=50 duration=8 private=0x1000000:0x200000 migctl=0"
	wait_hb a 3 30
	local rep before after st1
	before=$(last_hb a)
	rep=$(ctl a snapshot "$T/snap")
	after=$(last_hb a)
	[ "$(json_get "$rep" ok)" = true ] || fail "snapshot failed: $rep"
	[ "$(json_get "$rep" zero-pages)" -gt 0 ] || fail "no zero page skipped: $rep"
	st1=$(ctl a status)
	ctl a quit >/dev/null
	[ "$(wait_vm a 10)" = 0 ] || fail "source did not quit cleanly"
	[ -s "$T/snap" ] || fail "no snapshot file"
	# sparse: a 1G guest with a 128M region is far smaller than 1G
	[ "$(stat -c %s "$T/snap")" -lt $((400 << 20)) ] || fail "snapshot is not sparse"

	start_vm b --restore "$T/snap"
	local st2
	st2=$(ctl b status)
	for k in shared-pages migration-control cpus mem; do
		[ "$(json_get "$st1" $k)" = "$(json_get "$st2" $k)" ] ||
			fail "$k differs after restore: $(json_get "$st1" $k) vs $(json_get "$st2" $k)"
	done
	wait_line "$T/b.serial" '^hb [0-9]+' 20
	local first
	first=$(grep -oE '^hb [0-9]+' "$T/b.serial" | head -1 | cut -d' ' -f2)
	# the snapshot was taken between heartbeats $before and $after
	[ "$first" -gt "$before" ] || fail "counter went back: snapshot at $before..$after, restored at $first"
	[ "$first" -le $((after + 1)) ] || fail "counter jumped: snapshot at $before..$after, restored at $first"
	local rc
	rc=$(wait_vm b 40)
	[ "$rc" = 0 ] || fail "restored guest exited with $rc"
	grep -q '^done errors=0 ' "$T/b.serial" || fail "restored guest's final self-check not clean"
	no_corruption b
}

# A snapshot can be restored twice, and a restored VM can be snapshotted again.
test_snapshot_chain() {
	start_vm a --guest "$GUEST" --mem 256M --guest-args "size=32M rate=50 hb_ms=250"
	wait_hb a 2 20
	ctl a snapshot "$T/s1" >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	start_vm b --restore "$T/s1"
	wait_hb b $(( $(last_hb a) + 2 )) 20
	ctl b snapshot "$T/s2" >/dev/null
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	start_vm c --restore "$T/s2"
	wait_hb c $(( $(last_hb b) + 2 )) 20
	ctl c quit >/dev/null
	[ "$(wait_vm c 10)" = 0 ] || fail "third generation did not quit cleanly"
	no_corruption a; no_corruption b; no_corruption c
}

# Truncated, corrupted or foreign files are refused with the cause named,
# and the file is left as it was.
test_restore_refuses_bad_files() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10"
	wait_hb a 1 20
	ctl a snapshot "$T/good" >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	local size sum
	size=$(stat -c %s "$T/good")
	head -c $((size / 2)) "$T/good" >"$T/trunc"
	expect_error 'truncated' "$TERN" run --restore "$T/trunc"
	head -c $((size - 8)) "$T/good" >"$T/trunc2"
	expect_error 'truncated|END' "$TERN" run --restore "$T/trunc2"
	cp "$T/good" "$T/flip"
	printf '\xff' | dd of="$T/flip" bs=1 seek=$((size / 3)) conv=notrunc status=none
	expect_error 'checksum' "$TERN" run --restore "$T/flip"
	cp "$T/good" "$T/hdr"
	printf 'X' | dd of="$T/hdr" bs=1 seek=0 conv=notrunc status=none
	expect_error 'magic' "$TERN" run --restore "$T/hdr"
	cp "$T/good" "$T/ver"
	printf '\x09' | dd of="$T/ver" bs=1 seek=8 conv=notrunc status=none
	expect_error 'version' "$TERN" run --restore "$T/ver"
	expect_error 'magic|truncated' "$TERN" run --restore "$GUEST"
	expect_error 'cannot open' "$TERN" run --restore "$T/missing"
	sum=$(sha256sum <"$T/good")
	"$TERN" run --restore "$T/flip" >/dev/null 2>&1
	[ "$(sha256sum <"$T/good")" = "$sum" ] || fail "restore attempts changed the good file"
	# and the good one still works
	start_vm b --restore "$T/good"
	wait_hb b $(( $(last_hb a) + 1 )) 20
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
}

# A snapshot to an unwritable place fails cleanly; the VM keeps running.
test_snapshot_failure_keeps_vm_running() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 1 20
	expect_error 'cannot create' "$TERN" ctl "$T/a.sock" snapshot /nonexistent-dir/snap
	local n
	n=$(last_hb a)
	wait_hb a $((n + 2)) 10
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "VM not running after failed snapshot"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}

# Symlinks planted where a snapshot is written are never followed: not at a
# predictable temporary name (there is none any more: mkostemp), and a
# symlink at the snapshot path itself is replaced, its target untouched.
test_snapshot_does_not_follow_symlinks() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 1 20
	echo "victim" >"$T/victim"
	local pid
	pid=$(vm_pid a)
	# the old temporary names: PATH.tmp.<pid>
	ln -s "$T/victim" "$T/x.snap.tmp.$pid"
	ln -s "$T/victim" "$T/y.snap"
	ctl a snapshot "$T/x.snap" >/dev/null
	ctl a snapshot "$T/y.snap" >/dev/null
	[ "$(cat "$T/victim")" = victim ] || fail "a snapshot wrote through a symlink into the victim"
	[ -f "$T/x.snap" ] && [ ! -L "$T/x.snap" ] || fail "x.snap is not a regular file"
	[ -f "$T/y.snap" ] && [ ! -L "$T/y.snap" ] || fail "the symlink y.snap was not replaced by the snapshot"
	ls "$T" | grep -q '\.snap\.tmp\.[A-Za-z0-9]\{6\}$' && fail "a temporary file was left behind"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}

# Forged snapshots whose checksums are all valid (tests/tools/snap_forge):
# each content rule refuses the file before the VM runs, naming the cause;
# the unforged snapshot restores (the control).
test_restore_refuses_forged_state() {
	local forge m want
	forge=$(dirname "$TERN")/tools/snap_forge
	start_vm a --guest "$GUEST" --mem 128M --cpus 2 --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 2 30
	ctl a snapshot "$T/a.snap" >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	while IFS='|' read -r m want; do
		"$forge" "$T/a.snap" "$T/f.snap" "$m" || fail "snap_forge $m failed"
		expect_error "$want" timeout -k 5 60 "$TERN" run --restore "$T/f.snap"
	done <<'CASES'
config-v2|VM_CONFIG version 2 is not supported
xsave-16|XSAVE area of 16 bytes
serial-ff|serial record: reserved register bits set
sregs-zero|special registers cannot run: the code segment is not present
msrs-empty|MSR list is empty
cpuid-empty|CPUID table is empty
dup-serial|two DEV_SERIAL sections
dup-pagestatus|two PAGE_STATUS sections
unknown-config|VM config: unknown required field 0x7fff
unknown-vcpu|vCPU record: unknown required field 0x7fff
unknown-serial|serial record: unknown required field 0x7fff
unknown-guestcall|guest-call record: unknown required field 0x7fff
CASES
	start_vm b --restore "$T/a.snap"
	wait_hb b $(( $(last_hb a) + 2 )) 30
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	no_corruption b
}
