#!/usr/bin/env bash
# run-integration.sh - run every test_* function in tests/integration/*.sh
# against the binaries in $BUILD (default build). Prints PASS/FAIL per test
# and a final "N passed, N failed" line. Usage: [BUILD=dir] [FILTER=re] $0
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export TERN=$BUILD/tern GUEST=${GUEST:-build/guest/dirtier.elf}
FILTER=${FILTER:-.}
pass=0 failed=0 failures=""

for f in tests/integration/test_*.sh; do
	for t in $(bash -c "source tests/integration/lib.sh; source $f; declare -F" |
		   awk '{print $3}' | grep '^test_' | grep -E "$FILTER"); do
		T=$(mktemp -d /tmp/tern-it.XXXXXX)
		start=$(date +%s)
		( set -u; export T; source tests/integration/lib.sh; source "$f"
		  trap stop_all EXIT; "$t" ) >"$T/log" 2>&1
		rc=$?
		dur=$(( $(date +%s) - start ))
		if [ $rc -eq 0 ]; then
			pass=$((pass + 1))
			echo "PASS $t (${dur}s) [$BUILD]"
			rm -rf "$T"
		else
			failed=$((failed + 1))
			failures="$failures $t"
			echo "FAIL $t (${dur}s) [$BUILD]"
			sed 's/^/    /' "$T/log" | tail -30
			for e in "$T"/*.err; do
				[ -f "$e" ] && { echo "    --- $(basename "$e")"; tail -15 "$e" | sed 's/^/    /'; }
			done
		fi
	done
done
echo "integration [$BUILD]: $pass passed, $failed failed${failures:+ (failed:$failures)}"
[ $failed -eq 0 ]
