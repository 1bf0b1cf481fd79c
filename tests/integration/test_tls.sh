# test_tls.sh - migration over TLS (--tls-creds): a migration completes
# with the guest's memory intact; every bad credential or a plaintext peer
# is refused before any RAM moves, with the cause named on the source, and
# the source VM keeps running. A refused connection does not end the
# destination's wait (wire__accept_source: a stray peer must not kill it);
# a source with the right credentials is then still served.

CERTS=${CERTS:-scripts/tls-certs}

# tls_creds: $T/ok (CA 1), $T/wrongca (its own CA), $T/expired and
# $T/wrongname (CA 1, expired / server named other.example)
tls_creds() {
	command -v openssl >/dev/null || skip "openssl: the openssl command is not installed (scripts/tls-certs needs it)"
	"$CERTS" "$T/ok" 2>/dev/null || fail "scripts/tls-certs failed"
	"$CERTS" "$T/wrongca" 2>/dev/null || fail "scripts/tls-certs failed"
	for d in expired wrongname; do
		mkdir -p "$T/$d"
		cp "$T/ok/ca-cert.pem" "$T/ok/ca-key.pem" "$T/$d/"
	done
	"$CERTS" "$T/expired" --expired 2>/dev/null || fail "scripts/tls-certs --expired failed"
	"$CERTS" "$T/wrongname" --name other.example 2>/dev/null || fail "scripts/tls-certs --name failed"
}

# refused SRC_CREDS|- DST_NAME MESSAGE_RE [DST_LOG_RE]: a migration from a
# (running) to the waiting DST_NAME is refused with MESSAGE_RE; no RAM
# moved; a keeps running, heartbeats go on; the destination logged
# DST_LOG_RE and still waits.
refused() {
	local creds=$1 dst=$2 re=$3 dre=${4:-} port
	port=$(cat "$T/$dst.port")
	if [ "$creds" = - ]; then
		expect_error "$re" "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/r.stats"
	else
		expect_error "$re" "$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" \
			--tls-creds "$creds" --stats "$T/r.stats"
	fi
	note "source: $(grep -h 'migration to' "$T/a.err" | tail -1)"
	[ "$(json_get "$(cat "$T/r.stats")" ram.transferred)" = 0 ] || fail "RAM moved before the refusal"
	alive a || fail "the source died"
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "the source VM is not running"
	wait_hb a $(( $(last_hb a) + 2 )) 10
	if [ -n "$dre" ]; then
		wait_line "$T/$dst.err" "$dre" 10
		note "destination: $(grep -hE "$dre" "$T/$dst.err" | tail -1)"
	fi
	alive "$dst" || fail "the destination stopped waiting"
	[ "$(json_get "$(ctl "$dst" query-migrate)" status)" = setup ] || fail "the destination has begun receiving"
}

# start_dst NAME [tern run args]: a destination on a free loopback port
start_dst() {
	local name=$1 port
	shift
	port=$(free_port)
	echo "$port" >"$T/$name.port"
	start_vm "$name" --incoming "tcp:127.0.0.1:$port" "$@"
}

migrate_tls_ok() {
	local dst=$1 port
	shift
	port=$(cat "$T/$dst.port")
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$port" --stats "$T/a.stats" "$@" \
		>"$T/migrate.out" 2>"$T/migrate.err" || {
		cat "$T/migrate.err" >&2
		fail "the TLS migration failed"
	}
	[ "$(wait_vm a 20)" = 0 ] || fail "the source did not exit 0 after migrating"
	alive "$dst" || fail "the destination is not running the VM"
}

# A migration over TLS completes; both ends say what carried it; the guest
# goes on with its memory intact. Before it, on the same destination, a
# source with another CA's certificate is refused.
test_tls_migrate() {
	tls_creds
	start_vm a --guest "$GUEST" --mem 512M --cpus 2 --guest-args "size=128M rate=50 hb_ms=200 duration=20"
	wait_hb a 3 30
	start_dst b --tls-creds "$T/ok"
	refused "$T/wrongca" b 'not signed by (our|its) CA|wrong CA' 'refused a source: .*(wrong CA|not signed)'
	migrate_tls_ok b --tls-creds "$T/ok"
	grep -qE 'tls: TLS 1.3 .* established' "$T/a.err" || fail "the source did not say TLS was established"
	local mode
	mode=$(json_get "$(cat "$T/a.stats")" tls)
	[ "$mode" = kernel ] || [ "$mode" = openssl ] || fail "query-migrate's tls on the source is '$mode'"
	info "tls carried by $mode"
	[ "$(json_get "$(ctl b query-migrate)" tls)" = "$mode" ] || fail "the destination's query-migrate tls differs"
	check_continues a b
	[ "$(wait_vm b 40)" = 0 ] || fail "the migrated guest did not finish cleanly"
	grep -q '^done errors=0' "$T/b.serial" || fail "final self-check on the destination not clean"
	no_corruption a; no_corruption b
}

# Each wrong credential, and each plaintext side, is refused before RAM
# moves; the source keeps running through all of them.
test_tls_refusals() {
	tls_creds
	start_vm a --guest "$GUEST" --mem 256M --guest-args "size=32M rate=20 hb_ms=200"
	wait_hb a 3 30
	start_dst b --tls-creds "$T/ok"
	# the destination's CA is not the source's (and the other way round)
	refused "$T/wrongca" b 'wrong CA' 'refused a source: .*wrong CA'
	# the source's certificate has expired
	refused "$T/expired" b 'expired' 'refused a source: .*expired'
	# a plaintext source to a TLS destination, refused in plaintext too
	refused - b 'did not start TLS: plaintext peer refused' 'refused a source: .*plaintext peer refused'
	# the destination's certificate names another host
	start_dst c --tls-creds "$T/wrongname"
	refused "$T/ok" c "not for '127.0.0.1'.*other.example.*name mismatch"
	# the destination's certificate has expired
	start_dst d --tls-creds "$T/expired"
	refused "$T/ok" d "destination's certificate has expired"
	# a TLS source to a plaintext destination
	start_dst e
	refused "$T/ok" e 'does not speak TLS.*plaintext peer refused' 'started TLS, this destination runs without --tls-creds'
	# --tls-authz: the client's name must match
	start_dst f --tls-creds "$T/ok" --tls-authz someone-else
	refused "$T/ok" f 'refused our certificate' "refused a source: .*not for 'someone-else'.*name mismatch"
	# the destinations still wait; quit ends each with a non-zero status
	for d in b c d e f; do
		ctl "$d" quit >/dev/null
		[ "$(wait_vm "$d" 10)" != 0 ] || fail "destination $d exited 0 without a VM"
	done
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	no_corruption a
}

# Missing or broken credentials: refused at once, naming the file.
test_tls_bad_creds() {
	tls_creds
	expect_error "$T/none.*(No such file|not a directory)" "$TERN" run --incoming tcp:127.0.0.1:1 --tls-creds "$T/none"
	mkdir -p "$T/half"
	cp "$T/ok/ca-cert.pem" "$T/ok/server-cert.pem" "$T/half/"
	expect_error 'server-key.pem: No such file' "$TERN" run --incoming tcp:127.0.0.1:1 --tls-creds "$T/half"
	cp "$T/wrongca/server-key.pem" "$T/half/"
	expect_error 'key does not match|does not match' "$TERN" run --incoming tcp:127.0.0.1:1 --tls-creds "$T/half"
	expect_error 'needs --tls-creds' "$TERN" run --incoming tcp:127.0.0.1:1 --tls-authz x
	expect_error 'need --incoming' "$TERN" run --guest "$GUEST" --tls-creds "$T/ok"
	expect_error 'needs --tls-creds' "$TERN" migrate --ctl "$T/x.sock" --to tcp:127.0.0.1:1 --tls-hostname x
	# the source: a directory without the client's files fails the
	# migration before it connects, and the VM runs on
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10 hb_ms=200"
	wait_hb a 2 30
	start_dst b --tls-creds "$T/ok"
	rm "$T/half/server-key.pem"
	refused "$T/half" b 'client-cert.pem: No such file'
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
}

# The wire code runs unchanged on the fd tls__client returns: migrate-cancel
# (a shutdown() of that fd) ends a TLS migration at once and the source
# runs on; a destination killed mid-stream fails the migration, not the
# source. Then a retry over TLS succeeds.
test_tls_cancel_and_killed_destination() {
	local t0 t1 st i
	tls_creds
	start_vm a --guest "$GUEST" --mem 512M --guest-args "size=256M rate=20 hb_ms=200"
	wait_hb a 3 30
	start_dst b --tls-creds "$T/ok"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$(cat "$T/b.port")" --tls-creds "$T/ok" \
		--max-bandwidth 20M >"$T/m.out" 2>&1 &
	local mpid=$!
	for i in $(seq 1 100); do
		[ "$(json_get "$(ctl a query-migrate)" ram.transferred)" -gt 0 ] && break
		sleep 0.05
	done
	[ "$(json_get "$(ctl a query-migrate)" status)" = active ] || fail "the TLS migration is not active"
	cancel_migration a
	wait "$mpid" && fail "tern migrate exited 0 for a cancelled migration"
	[ "$(wait_vm b 20)" = 1 ] || fail "the destination did not fail after the cancel"
	wait_hb a $(( $(last_hb a) + 2 )) 20
	# the destination dies mid-stream
	start_dst c --tls-creds "$T/ok"
	"$TERN" migrate --ctl "$T/a.sock" --to "tcp:127.0.0.1:$(cat "$T/c.port")" --tls-creds "$T/ok" \
		--max-bandwidth 20M >"$T/m.out" 2>&1 &
	mpid=$!
	sleep 1
	kill -9 "$(vm_pid c)"
	wait "$mpid" && fail "tern migrate exited 0 with the destination killed"
	grep -q failed "$T/m.out" || fail "migrate did not report the failure: $(cat "$T/m.out")"
	alive a || fail "the source died"
	[ "$(json_get "$(ctl a status)" state)" = running ] || fail "the source VM is not running"
	wait_hb a $(( $(last_hb a) + 2 )) 20
	# and over TLS again, it moves
	start_dst d --tls-creds "$T/ok"
	migrate_tls_ok d --tls-creds "$T/ok"
	wait_hb d 1 20
	ctl d quit >/dev/null
	wait_vm d 10 >/dev/null
	no_corruption a; no_corruption d
}
