#!/usr/bin/env bash
# luasbc benchmarks against stock Kamailio (app_lua), same Lua script, same SIPp
# traffic, same machine, one server after the other (`make bench`). See
# test/bench/README.md.
#
#   ./test/bench/run.sh                          # OPTIONS, then calls: 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/run.sh            # 5 s per measurement
#   BENCH_ONLY=options ./test/bench/run.sh       # only the OPTIONS benchmark (options.sh)
#   BENCH_ONLY=calls ./test/bench/run.sh         # only the call benchmark (calls.sh)
#
# Every other BENCH_* variable is passed on (see options.sh and calls.sh; BENCH_QUICK,
# BENCH_DURATION, BENCH_REPEAT, BENCH_SERVERS, BENCH_KEEP... apply to both). Each
# benchmark writes its own report, test/out/bench-<date>-options.txt and
# test/out/bench-<date>-calls.txt.
# Exit status: non-zero when a benchmark could not run at all (never on numbers).
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ONLY=${BENCH_ONLY:-"options calls"}
BENCH_STAMP=${BENCH_STAMP:-$(date +%Y%m%d-%H%M%S)}
export BENCH_STAMP

for b in $ONLY; do
	case $b in
	options | calls) ;;
	*)
		echo "run.sh: BENCH_ONLY=$BENCH_ONLY: expected options, calls or both" >&2
		exit 2
		;;
	esac
done

rc=0
for b in $ONLY; do
	"$BENCH/$b.sh" || {
		r=$?
		echo "run.sh: $b benchmark exited with status $r" >&2
		((r == 130 || r == 143)) && exit "$r"
		rc=$r
	}
done
exit "$rc"
