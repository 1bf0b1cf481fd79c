# test_postcopy.sh - post-copy migration (migrate/postcopy.h): the guest
# runs on the destination before every page is there; missing pages are
# fetched as it touches them and pushed in the background.

PROXY=${PROXY:-tests/integration/wireproxy.py}

# postcopy_done NAME_SRC NAME_DST: the source exited 0 after the switch,
# the destination runs the guest, which counts on from where it was.
postcopy_done() {
	local src=$1 dst=$2
	[ "$(wait_vm "$src" 60)" = 0 ] || { cat "$T/$src.err" >&2; fail "the source did not exit 0 after post-copy"; }
	alive "$dst" || { cat "$T/$dst.err" >&2; fail "the destination is not running the VM"; }
	grep -q 'post-copy complete' "$T/$dst.err" || fail "the destination never said post-copy completed"
}

# A 1 GiB guest dirtying faster than the link: pre-copy would never
# converge; post-copy after the first round completes, the counter goes
# on, and the final self-check over every page is clean.
test_postcopy_fast_guest_completes() { fast_guest_completes; }

# The same with a destination that provisioned all its RAM while it
# waited (--mem: --provision setup): the provisioning stops before the
# stale pages leave the guest's view, or it would map them back and the
# guest would read old bytes (the final self-check reads every page).
test_postcopy_destination_provisioned_at_setup() {
	fast_guest_completes --mem 1G
	grep -q 'provisioned 1024 MiB of guest RAM during setup' "$T/b.err" ||
		fail "the destination did not provision its RAM during setup: $(grep provision "$T/b.err")"
	[ "$(json_get "$(cat "$T/b.stats")" provision.mode)" = setup ] || fail "stats: $(cat "$T/b.stats")"
}

# fast_guest_completes [DESTINATION OPTIONS]
fast_guest_completes() {
	local port st
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=512M rate=max hb_ms=200 duration=14"
	start_vm b --incoming "tcp:127.0.0.1:$port" --stats "$T/b.stats" "$@"
	wait_line "$T/a.serial" '^fill done' 30
	wait_hb a 2 30
	[ $# = 0 ] || wait_line "$T/b.err" 'during setup' 30
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/a.stats" \
		--max-bandwidth 400M --postcopy >"$T/migrate.out" 2>"$T/migrate.err" ||
		{ cat "$T/migrate.err" >&2; fail "post-copy migration failed"; }
	postcopy_done a b
	check_continues a b
	st=$(cat "$T/a.stats")
	[ "$(json_get "$st" status)" = completed ] || fail "source stats: $st"
	[ "$(json_get "$st" postcopy.missing-pages)" -gt 0 ] || fail "nothing was left for post-copy: $st"
	python3 -c 'import json,sys; p=json.loads(sys.argv[1])["postcopy"]; sys.exit(0 if p["switch-pause-ms"] < 5000 else 1)' "$st" ||
		fail "no switch pause figure: $st"
	[ "$(wait_vm b 60)" = 0 ] || { cat "$T/b.err" >&2; fail "the migrated guest did not finish cleanly"; }
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption a; no_corruption b
	info "$(grep -oE 'post-copy complete: .*' "$T/b.err")"
}

# start_postcopy SRC DST PORT [migrate options]: a dirtying 1 GiB guest as
# SRC, a destination DST, a post-copy migration started in the background
# (slowed so that the background stream lasts); returns once the source
# says post-copy is active. $T/migrate.rc gets the client's exit status.
start_postcopy() {
	local src=$1 dst=$2 port=$3 q=
	shift 3
	start_vm "$src" --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=512M rate=max hb_ms=200"
	wait_line "$T/$src.serial" '^fill done' 30
	wait_hb "$src" 2 30
	start_vm "$dst" --incoming "tcp:127.0.0.1:$port" "${DST_ENV[@]}"
	( "$TERN" migrate --ctl "$T/$src.sock" --to "tcp:127.0.0.1:$port" --stats "$T/$src.stats" "$@" \
		>"$T/migrate.out" 2>"$T/migrate.err"; echo $? >"$T/migrate.rc" ) &
	for _ in $(seq 1 300); do
		q=$(ctl "$src" query-migrate 2>/dev/null) || true
		[ "$(json_get "$q" status 2>/dev/null)" = postcopy-active ] && return 0
		[ -s "$T/migrate.rc" ] && break
		sleep 0.05
	done
	cat "$T/migrate.err" "$T/$src.err" >&2
	fail "the migration never reached post-copy: $q"
}
DST_ENV=()

# kill_after_switch SRC DST VICTIM: a post-copy from SRC to DST, and
# VICTIM killed half a second after the switch
kill_after_switch() {
	start_postcopy "$1" "$2" "$(free_port)" --postcopy --max-bandwidth 30M
	sleep 0.5
	kill -9 "$(vm_pid "$3")"
}

# The destination dies after the switch: the source keeps its paused,
# complete copy; a plain resume is refused (the destination may have run
# the guest), cont --force resumes it, and the guest goes on intact.
test_postcopy_destination_killed() {
	local st
	kill_after_switch a b b
	for _ in $(seq 1 200); do [ -s "$T/migrate.rc" ] && break; sleep 0.05; done
	[ "$(cat "$T/migrate.rc" 2>/dev/null)" = 1 ] || fail "tern migrate did not fail: $(cat "$T/migrate.err")"
	alive a || fail "the source died with its destination"
	grep -q 'stays paused here with every page' "$T/a.err" || fail "the source did not say it holds the VM: $(tail -3 "$T/a.err")"
	st=$(ctl a status)
	[ "$(json_get "$st" state)" = paused ] || fail "the source VM is not paused: $st"
	expect_error 'held here since its post-copy failed' "$TERN" ctl "$T/a.sock" resume
	expect_error 'too late|no migration' "$TERN" ctl "$T/a.sock" migrate-cancel
	ctl a cont --force >/dev/null || fail "cont --force was refused"
	expect_error 'not paused' "$TERN" ctl "$T/a.sock" cont --force
	runs_on_and_quits a 20
}

# The source dies after the switch: the destination cannot tell a dead
# source from a broken network, so it pauses the guest and waits for a
# recovery; given up (quit), it says the VM is lost, exits non-zero, and
# its guest never ran on a zero page in place of a missing one.
test_postcopy_source_killed() {
	local rc
	kill_after_switch a b a
	wait_line "$T/b.err" 'post-copy paused' 30
	[ "$(json_get "$(ctl b query-migrate)" status)" = postcopy-paused ] || fail "the destination is not postcopy-paused"
	ctl b quit >/dev/null || fail "quit on the paused destination was refused"
	rc=$(wait_vm b 30)
	[ "$rc" != 0 ] || fail "the destination exited 0 without its pages"
	grep -q 'The VM is lost here' "$T/b.err" || fail "the destination did not say the VM is lost: $(tail -5 "$T/b.err")"
	no_corruption b
	info "destination: $(grep -o 'post-copy failed after the switch: [^.]*' "$T/b.err" | head -1)"
}

# A page request for a GPA outside RAM (tern-faults destination) is
# refused by the source, which goes on serving: the migration completes.
test_postcopy_request_outside_ram_refused() {
	local port
	port=$(free_port)
	TERN="$FAULTS" TERN_FAULT_POSTCOPY_BAD_REQUEST=1 start_vm b --incoming "tcp:127.0.0.1:$port"
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=128M rate=max hb_ms=200 duration=8"
	wait_hb a 2 30
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --postcopy --downtime-ms 1 \
		>"$T/migrate.out" 2>"$T/migrate.err" ||
		{ cat "$T/migrate.err" >&2; fail "post-copy with a bad request failed"; }
	postcopy_done a b
	grep -q 'page request for GPA 0x20001000 refused: outside guest RAM' "$T/a.err" ||
		fail "the source did not refuse the request: $(grep post-copy "$T/a.err")"
	grep -q 'the source refused a page request' "$T/b.err" || fail "the destination was not told"
	[ "$(wait_vm b 30)" = 0 ] || fail "the guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption b
}

# POSTCOPY_MORE out of turn (no POSTCOPY before it) from a hostile peer
# is refused with a reply naming the rule; the destination exits 1.
test_postcopy_more_out_of_turn_refused() {
	local port out rc=0
	port=$(free_port)
	start_vm b --incoming "tcp:127.0.0.1:$port"
	out=$("$(dirname "$TERN")/tools/wire_peer" migrate "tcp:127.0.0.1:$port" $((64 << 20)) 1 postcopy-more) || rc=$?
	[ $rc = 0 ] || fail "POSTCOPY_MORE out of turn was not refused with a message (wire_peer exit $rc: $out)"
	case "$out" in *"POSTCOPY_MORE before POSTCOPY"*) ;; *) fail "the refusal does not name the rule: $out" ;; esac
	[ "$(wait_vm b 10)" = 1 ] || fail "destination exit status $(cat "$T/b.rc"), expected 1"
}

# migrate-start-postcopy switches a running pre-copy; --on-timeout
# postcopy switches one that does not converge; both complete.
test_postcopy_switch_by_command_and_timeout() {
	local port q
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=256M rate=max hb_ms=200"
	wait_hb a 2 30
	expect_error 'no migration is running' "$TERN" ctl "$T/a.sock" migrate-start-postcopy
	start_vm b --incoming "tcp:127.0.0.1:$port"
	( "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --downtime-ms 1 --max-bandwidth 100M \
		--stats "$T/a.stats" >"$T/migrate.out" 2>"$T/migrate.err"; echo $? >"$T/migrate.rc" ) &
	for _ in $(seq 1 100); do
		q=$(ctl a query-migrate 2>/dev/null) || true
		[ "$(json_get "$q" ram.iteration 2>/dev/null)" -ge 2 ] 2>/dev/null && break
		sleep 0.05
	done
	ctl a migrate-start-postcopy >/dev/null || fail "migrate-start-postcopy was refused"
	for _ in $(seq 1 400); do [ -s "$T/migrate.rc" ] && break; sleep 0.05; done
	[ "$(cat "$T/migrate.rc")" = 0 ] || { cat "$T/migrate.err" >&2; fail "the switched migration failed"; }
	postcopy_done a b
	[ "$(json_get "$(cat "$T/a.stats")" postcopy.missing-pages)" -gt 0 ] || fail "no post-copy in: $(cat "$T/a.stats")"
	# and b onwards, by the timeout
	port=$(free_port)
	start_vm c --incoming "tcp:127.0.0.1:$port"
	"$TERN" migrate --ctl "$T/b.sock" --to "tcp:127.0.0.1:$port" --downtime-ms 1 --max-bandwidth 100M \
		--timeout 2 --on-timeout postcopy --stats "$T/b.stats" >"$T/migrate.out" 2>"$T/migrate.err" ||
		{ cat "$T/migrate.err" >&2; fail "post-copy on timeout failed"; }
	postcopy_done b c
	grep -q 'switching to post-copy as asked' "$T/b.err" || fail "b did not switch on the timeout"
	runs_on_and_quits c 20
}

test_postcopy_bad_arguments() {
	expect_error 'postcopy-after .*1 to 1000' "$TERN" migrate --ctl "$T/x.sock" --to tcp:127.0.0.1:1 --postcopy-after 0
	expect_error 'cancel, force or postcopy' "$TERN" migrate --ctl "$T/x.sock" --to tcp:127.0.0.1:1 --on-timeout later
	expect_error 'takes only --force' "$TERN" ctl "$T/x.sock" cont --now
}

# A confidential guest with its helper, dirtying private memory faster
# than the link, moves by post-copy: the destination's helper opens the
# private pages through the mirror's own view of guest RAM (not the
# guest's, which waits on userfaultfd), requests included; shared pages
# stay shared; the self-check is clean and no private page crossed in
# plaintext (requests' answers included in the capture).
test_postcopy_cc_helper() {
	two_platforms
	local port proxy st
	port=$(free_port)
	proxy=$(free_port)
	helper_vm a "$HELPER" 2 1G \
		"size=256M rate=max hb_ms=200 duration=16 migctl=1 marker=TERN-PRIVATE-MARKER share=0x1000000:0x100000"
	wait_hb a 3 30
	dest_vm b "$port" --stats "$T/b.stats"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" pass --tee "$T/wire.bin" >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" --stats "$T/a.stats" --postcopy \
		--downtime-ms 1 >"$T/migrate.out" 2>"$T/migrate.err" || { cat "$T/migrate.err" >&2; fail "post-copy failed"; }
	postcopy_done a b
	st=$(cat "$T/a.stats")
	[ "$(json_get "$st" postcopy.missing-pages)" -gt 0 ] || fail "nothing was left for post-copy: $st"
	[ "$(json_get "$st" private.helper.pages)" -gt 1000 ] || fail "private pages did not go through the helper: $st"
	check_continues a b
	[ "$(json_get "$(ctl b status)" helper.state)" = serving ] || fail "the destination's helper is not serving"
	[ "$(wait_vm b 60)" = 0 ] || { cat "$T/b.err" >&2; fail "the migrated guest did not finish cleanly"; }
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption b
	marker_only_in_shared "$T/wire.bin" 0x1000000 0x1100000 || fail "a private page crossed in plaintext"
	info "$(grep -oE 'post-copy complete: [0-9]+ pages requested' "$T/b.err"), $(json_get "$st" private.helper.pages) helper pages"
}

# The same by the platform's path (--private-path psp): private pages
# keep the one ordered data connection; a request for one only points the
# stream at it. Slow, but complete and correct.
test_postcopy_cc_psp() {
	two_platforms
	local port st
	port=$(free_port)
	TERN_PSP_SOCKET=$T/pspA.sock start_vm a --guest "$GUEST" --mem 256M --cpus 1 --cc emu \
		--guest-args "size=32M rate=max hb_ms=200 duration=10 migctl=1 share=0x1000000:0x100000"
	wait_hb a 3 30
	TERN_PSP_SOCKET=$T/pspB.sock start_vm b --incoming "tcp:127.0.0.1:$port" --cc emu
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/a.stats" --postcopy \
		--downtime-ms 1 --private-path psp >"$T/migrate.out" 2>"$T/migrate.err" ||
		{ cat "$T/migrate.err" >&2; fail "post-copy by the PSP path failed"; }
	postcopy_done a b
	st=$(cat "$T/a.stats")
	[ "$(json_get "$st" postcopy.missing-pages)" -gt 0 ] || fail "nothing was left for post-copy: $st"
	[ "$(json_get "$st" private.psp.pages)" -gt 1000 ] || fail "private pages did not go by the platform: $st"
	check_continues a b
	[ "$(wait_vm b 60)" = 0 ] || { cat "$T/b.err" >&2; fail "the migrated guest did not finish cleanly"; }
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption b
}

# The network between the two ends goes (the proxy cuts every connection)
# in the middle of post-copy: the destination pauses the guest with the
# pages it has and waits, the source holds its copy; migrate-recover on
# the destination and migrate --resume on the source finish the move,
# sending only what is still missing; the guest goes on, intact.
test_postcopy_cut_then_recover() {
	local port proxy rport q
	port=$(free_port)
	proxy=$(free_port)
	rport=$(free_port)
	start_vm b --incoming "tcp:127.0.0.1:$port" --stats "$T/b.stats"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" cut-on-usr1 >"$T/proxy.out" 2>&1 &
	local ppid=$!
	wait_line "$T/proxy.out" ready 10
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=512M rate=max hb_ms=200 duration=25"
	wait_line "$T/a.serial" '^fill done' 30
	wait_hb a 2 30
	( "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" --stats "$T/a.stats" --postcopy \
		--max-bandwidth 30M >"$T/migrate.out" 2>"$T/migrate.err"; echo $? >"$T/migrate.rc" ) &
	for _ in $(seq 1 300); do
		q=$(ctl a query-migrate 2>/dev/null) || true
		[ "$(json_get "$q" status 2>/dev/null)" = postcopy-active ] && break
		sleep 0.05
	done
	[ "$(json_get "$q" status)" = postcopy-active ] || fail "never reached post-copy: $q"
	sleep 0.5
	kill -USR1 "$ppid"
	wait_line "$T/b.err" 'post-copy paused' 30
	for _ in $(seq 1 200); do [ -s "$T/migrate.rc" ] && break; sleep 0.05; done
	[ "$(cat "$T/migrate.rc")" = 1 ] || fail "tern migrate did not report the break: $(cat "$T/migrate.err")"
	[ "$(json_get "$(ctl a query-migrate)" status)" = postcopy-paused ] || fail "the source is not postcopy-paused"
	[ "$(json_get "$(ctl b query-migrate)" status)" = postcopy-paused ] || fail "the destination is not postcopy-paused"
	expect_error 'a post-copy is paused here' "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$rport"
	expect_error 'migrate-recover needs' "$TERN" ctl "$T/b.sock" migrate-recover
	ctl b migrate-recover "tcp:127.0.0.1:$rport" >/dev/null || fail "migrate-recover was refused"
	wait_line "$T/b.err" 'waiting on tcp:127.0.0.1:[0-9]+ for the source to resume' 10
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$rport" --resume --stats "$T/a2.stats" \
		>"$T/migrate2.out" 2>"$T/migrate2.err" || { cat "$T/migrate2.err" >&2; fail "migrate --resume failed"; }
	postcopy_done a b
	grep -q 'post-copy resumed' "$T/b.err" || fail "the destination never resumed"
	grep -qE 'post-copy resumes: the destination still lacks [0-9]+ pages' "$T/a.err" || fail "the source did not resume"
	[ "$(wait_vm b 60)" = 0 ] || { cat "$T/b.err" >&2; fail "the migrated guest did not finish cleanly"; }
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption a; no_corruption b
	info "$(grep -oE 'still lacks [0-9]+ pages' "$T/a.err")"
}

# A confidential guest changes a range between shared and private while
# it moves by post-copy (flip=, every 300 ms): the changes made on the
# destination hold (its page status is what the guest said last), every
# page arrives with its content (self-check clean), and no private page
# crossed in plaintext outside the ranges the guest shared.
test_postcopy_cc_status_changes() {
	two_platforms
	local port proxy st last want got
	port=$(free_port)
	proxy=$(free_port)
	helper_vm a "$HELPER" 2 512M "size=128M rate=max hb_ms=200 duration=14 migctl=1 \
marker=TERN-PRIVATE-MARKER share=0x1000000:0x100000 flip=0x1100000:0x100000 flip_ms=300"
	wait_hb a 3 30
	dest_vm b "$port"
	python3 "$PROXY" "$proxy" 127.0.0.1 "$port" pass --tee "$T/wire.bin" >"$T/proxy.out" 2>&1 &
	wait_line "$T/proxy.out" ready 10
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$proxy" --stats "$T/a.stats" --postcopy \
		--downtime-ms 1 --max-bandwidth 40M >"$T/migrate.out" 2>"$T/migrate.err" ||
		{ cat "$T/migrate.err" >&2; fail "post-copy failed"; }
	postcopy_done a b
	[ "$(json_get "$(cat "$T/a.stats")" postcopy.missing-pages)" -gt 0 ] || fail "nothing was left for post-copy"
	wait_line "$T/b.serial" '^flip [0-9]+ .* ret=0' 10
	# the guest changed the range here, during or after post-copy, and
	# the destination's page status is what it said last
	# (a status read between two flips of the console counts; retried
	# when a flip landed while it was read)
	local n1 n2
	for _ in $(seq 1 20); do
		n1=$(grep -c '^flip ' "$T/b.serial")
		st=$(ctl b status)
		n2=$(grep -c '^flip ' "$T/b.serial")
		[ "$n1" = "$n2" ] && break
	done
	[ "$n1" = "$n2" ] || fail "could not read the status between two flips"
	last=$(grep -oE '^flip [0-9]+ .*to=(shared|private) ret=0' "$T/b.serial" | tail -1)
	want=256
	case "$last" in *to=shared*) want=512 ;; esac
	got=$(json_get "$st" shared-pages)
	[ "$got" = "$want" ] || fail "shared pages $got after '$last' (expected $want)"
	[ "$(grep -c '^flip ' "$T/b.serial")" -ge 2 ] || fail "the guest did not change its pages on the destination"
	[ "$(wait_vm b 60)" = 0 ] || { cat "$T/b.err" >&2; fail "the guest did not finish cleanly"; }
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption b
	marker_only_in_shared "$T/wire.bin" 0x1000000 0x1200000 || fail "a private page crossed in plaintext"
	info "$(grep -c '^flip ' "$T/b.serial") status changes on the destination"
}
