#!/usr/bin/env bash
# luasbc benchmark: luasbc against stock Kamailio (app_lua), same Lua script, same
# SIPp traffic, same machine, one server after the other. See test/bench/README.md.
#
#   ./test/bench/run.sh                  # 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/run.sh    # 5 s per measurement
#
# Environment (all optional):
#   BENCH_QUICK=1            5 s per measurement instead of 30
#   BENCH_DURATION=s         seconds per measurement (overrides the above)
#   BENCH_REPEAT=n           repetitions of every measurement, median reported (3)
#   BENCH_CPU_RATE=cps       fixed rate of the CPU-per-message measurement (2000)
#   BENCH_RATES="a b c"      rate steps of the max-rate search, ascending
#   BENCH_RECV_TIMEOUT_MS=ms a 200 later than this is a failed transaction (1000)
#   BENCH_SERVERS="luasbc kamailio"  which servers to measure
#   BENCH_QUIET_WAIT=s       wait up to s seconds for other CPU load to stop before each run (30)
#   BENCH_KEEP=1             keep the temporary work directory
#
# The benchmark never fails on numbers: it prints them. It exits non-zero only
# when it cannot run at all (no SIPp, no server could be started...).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
OUT=$ROOT/test/out
KAM_MODDIR=/usr/lib/x86_64-linux-gnu/kamailio/modules

# Ports (35000-35999). SBC_PORT must match listen: in luasbc.yaml.
SBC_PORT=35060
KAM_PORT=35070
SIPP_PORT=35100
SIPP_CP=35101 # SIPp control port
SIPP_MP=35110 # SIPp media port (unused by the scenario, but SIPp binds it)

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	DUR=${BENCH_DURATION:-5}
	MODE="quick"
else
	DUR=${BENCH_DURATION:-30}
	MODE="full"
fi
REPEAT=${BENCH_REPEAT:-3}
CPU_RATE=${BENCH_CPU_RATE:-2000}
RATES=${BENCH_RATES:-"2000 4000 8000 12000 16000 20000 24000 28000 32000 40000"}
RECV_TIMEOUT_MS=${BENCH_RECV_TIMEOUT_MS:-1000}
SERVERS=${BENCH_SERVERS:-"luasbc kamailio"}
OK_PCT=99.9  # a rate step passes with >= this % of transactions answered 200 in time
RATE_PCT=95  # ... and SIPp achieving >= this % of the target rate
QUIET_WAIT=${BENCH_QUIET_WAIT:-30} # seconds to wait for other load to go away before a run
QUIET_PCT=15 # "quiet": other processes use less than this % of one core

CLK_TCK=$(getconf CLK_TCK)
STAMP=$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d /tmp/luasbc-bench.XXXXXX)
DETAIL=$WORK/detail.txt
: >"$DETAIL"

SBC_PID=""
KAM_PID=""
KAM_CHILDREN=""
KAM_NPROC="its"
SAMPLER_PID=""

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$DETAIL" >&2; }

# ---------------------------------------------------------------- cleanup

stop_sampler() {
	if [[ -n $SAMPLER_PID ]]; then
		kill "$SAMPLER_PID" 2>/dev/null || true
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=""
	fi
}

# wait_gone PID SECONDS: wait for a process to exit.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

stop_sbc() {
	if [[ -n $SBC_PID ]]; then
		kill -TERM "$SBC_PID" 2>/dev/null || true
		wait_gone "$SBC_PID" 8 || kill -KILL "$SBC_PID" 2>/dev/null || true
		wait "$SBC_PID" 2>/dev/null || true
		SBC_PID=""
	fi
}

stop_kam() {
	local p
	if [[ -n $KAM_PID ]]; then
		kill -TERM "$KAM_PID" 2>/dev/null || true
		wait_gone "$KAM_PID" 8 || kill -KILL "$KAM_PID" 2>/dev/null || true
		wait "$KAM_PID" 2>/dev/null || true
		for p in $KAM_CHILDREN; do
			kill -KILL "$p" 2>/dev/null || true
		done
		KAM_PID=""
		KAM_CHILDREN=""
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_sampler
	stop_sbc
	stop_kam
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

ensure_tools() {
	local pkgs=() sudo=()
	command -v kamailio >/dev/null 2>&1 || pkgs+=(kamailio)
	[[ -e $KAM_MODDIR/app_lua.so ]] || pkgs+=(kamailio-lua-modules)
	command -v sipp >/dev/null 2>&1 || pkgs+=(sip-tester)
	((${#pkgs[@]})) || return 0
	[[ $(id -u) == 0 ]] || sudo=(sudo -n)
	say "installing ${pkgs[*]} with apt-get"
	timeout 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$WORK/apt.log" 2>&1 || true
	if ! timeout 900 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$WORK/apt.log" 2>&1; then
		say "apt-get install ${pkgs[*]} failed:"
		tail -5 "$WORK/apt.log" >&2
	fi
}

# cpu_ticks PID...: utime+stime summed over the processes, in clock ticks.
cpu_ticks() {
	local p s t=0
	for p in "$@"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) } # drop "pid (comm) "; field 3 (state) is now $1
		# shellcheck disable=SC2086
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

# mem_kb FIELD PID...: sum of a /proc/PID/status field (VmRSS, VmHWM) in kB.
mem_kb() {
	local f=$1 p t=0 v
	shift
	for p in "$@"; do
		v=$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# pss_kb PID...: sum of the proportional set size (shared pages divided among sharers).
pss_kb() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# sampler OUTFILE PID...: every 0.5 s, keep the peak of sum(VmRSS) and sum(Pss).
sampler() {
	local out=$1 rss pss max_rss=0 max_pss=0
	shift
	while :; do
		rss=$(mem_kb VmRSS "$@")
		pss=$(pss_kb "$@")
		((rss > max_rss)) && max_rss=$rss
		((pss > max_pss)) && max_pss=$pss
		echo "$max_rss $max_pss" >"$out.tmp" && mv "$out.tmp" "$out"
		sleep 0.5
	done
}

median() {
	sort -g | awk '{ a[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A/B with two decimals, n/a when either is missing or B is 0.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

mib() { awk -v k="$1" 'BEGIN { if (k == "n/a" || k == "") print "n/a"; else printf "%.1f MiB\n", k / 1024 }'; }

# sipp_run TAG TARGET RATE COUNT
# Runs one SIPp UAC (OPTIONS, no retransmissions) and prints
#   created success failed elapsed_s sipp_cpu_s rc timeouts unexpected late_replies sipp_stalls
sipp_run() {
	local tag=$1 target=$2 rate=$3 count=$4
	local stf=$WORK/$tag.csv scr=$WORK/$tag.screen
	local limit=$((rate * RECV_TIMEOUT_MS / 1000 * 2 + 100))
	local gt=$((count / rate + RECV_TIMEOUT_MS / 1000 + 15)) # SIPp global timeout, s
	local res cpu rc
	rm -f "$stf"
	res=$(
		rc=0
		ulimit -n $((limit + 1024)) 2>/dev/null || true # SIPp wants open calls < open files
		timeout --kill-after=5 $((gt + 15)) sipp "$target" -sf "$BENCH/options-uac.xml" \
			-i 127.0.0.1 -p "$SIPP_PORT" -cp "$SIPP_CP" -mp "$SIPP_MP" \
			-nr -nd -recv_timeout "$RECV_TIMEOUT_MS" -r "$rate" -rp 1000 -l "$limit" -m "$count" \
			-buff_size 4194304 -nostdin -timeout "$gt" \
			-trace_stat -stf "$stf" -fd 1 -trace_err -error_file "$WORK/$tag.err" >"$scr" 2>&1 </dev/null || rc=$?
		echo "$rc"
		times
	)
	rc=$(sed -n 1p <<<"$res")
	# `times` line 2: user and system time of the children (SIPp) of that subshell.
	cpu=$(sed -n 3p <<<"$res" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
		print s }')
	if [[ ! -s $stf ]]; then
		echo "0 0 $count 0 ${cpu:-0} $rc 0 0 0 0"
		return
	fi
	awk -F';' -v cpu="${cpu:-0}" -v rc="$rc" '
		NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
		{ last = $0 }
		function epoch(s,   a) { split(s, a, "\t"); return a[3] + 0 }
		END {
			split(last, f, ";")
			el = epoch(f[h["CurrentTime"]]) - epoch(f[h["StartTime"]])
			printf "%d %d %d %.3f %s %s %d %d %d %d\n", f[h["OutgoingCall(C)"]], f[h["SuccessfulCall(C)"]], \
				f[h["FailedCall(C)"]], el, cpu, rc, f[h["FailedTimeoutOnRecv(C)"]], \
				f[h["FailedUnexpectedMessage(C)"]], f[h["DeadCallMsgs(C)"]], \
				f[h["WatchdogMinor(C)"]] + f[h["WatchdogMajor(C)"]]
		}' "$stf"
}

# smoke TARGET: a few transactions until they are all answered (server ready), max ~10 s.
smoke() {
	local i r
	for ((i = 0; i < 10; i++)); do
		r=$(sipp_run "smoke" "$1" 50 20)
		[[ $(awk '{ print $2 }' <<<"$r") == 20 ]] && return 0
		sleep 1
	done
	return 1
}

# ---------------------------------------------------------------- servers

# start_sbc CONFIG: starts bin/sbc, returns 0 once it answers OPTIONS.
start_sbc() {
	local cfg=$1
	"$ROOT/bin/sbc" -c "$cfg" >>"$WORK/luasbc.log" 2>&1 </dev/null &
	SBC_PID=$!
	if smoke "127.0.0.1:$SBC_PORT"; then
		return 0
	fi
	if ! kill -0 "$SBC_PID" 2>/dev/null; then
		wait "$SBC_PID" 2>/dev/null || true
		SBC_PID=""
	fi
	stop_sbc
	return 1
}

start_kam() {
	local args=(-f "$BENCH/kamailio.cfg" -A "BENCH_SCRIPT=\"$SCRIPT\"" -A "BENCH_LISTEN=udp:127.0.0.1:$KAM_PORT"
		-m 64 -M 8 -P "$WORK/kamailio.pid" -w "$WORK" -Y "$WORK/run")
	mkdir -p "$WORK/run"
	if ! timeout 30 kamailio -c "${args[@]}" >"$WORK/kamailio-check.log" 2>&1; then
		say "kamailio -c refused $BENCH/kamailio.cfg:"
		tail -20 "$WORK/kamailio-check.log" >&2
		return 1
	fi
	kamailio "${args[@]}" -DD -E >>"$WORK/kamailio.log" 2>&1 </dev/null &
	KAM_PID=$!
	if ! smoke "127.0.0.1:$KAM_PORT"; then
		say "Kamailio does not answer OPTIONS; its log:"
		tail -20 "$WORK/kamailio.log" >&2
		stop_kam
		return 1
	fi
	KAM_CHILDREN=$(pgrep -P "$KAM_PID" | tr '\n' ' ' || true)
	KAM_NPROC=$(wc -w <<<"$KAM_PID $KAM_CHILDREN")
	return 0
}

# ---------------------------------------------------------------- measuring

# busy_ticks: user+nice+system clock ticks of the whole machine (all CPUs).
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }

# wait_quiet: before a measurement, wait up to BENCH_QUIET_WAIT seconds for the
# machine to be idle (< QUIET_PCT % of one core busy over 1 s; the server under test
# is idle then). Other load on the machine skews every number.
wait_quiet() {
	local waited=0 b0 b1 pct
	while :; do
		b0=$(busy_ticks)
		sleep 1
		b1=$(busy_ticks)
		pct=$(((b1 - b0) * 100 / CLK_TCK))
		((pct < QUIET_PCT)) && break
		if ((waited == 0)); then
			say "    machine busy ($pct% of a core used by other processes), waiting up to ${QUIET_WAIT}s"
		fi
		waited=$((waited + 1))
		if ((waited >= QUIET_WAIT)); then
			say "    still busy ($pct%) after ${QUIET_WAIT}s, measuring anyway"
			break
		fi
	done
}

# one_run NAME TAG TARGET RATE PID...: one SIPp run with CPU accounting. Sets
# R_N R_OK R_FAILED R_PCT R_ACH R_SRV_TICKS R_SRV_PCT R_SIPP_PCT R_OTHER_PCT R_FAILS.
one_run() {
	local name=$1 tag=$2 target=$3 rate=$4
	shift 4
	local t0 t1 b0 b1 r created ok failed el scpu rc tmo unexp late stalls other
	wait_quiet
	R_N=$((rate * DUR))
	b0=$(busy_ticks)
	t0=$(cpu_ticks "$@")
	r=$(sipp_run "$tag" "$target" "$rate" "$R_N")
	t1=$(cpu_ticks "$@")
	b1=$(busy_ticks)
	read -r created ok failed el scpu rc tmo unexp late stalls <<<"$r"
	R_OK=$ok
	R_FAILED=$failed
	R_SRV_TICKS=$((t1 - t0))
	R_PCT=$(awk -v o="$ok" -v n="$R_N" 'BEGIN { printf "%.3f", 100 * o / n }')
	R_ACH=$(awk -v c="$created" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", c / e; else print 0 }')
	R_SRV_PCT=$(awk -v d="$R_SRV_TICKS" -v hz="$CLK_TCK" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", 100 * d / hz / e; else print 0 }')
	R_SIPP_PCT=$(awk -v c="$scpu" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", 100 * c / e; else print 0 }')
	# Whatever else ran meanwhile (other processes; also the kernel's softirq work is
	# not in these user+nice+system ticks), in % of one core.
	other=$(awk -v b=$((b1 - b0)) -v d="$R_SRV_TICKS" -v c="$scpu" -v hz="$CLK_TCK" -v e="$el" \
		'BEGIN { o = (b - d) / hz - c; if (o < 0) o = 0; if (e > 0) printf "%.0f", 100 * o / e; else print 0 }')
	R_OTHER_PCT=$other
	echo "$other" >>"$WORK/$name.noise"
	R_FAILS=""
	if ((failed > 0 || stalls > 0 || ok < R_N)); then
		local codes=""
		if ((unexp > 0)) && [[ -f $WORK/$tag.err ]]; then
			# The unexpected messages are in SIPp's error file: count their status codes.
			codes=$(grep -ao "(index 1), received 'SIP/2\.0 [0-9][0-9][0-9]" "$WORK/$tag.err" | awk '{ print $5 }' | sort | uniq -c |
				awk '{ printf " %sx%s", $2, $1 }' || true)
			[[ -z $codes ]] || codes=" (${codes# })"
		fi
		R_FAILS=" [no 200 in time: $tmo, other reply: $unexp$codes, late replies: $late, SIPp stalls: $stalls, not sent: $((R_N - created))]"
	fi
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$WORK/$tag.err"
}

# measure NAME TARGET PID...: REPEAT x (CPU at CPU_RATE, max-rate search); results in $WORK/NAME.*
measure() {
	local name=$1 target=$2
	shift 2
	local pids=("$@") rep rate verdict us best bound rss pss hwm
	: >"$WORK/$name.max"
	: >"$WORK/$name.cpu"
	: >"$WORK/$name.noise"
	sampler "$WORK/$name.mem" "${pids[@]}" &
	SAMPLER_PID=$!
	say "[$name] pids ${pids[*]}"
	for ((rep = 1; rep <= REPEAT; rep++)); do
		# (b) CPU time per message at a fixed rate.
		one_run "$name" "$name-cpu-$rep" "$target" "$CPU_RATE" "${pids[@]}"
		us="n/a"
		if ((R_OK > 0)); then
			us=$(awk -v d="$R_SRV_TICKS" -v hz="$CLK_TCK" -v o="$R_OK" 'BEGIN { printf "%.2f", d * 1e6 / hz / o }')
			echo "$us" >>"$WORK/$name.cpu"
		fi
		say "[$name] rep $rep/$REPEAT  CPU @ $CPU_RATE/s for ${DUR}s: $R_OK/$R_N ok ($R_PCT%)," \
			"server CPU $(awk -v d="$R_SRV_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }') s" \
			"= $us us/msg; other load ${R_OTHER_PCT}%$R_FAILS"

		# (a) highest rate sustained for DUR seconds.
		best=0
		bound=""
		for rate in $RATES; do
			sleep 1
			one_run "$name" "$name-rate-$rep-$rate" "$target" "$rate" "${pids[@]}"
			if awk -v p="$R_PCT" -v a="$R_ACH" -v r="$rate" -v okp="$OK_PCT" -v rp="$RATE_PCT" \
				'BEGIN { exit !(p >= okp && a >= r * rp / 100) }'; then
				verdict="pass"
				best=$rate
			else
				verdict="FAIL"
				((R_SIPP_PCT >= 90)) && bound=" (SIPp saturated a core: the limit may be the load generator)"
			fi
			us=$(awk -v d="$R_SRV_TICKS" -v hz="$CLK_TCK" -v o="$R_OK" 'BEGIN { if (o > 0) printf "%.1f", d * 1e6 / hz / o; else print "n/a" }')
			say "[$name] rep $rep/$REPEAT  rate $rate/s: $R_OK/$R_N ok ($R_PCT%), achieved $R_ACH/s," \
				"CPU: server $R_SRV_PCT% ($us us/msg), SIPp $R_SIPP_PCT%, other ${R_OTHER_PCT}% -> $verdict$R_FAILS"
			[[ $verdict == pass ]] || break
		done
		echo "$best" >>"$WORK/$name.max"
		say "[$name] rep $rep/$REPEAT  max sustained rate: $best/s$bound"
	done
	stop_sampler
	hwm=$(mem_kb VmHWM "${pids[@]}")
	read -r rss pss <"$WORK/$name.mem" || {
		rss=0
		pss=0
	}
	echo "$hwm $rss $pss" >"$WORK/$name.memres"
	say "[$name] memory: sum VmHWM $(mib "$hwm"), peak sum VmRSS $(mib "$rss"), peak sum Pss $(mib "$pss") over ${#pids[@]} process(es)"
}

# log_problems NAME FILE PATTERN: count and sample warning/error lines of a server log.
log_problems() {
	local name=$1 file=$2 pat=$3 n
	[[ -f $file ]] || return 0
	n=$(grep -cE "$pat" "$file" || true)
	echo "$name log: $n warning/error line(s)"
	if ((n > 0)); then
		# Group by message: drop the timestamp (luasbc) or pid prefix (Kamailio) and
		# luasbc's per-message JSON fields; then show one full line of each group.
		grep -E "$pat" "$file" | sed -E 's/^[0-9TZ:.+-]+[[:space:]]+//; s/^ *[0-9]+\([0-9]+\) //; s/\t\{.*$//' |
			cut -c1-200 | sort | uniq -c | sort -rn | head -8 | while read -r cnt msg; do
			printf '    %6d x %s\n' "$cnt" "$msg"
			printf '             e.g. %s\n' "$(grep -F -m1 -- "$msg" "$file" | cut -c1-400)"
		done
	fi
}

# ---------------------------------------------------------------- main
# Everything runs from main, so bash has parsed the whole file before it starts
# (editing run.sh while a benchmark runs cannot derail it).

main() {

	mkdir -p "$OUT"
	REPORT=$OUT/bench-$STAMP.txt
	LOGDIR=$OUT/bench-$STAMP.logs

	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	say "luasbc benchmark, $MODE mode: ${DUR}s per measurement, $REPEAT repetitions; work dir $WORK"
	ensure_tools
	command -v sipp >/dev/null 2>&1 || { say "sipp is not installed and could not be installed"; exit 1; }

	# Build.
	SBC_NOTE=""
	if ! (cd "$ROOT" && timeout 600 make build) >"$WORK/build.log" 2>&1; then
		say "make build failed; trying go build -o bin/sbc ./cmd/sbc. make said:"
		tail -3 "$WORK/build.log" | sed 's/^/    /' >&2
		if ! (cd "$ROOT" && timeout 600 go build -o bin/sbc ./cmd/sbc) >>"$WORK/build.log" 2>&1; then
			SBC_NOTE="bin/sbc does not build (see $LOGDIR/build.log)"
			say "$SBC_NOTE"
		fi
	fi

	# The script: lua/default.lua itself, the edge REQINIT operators start from.
	SCRIPT=$ROOT/lua/default.lua
	SBC_CFG=$BENCH/luasbc.yaml
	SCRIPT_NOTE="the REQINIT of the shipped default script"
	if [[ -z $SBC_NOTE && " $SERVERS " == *" luasbc "* ]]; then
		if ! chk=$(timeout 30 "$ROOT/bin/sbc" -c "$SBC_CFG" --check 2>&1); then
			SBC_NOTE="sbc --check refuses $SBC_CFG: $(tr '\n' ' ' <<<"$chk")"
			say "$SBC_NOTE"
		fi
	fi

	# luasbc.
	if [[ " $SERVERS " == *" luasbc "* && -z $SBC_NOTE ]]; then
		if ! start_sbc "$SBC_CFG"; then
			SBC_NOTE="luasbc does not answer OPTIONS sip:127.0.0.1:$SBC_PORT with 200"
			say "$SBC_NOTE; its log:"
			tail -10 "$WORK/luasbc.log" >&2
		fi
		if [[ -z $SBC_NOTE ]]; then
			say "luasbc up on udp:127.0.0.1:$SBC_PORT (pid $SBC_PID, $SBC_CFG)"
			measure luasbc "127.0.0.1:$SBC_PORT" "$SBC_PID"
			stop_sbc
		fi
	elif [[ " $SERVERS " == *" luasbc "* ]]; then
		say "skipping luasbc: $SBC_NOTE"
	fi

	# Kamailio, with the very same script file.
	KAM_NOTE=""
	if [[ " $SERVERS " == *" kamailio "* ]]; then
		if ! command -v kamailio >/dev/null 2>&1; then
			KAM_NOTE="kamailio is not installed"
		elif ! start_kam; then
			KAM_NOTE="Kamailio did not start (see $LOGDIR/kamailio.log)"
		fi
		if [[ -z $KAM_NOTE ]]; then
			# shellcheck disable=SC2086
			say "Kamailio up on udp:127.0.0.1:$KAM_PORT (main pid $KAM_PID, children $KAM_CHILDREN)"
			# shellcheck disable=SC2086
			measure kamailio "127.0.0.1:$KAM_PORT" "$KAM_PID" $KAM_CHILDREN
			stop_kam
		else
			say "skipping Kamailio: $KAM_NOTE"
		fi
	fi

	# ---------------------------------------------------------------- report

	result() { # NAME KIND -> median, or n/a
		local f=$WORK/$1.$2
		if [[ -s $f ]]; then median <"$f"; else echo "n/a"; fi
	}
	memres() { # NAME FIELD(1 hwm, 2 rss, 3 pss) -> kB or n/a
		local f=$WORK/$1.memres
		if [[ -s $f ]]; then awk -v i="$2" '{ print $i }' "$f"; else echo "n/a"; fi
	}

	SBC_VER=$("$ROOT/bin/sbc" --version 2>/dev/null) || SBC_VER="luasbc (not built)"
	KAM_VER=$( (kamailio -v 2>/dev/null || true) | awk 'NR == 1 { sub(/^version: /, ""); sub(/ +$/, ""); print }')
	SIPP_VER=$( (sipp -v 2>&1 || true) | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/\.$//')

	{
		echo "luasbc benchmark $STAMP ($MODE mode)"
		echo "  $SBC_VER | $KAM_VER | $SIPP_VER"
		echo "  machine: $(nproc) CPU(s), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r);" \
			"load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "  script: ${SCRIPT#"$ROOT"/} — $SCRIPT_NOTE"
		echo "  traffic: SIPp UAC, OPTIONS sip:127.0.0.1:<port> (no user) -> 200 Keepalive, UDP loopback, no retransmissions,"
		echo "           a transaction succeeds when its 200 arrives within ${RECV_TIMEOUT_MS} ms"
		echo "  each measurement ${DUR}s, repeated $REPEAT times, median shown; servers run one after the other"
		[[ -z $SBC_NOTE ]] || echo "  luasbc NOT measured: $SBC_NOTE"
		[[ -z $KAM_NOTE ]] || echo "  Kamailio NOT measured: $KAM_NOTE"
		echo
		printf '%-10s %14s %16s %14s %14s\n' "server" "max rate/s" "CPU us/msg" "peak RSS" "peak PSS"
		printf '%-10s %14s %16s %14s %14s\n' "" "(>=${OK_PCT}% ok)" "@ ${CPU_RATE}/s" "" ""
		for s in luasbc kamailio; do
			printf '%-10s %14s %16s %14s %14s\n' "$s" "$(result "$s" max)" "$(result "$s" cpu)" \
				"$(mib "$(memres "$s" 1)")" "$(mib "$(memres "$s" 3)")"
		done
		printf '%-10s %14s %16s %14s %14s\n' "ratio" \
			"$(ratio "$(result luasbc max)" "$(result kamailio max)")" \
			"$(ratio "$(result luasbc cpu)" "$(result kamailio cpu)")" \
			"$(ratio "$(memres luasbc 1)" "$(memres kamailio 1)")" \
			"$(ratio "$(memres luasbc 3)" "$(memres kamailio 3)")"
		echo "ratio = luasbc / Kamailio: above 1 is better for max rate, below 1 is better for the others."
		echo "max rate: highest step of [$RATES] passed; the search stops at the first failing step."
		echo "peak RSS: luasbc VmHWM; Kamailio sum of VmHWM over $KAM_NPROC processes,"
		echo "          which counts the shared memory pool (-M 8 pkg per process, -m 64 shm) once per process that touched it."
		echo "peak PSS: peak of the summed proportional set size (shared pages split between processes), sampled every 0.5 s."
		echo
		echo "per repetition:"
		for s in luasbc kamailio; do
			for k in max cpu; do
				if [[ -s $WORK/$s.$k ]]; then
					printf '  %-8s %-4s %s\n' "$s" "$k" "$(tr '\n' ' ' <"$WORK/$s.$k")"
				fi
			done
		done
		echo
		echo "other load on the machine during the runs (% of one core used by neither the server nor SIPp):"
		for s in luasbc kamailio; do
			if [[ -s $WORK/$s.noise ]]; then
				sort -g "$WORK/$s.noise" | awk -v s="$s" '{ a[NR] = $1 }
					END { printf "  %-8s median %s%%, max %s%%%s\n", s, a[int((NR + 1) / 2)], a[NR],
						(a[NR] >= 25 ? "  <- other processes competed for the CPU: numbers are skewed" : "") }'
			fi
		done
		echo
		log_problems luasbc "$WORK/luasbc.log" '(WARN|ERROR|DPANIC|PANIC|FATAL|panic:)'
		log_problems kamailio "$WORK/kamailio.log" '(WARNING|ERROR|CRITICAL|ALERT|BUG):'
	} >"$WORK/table.txt"

	mkdir -p "$LOGDIR"
	cp "$WORK"/*.log "$LOGDIR"/ 2>/dev/null || true
	cp "$WORK"/*.csv "$LOGDIR"/ 2>/dev/null || true
	{
		cat "$WORK/table.txt"
		echo
		echo "progress log:"
		cat "$DETAIL"
		echo
		echo "server logs and SIPp statistics: ${LOGDIR#"$ROOT"/}/"
	} >"$REPORT"

	echo
	cat "$WORK/table.txt"
	echo
	echo "written to ${REPORT#"$ROOT"/} (logs in ${LOGDIR#"$ROOT"/}/)"
}

main "$@"
exit 0
