#!/usr/bin/env bash
# luasbc benchmarks against stock Kamailio (app_lua), same Lua script, same SIPp
# traffic, same machine, one server after the other (`make bench`). See
# test/bench/README.md.
#
#   ./test/bench/run.sh                          # OPTIONS, calls, topo, regs: 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/run.sh            # 5 s per measurement
#   BENCH_ONLY=options ./test/bench/run.sh       # only the OPTIONS benchmark (options.sh)
#   BENCH_ONLY=calls ./test/bench/run.sh         # only the call benchmark (calls.sh)
#   BENCH_ONLY=topo ./test/bench/run.sh          # the call benchmark per topology hiding variant
#                                                # (calls.sh with BENCH_TOPO="none topoh topos topos-redis")
#   BENCH_ONLY=regs ./test/bench/run.sh          # only the REGISTER benchmark (regs.sh)
#   BENCH_ONLY="calls regs" ./test/bench/run.sh  # several, in that order
#
# Every other BENCH_* variable is passed on (see options.sh, calls.sh, regs.sh;
# BENCH_QUICK, BENCH_DURATION, BENCH_REPEAT, BENCH_SERVERS, BENCH_KEEP... apply to
# all). Each benchmark writes its own report, test/out/bench-<date>-<name>.txt.
# Exit status: non-zero when a benchmark could not run at all (never on numbers).
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ONLY=${BENCH_ONLY:-"options calls topo regs"}
BENCH_STAMP=${BENCH_STAMP:-$(date +%Y%m%d-%H%M%S)}
export BENCH_STAMP

for b in $ONLY; do
	case $b in
	options | calls | topo | regs) ;;
	*)
		echo "run.sh: BENCH_ONLY=$BENCH_ONLY: expected one or more of options, calls, topo, regs" >&2
		exit 2
		;;
	esac
done

rc=0
for b in $ONLY; do
	case $b in
	calls) env -u BENCH_TOPO "$BENCH/calls.sh" ;;
	topo) BENCH_TOPO=${BENCH_TOPO:-"none topoh topos topos-redis"} "$BENCH/calls.sh" ;;
	*) "$BENCH/$b.sh" ;;
	esac || {
		r=$?
		echo "run.sh: $b benchmark exited with status $r" >&2
		((r == 130 || r == 143)) && exit "$r"
		rc=$r
	}
done
exit "$rc"
