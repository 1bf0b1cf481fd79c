# test_incoming_ctl_kvm.sh - the destination's control socket during a real
# migration (issue 9, issue 10 case 4): while RAM arrives, query-migrate
# gives the destination's live figures and status the source's shape; once
# the VM runs, the same socket (no second server, no gap) serves it. A
# migrate-cancel on the destination mid-receive ends the receive and the
# source keeps its VM. Needs KVM (run under scripts/nested-kvm on a host
# without it); test_incoming_ctl.sh covers the waiting phase everywhere.

# receiving NAME_DST: wait until NAME_DST's query-migrate says active with
# bytes in; prints that reply
receiving() {
	local out=
	for _ in $(seq 1 200); do
		# grep, not json_get: python starts slowly in an emulated machine
		# and the receive must still be running when this returns
		out=$("$TERN" ctl --timeout 3 "$T/$1.sock" query-migrate 2>/dev/null || true)
		if echo "$out" | grep -q '"status":"active"' && echo "$out" | grep -q '"transferred":[1-9]'; then
			echo "$out"
			return 0
		fi
		sleep 0.1
	done
	fail "the destination never reported an active receive with bytes in (last: $out)"
}

test_incoming_ctl_live_figures_then_vm() {
	local port out ino a1 a2
	port=$(free_port)
	# dirtying well below the capped link (a native host dirties at the
	# asked rate; above the cap pre-copy would never converge), and a
	# bound on the whole migration in any case
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=96M rate=2 hb_ms=200"
	wait_hb a 3 60
	start_vm b --incoming "tcp:127.0.0.1:$port"
	ino=$(stat -c %i "$T/b.sock")
	[ "$(json_get "$(ctl b status)" state)" = incoming ] || fail "destination status before the source"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --max-bandwidth 8M \
		--timeout 120 --on-timeout force >"$T/m.out" 2>&1 &
	local mpid=$!
	out=$(receiving b)
	a1=$(json_get "$out" ram.transferred)
	out=$(ctl b status)
	[ "$(json_get "$out" state)" = incoming ] || fail "status mid-receive: $out"
	[ "$(json_get "$out" cpus)" = 2 ] || fail "status mid-receive does not give the source's cpus: $out"
	[ "$(json_get "$out" mem)" = $((512 << 20)) ] || fail "status mid-receive does not give the mem: $out"
	ctl_reply_b pause | grep -q 'no VM yet' || fail "pause mid-receive was not refused"
	sleep 0.5
	out=$(ctl b query-migrate)
	a2=$(json_get "$out" ram.transferred)
	[ "$(json_get "$out" status)" = completed ] || [ "$a2" -gt "$a1" ] ||
		fail "the destination's transferred bytes did not grow ($a1 then $a2)"
	info "destination saw $a1 then $a2 bytes mid-receive"
	wait "$mpid" || { cat "$T/m.out" >&2; fail "the migration failed"; }
	wait_hb b $(( $(last_hb b) + 2 )) 30
	[ "$(stat -c %i "$T/b.sock")" = "$ino" ] || fail "the control socket was replaced after the VM arrived"
	out=$(ctl b status)
	[ "$(json_get "$out" state)" = running ] || fail "status after arrival: $out"
	[ "$(json_get "$(ctl b query-migrate)" status)" = completed ] || fail "query-migrate after arrival"
	ctl b quit >/dev/null
	[ "$(wait_vm b 20)" = 0 ] || fail "destination exit status after quit"
	no_corruption b
}

ctl_reply_b() { "$TERN" ctl --timeout 3 "$T/b.sock" "$@" 2>&1 || true; }

test_incoming_ctl_cancel_mid_receive() {
	local port out
	port=$(free_port)
	start_vm a --guest "$GUEST" --mem 512M --cpus 1 --guest-args "size=96M rate=20 hb_ms=200"
	wait_hb a 3 60
	start_vm b --incoming "tcp:127.0.0.1:$port"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --max-bandwidth 4M >"$T/m.out" 2>&1 &
	local mpid=$!
	receiving b >/dev/null
	out=$(ctl b migrate-cancel)
	[ "$(json_get "$out" ok)" = true ] || fail "migrate-cancel on the destination: $out"
	[ "$(wait_vm b 10)" = 1 ] || fail "destination exit status $(cat "$T/b.rc"), expected 1"
	grep -q 'incoming migration cancelled (the source keeps the VM): in RECEIVING: cancelled by migrate-cancel' "$T/b.err" || {
		cat "$T/b.err" >&2; fail "no message saying the receive was cancelled"; }
	wait "$mpid" && fail "tern migrate exited 0 though the destination cancelled"
	alive a || fail "the source died"
	wait_hb a $(( $(last_hb a) + 2 )) 20
	ctl a quit >/dev/null
	wait_vm a 20 >/dev/null
	no_corruption a
}
