# test_postcopy.sh - post-copy migration (migrate/postcopy.h): the guest
# runs on the destination before every page is there; missing pages are
# fetched as it touches them and pushed in the background.

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
test_postcopy_fast_guest_completes() {
	local port st
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 1G --cpus 2 --guest-args "size=512M rate=max hb_ms=200 duration=14"
	wait_line "$T/a.serial" '^fill done' 30
	wait_hb a 2 30
	start_vm b --incoming "tcp:127.0.0.1:$port" --stats "$T/b.stats"
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
