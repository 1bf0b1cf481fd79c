#!/usr/bin/env bash
# run-integration.sh - run every test_* function in tests/integration/*.sh
# against the binaries in $BUILD (default build). Prints PASS/FAIL/SKIP per
# test and a final "N passed, N failed, N skipped" line.
# Usage: [BUILD=dir] [FILTER=re] [KVM_TESTS=all|only|none] [TEST_TIMEOUT=s] $0
#   TEST_TIMEOUT (default 600): a test still running then fails as timed out
#   KVM_TESTS=only runs just the files that need KVM, none just the others
#   (scripts/test runs the two halves in different places on hosts without
#   /dev/kvm: the KVM half inside scripts/nested-kvm).
#
# What a test needs from the host: a test file sets REQUIRES (capability
# names of `tern host-check`, see lib.sh `requires`); unset means "kvm".
# A test function may call `requires` itself for more. The host-check
# report is taken once per run and handed to the tests in $HOST_CHECK.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export TERN=$BUILD/tern GUEST=${GUEST:-$BUILD/guest/dirtier.elf}
FILTER=${FILTER:-.}
pass=0 failed=0 skipped=0 failures=""

HOST_CHECK=$(mktemp /tmp/tern-host-check.XXXXXX)
export HOST_CHECK
trap 'rm -f "$HOST_CHECK"' EXIT
# exit 1 only says `tern run` cannot work here: the report is still whole
"$TERN" host-check --json >"$HOST_CHECK" 2>/dev/null
[ -s "$HOST_CHECK" ] || echo "run-integration: '$TERN host-check --json' gave no report; every test will fail"

KVM_TESTS=${KVM_TESTS:-all}
for f in tests/integration/test_*.sh; do
	needs=$(bash -c "source tests/integration/lib.sh; source $f; echo \${REQUIRES-kvm}")
	case "$KVM_TESTS $needs" in
	"only "*kvm*|"none "*kvm*) [ "$KVM_TESTS" = only ] || continue ;;
	"only "*) continue ;;
	esac
	for t in $(bash -c "source tests/integration/lib.sh; source $f; declare -F" |
		   awk '{print $3}' | grep '^test_' | grep -E "$FILTER"); do
		T=$(mktemp -d /tmp/tern-it.XXXXXX)
		start=$(date +%s)
		# bounded: a test that hangs fails (named) instead of stalling the
		# run; timeout signals the test's whole process group, and the
		# test's EXIT trap (stop_all) still runs on that TERM
		export T f t
		timeout -k 20 "${TEST_TIMEOUT:-600}" bash -c 'set -u; source tests/integration/lib.sh
			source "$f"; requires ${REQUIRES-kvm}; trap stop_all EXIT; "$t"' >"$T/log" 2>&1
		rc=$?
		[ $rc -eq 124 ] || [ $rc -eq 137 ] &&
			echo "TIMEOUT: $t did not finish within ${TEST_TIMEOUT:-600} s" >>"$T/log"
		dur=$(( $(date +%s) - start ))
		if [ $rc -eq 77 ] && [ -s "$T/skip-reason" ]; then
			skipped=$((skipped + 1))
			echo "SKIP $t: $(cat "$T/skip-reason") [$BUILD]"
			rm -rf "$T"
		elif [ $rc -eq 0 ]; then
			pass=$((pass + 1))
			info=""
			[ -s "$T/info" ] && info=": $(tr '\n' ' ' <"$T/info")"
			echo "PASS $t (${dur}s) [$BUILD]$info"
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
echo "integration [$BUILD]: $pass passed, $failed failed, $skipped skipped${failures:+ (failed:$failures)}"
[ $failed -eq 0 ]
