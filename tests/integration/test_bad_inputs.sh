# test_bad_inputs.sh - every bad input names its cause and exits non-zero.

test_bad_guest_files() {
	expect_error 'cannot open .*No such file' "$TERN" run --guest "$T/missing.elf"
	echo "not an elf" >"$T/text"
	expect_error 'not an ELF' "$TERN" run --guest "$T/text"
	expect_error 'not a regular file' "$TERN" run --guest /
	# an ELF without a multiboot header (the host's own /bin/true is ELF64
	# but loads at address 0, below 1 MiB)
	expect_error 'segment|multiboot' "$TERN" run --guest /bin/true
}

test_bad_sizes_and_counts() {
	expect_error 'not a size' "$TERN" run --guest "$GUEST" --mem lots
	expect_error 'too small' "$TERN" run --guest "$GUEST" --mem 1M
	expect_error 'multiple of 2M' "$TERN" run --guest "$GUEST" --mem 65M
	expect_error 'from 1 to' "$TERN" run --guest "$GUEST" --cpus 64
	expect_error 'from 1 to' "$TERN" run --guest "$GUEST" --cpus 0
	expect_error 'unknown option' "$TERN" run --guest "$GUEST" --bogus
	expect_error 'needs a value' "$TERN" run --guest
	expect_error 'nothing to run' "$TERN" run
	expect_error 'exclude' "$TERN" run --guest "$GUEST" --restore x
	expect_error 'unknown command' "$TERN" frobnicate
	# a guest too big for the RAM it is given: the dirtier loads at 1 MiB,
	# so it fits in 64M; ask for a region larger than RAM instead
	expect_error 'serial' "$TERN" run --guest "$GUEST" --serial tty
}

test_occupied_ctl_socket() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=0"
	expect_error 'in use' "$TERN" run --guest "$GUEST" --mem 128M --ctl "$T/a.sock"
	# the first VM is undisturbed
	ctl a status >/dev/null
	touch "$T/file"
	expect_error 'not a socket' "$TERN" run --guest "$GUEST" --mem 128M --ctl "$T/file"
	ctl a quit >/dev/null
	wait_vm a 10 >/dev/null
	# a stale socket left by a killed VM is reused
	start_vm b --guest "$GUEST" --mem 128M --guest-args "size=8M rate=0"
	kill -9 "$(vm_pid b)"
	sleep 0.2
	[ -S "$T/b.sock" ] || fail "expected a stale socket file"
	start_vm b --guest "$GUEST" --mem 128M --guest-args "size=8M rate=0"
	ctl b quit >/dev/null
	wait_vm b 10 >/dev/null
}

test_sigterm_stops_vm() {
	start_vm a --guest "$GUEST" --mem 128M --guest-args "size=8M rate=10"
	wait_hb a 1 20
	kill -TERM "$(vm_pid a)"
	local rc
	rc=$(wait_vm a 10)
	[ "$rc" = 143 ] || fail "exit code $rc after SIGTERM, expected 143"
	grep -q 'stopped by signal' "$T/a.err" || fail "no message about the signal"
	[ ! -e "$T/a.sock" ] || fail "control socket not removed"
}
