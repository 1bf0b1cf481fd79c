# test_bench_tools.sh - the benchmark's helpers measure and draw what they
# say: bench/provision_bw, bench/tcp_bw with several streams, and
# bench/plot_timeline.sh (no VM needed); and bench/postcopy.sh in its smoke
# mode (VMs: it requires kvm and userfaultfd itself).
REQUIRES=""

bench_build() {
	make -s -C bench OUT="$T/bench" >"$T/make.log" 2>&1 || fail "bench/Makefile: $(cat "$T/make.log")"
}

# every method provisions a fresh memfd and reports a rate; best is the fastest
test_bench_provision_bw_reports_every_method() {
	bench_build
	local j
	j=$("$T/bench/provision_bw" 64 2) || fail "provision_bw failed: $j"
	python3 - "$j" <<'PY' || fail "provision_bw output: $j"
import json, sys
d = json.loads(sys.argv[1])
m = d["methods"]
want = {"first_touch", "fallocate", "populate_write", "fallocate_2t", "fallocate_write_2t"}
assert set(m) == want, m
for k, v in m.items():
    assert v["gbps"] > 0 and v["min_gbps"] <= v["gbps"] <= v["max_gbps"], (k, v)
assert d["best"]["gbps"] == max(v["gbps"] for v in m.values()), d["best"]
assert m[d["best"]["method"]]["gbps"] == d["best"]["gbps"]
PY
	expect_error 'usage' "$T/bench/provision_bw" 0
}

# N streams deliver every byte, counted at both ends
test_bench_tcp_bw_parallel_streams() {
	bench_build
	local port
	port=$(free_port)
	"$T/bench/tcp_bw" recv 127.0.0.1 "$port" streams=3 >"$T/recv.out" 2>"$T/recv.err" &
	local rpid=$!
	wait_line "$T/recv.err" '^ready' 10
	"$T/bench/tcp_bw" send 127.0.0.1 "$port" 96 streams=3 >"$T/send.out" 2>"$T/send.err" ||
		fail "tcp_bw send: $(cat "$T/send.err")"
	wait "$rpid" || fail "tcp_bw recv: $(cat "$T/recv.err")"
	for f in recv send; do
		[ "$(json_get "$(cat "$T/$f.out")" bytes)" = $((96 << 20)) ] ||
			fail "$f counted $(cat "$T/$f.out"), not 96 MiB"
		[ "$(json_get "$(cat "$T/$f.out")" streams)" = 3 ] || fail "$f: not 3 streams: $(cat "$T/$f.out")"
	done
	expect_error 'plain streams' "$T/bench/tcp_bw" recv 127.0.0.1 "$port" work streams=2
}

# the example timeline becomes a chart with its rounds and its pause; a
# stats file without a timeline is refused by name
test_bench_plot_timeline() {
	command -v gnuplot >/dev/null || skip "gnuplot: not installed (apt-get install gnuplot-nox)"
	bench/plot_timeline.sh bench/timeline-example.json "$T/t.svg" "example" 2>"$T/plot.err" ||
		fail "plot_timeline: $(cat "$T/plot.err")"
	grep -q '<svg' "$T/t.svg" || fail "not an SVG"
	grep -q 'pause 11.9 ms' "$T/t.svg" || fail "the pause is not marked"
	for p in 261120 77700 20550 6280 2340; do
		grep -q ">$p<" "$T/t.svg" || fail "round with $p pages not labelled"
	done
	bench/plot_timeline.sh bench/timeline-example.json "$T/t.png" 2>"$T/plot.err" ||
		fail "plot_timeline png: $(cat "$T/plot.err")"
	[ "$(head -c 4 "$T/t.png" | tail -c 3)" = PNG ] || fail "not a PNG"
	echo '{"status": "completed", "total-time": 5}' >"$T/old.json"
	expect_error 'no "timeline" array' bench/plot_timeline.sh "$T/old.json" "$T/x.svg"
	expect_error 'must end in .svg or .png' bench/plot_timeline.sh bench/timeline-example.json "$T/x.jpg"
	python3 -c 'import json; d = json.load(open("bench/timeline-example.json")); del d["timeline"][1]["bytes"]; json.dump(d, open("'"$T"'/bad.json", "w"))'
	expect_error 'timeline\[1\] lacks bytes' bench/plot_timeline.sh "$T/bad.json" "$T/x.svg"
}

# bench/postcopy.sh in its smoke mode (one round, a 256 MiB guest idle and at
# 50 MB/s): the table, the goals and the JSON carry every figure for both
# modes, and the 50 MB/s guest went post-copy (the figures, not their values)
test_bench_postcopy_smoke() {
	requires kvm userfaultfd
	BENCH_N=1 BENCH_SIZES=256M BENCH_RATES="0 50" BENCH_TCP_MIB=256 BENCH_RTT_N=500 BENCH_OUT="$T/out" \
		bench/postcopy.sh >"$T/pc.json" 2>"$T/pc.err" || fail "bench/postcopy.sh: $(tail -20 "$T/pc.err")"
	cmp -s "$T/pc.json" "$T/out/postcopy.json" || fail "stdout is not out/postcopy.json"
	python3 - "$T/out/postcopy.json" <<'PY' || fail "postcopy.json lacks figures: $(cat "$T/out/postcopy.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["benchmark"] == "postcopy" and d["failures"] == 0, d["failures"]
assert d["limits"]["tcp"]["gbps"]["median"] > 0 and d["limits"]["rtt_us"]["p99"]["median"] > 0, d["limits"]
for tag in ("256M_idle", "256M_50MBps"):
    c = d["cases"][tag]
    for mode in ("pre", "post"):
        m = c[mode]
        for k in ("total_ms", "pause_ms", "guest_stall_switch_ms", "payload_ratio_to_tcp"):
            assert m[k]["n"] == 1, (tag, mode, k)
        assert "full_speed_ms" in m or m.get("full_speed_missed") == 1, (tag, mode, m)
    assert c["post_over_pre_total"] > 0, c
post = d["cases"]["256M_50MBps"]["post"]
assert post["postcopy_engaged"] == 1, post
for k in ("switch_pause_ms", "dst_switch_pause_ms", "missing_pages", "requests", "guest_blocked_ms", "last_page_ms",
          "after_first_round_ms"):
    assert post[k]["n"] == 1, k
assert post["requests"]["median"] == 0 or post["req_lat_p99_us"]["n"] == 1, post
goals = {g["goal"]: g for g in d["goals"]}
for want in ("256M_50MBps: post-copy switch pause (source) <= 10 ms",
             "256M_idle: post-copy total time no longer than pre-copy's",
             "256M_50MBps: post-copy total time shorter than pre-copy's"):
    assert goals[want]["met"] in (True, False) and goals[want]["ratio_to_target"] > 0, (want, goals)
PY
	grep -q '^| case | mode | total ms | after round 1 ms | pause ms (VMM) |' "$T/out/postcopy.md" ||
		fail "no table: $(cat "$T/out/postcopy.md")"
	[ "$(grep -c '^| 256M_' "$T/out/postcopy.md")" = 4 ] || fail "not 4 rows: $(cat "$T/out/postcopy.md")"
	grep -qE '^- 256M_50MBps: post-copy switch pause .*: (met|missed), [0-9.]+x the target' "$T/out/postcopy.md" ||
		fail "no switch pause goal: $(cat "$T/out/postcopy.md")"
	grep -q 'request latency median / p99 us' "$T/pc.err" || fail "the table is not on stderr"
	info "$(grep -E '^\| 256M_50MBps \| post-copy' "$T/out/postcopy.md")"
}
