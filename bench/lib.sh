# bench/lib.sh - helpers the bench scripts share (sourced, not run): waiting
# for a VM's console lines and heartbeats, and the guest's own verdict.
# The caller defines log, TIMEOUT (s), POLL (s) and the array PIDS.

now_ns() { date +%s%N; }

# forget PID: no longer one of PIDS (the processes the script started and
# has not reaped).
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# wait_exit PID SECONDS: wait up to SECONDS (tenths polled) for PID to exit.
wait_exit() {
	local pid=$1 i
	for i in $(seq $(( $2 * 10 ))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null
}

# wait_line FILE REGEX PID: poll FILE until a line matches; fails when PID
# exits first or after TIMEOUT.
wait_line() {
	local file=$1 re=$2 pid=$3 deadline
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while :; do
		grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -qE -m1 "$re" "$file" 2>/dev/null && return 0
			log "process $pid exited while waiting for /$re/ in $(basename "$file")"
			return 1
		fi
		if [ "$(now_ns)" -gt "$deadline" ]; then
			log "timeout (${TIMEOUT}s) waiting for /$re/ in $(basename "$file")"
			return 1
		fi
		sleep "$POLL"
	done
}

# hb_after FILE: complete heartbeat lines after the "fill done" line (all of
# them if the file has none, as on a destination).
hb_after() {
	awk '/^fill done/ { n = 0; next } /^hb [0-9]+ .*dirty_mbps=[0-9]+$/ { n++ } END { print n + 0 }' "$1" 2>/dev/null || echo 0
}

# wait_hb FILE COUNT PID: wait for COUNT heartbeats after the fill.
wait_hb() {
	local file=$1 count=$2 pid=$3 deadline
	deadline=$(( $(now_ns) + TIMEOUT * 1000000000 ))
	while [ "$(hb_after "$file")" -lt "$count" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$(now_ns)" -gt "$deadline" ]; then
			log "no $count heartbeats in $(basename "$file") (pid $pid $(kill -0 "$pid" 2>/dev/null && echo running || echo exited))"
			return 1
		fi
		sleep "$POLL"
	done
}

clean_guest() {   # FILE: no corruption reported by the guest
	! grep -qE 'CORRUPTION|EXCEPTION|errors=[1-9]' "$1" 2>/dev/null
}
