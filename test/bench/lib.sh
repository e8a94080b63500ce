# shellcheck shell=bash
# Shared part of the luasbc benchmarks (options.sh, calls.sh): settings, clean-up,
# server start/stop, /proc accounting, the quiet-machine wait, one measured SIPp
# run, the measurement series (CPU at a fixed rate, max-rate search, memory) and
# the report. Sourced, never run. See test/bench/README.md.
#
# A benchmark script sets, before `bench_init`:
#   BENCH_NAME            options | calls (report file name, titles)
#   UNIT                  what one SIPp "call" is for the CPU figure: msg | call
#   UAC_LABEL             how the progress log names the SIPp UAC (default "SIPp")
# then, before `measure`:
#   CPU_RATE RATES        fixed rate of the CPU measurement; rate steps (ascending)
#   SIPP_PORT SIPP_CP SIPP_MP   the SIPp UAC's SIP, control and media ports
# and defines the hooks:
#   bench_uac TAG TARGET RATE COUNT   runs the SIPp UAC (with sipp_uac), prints its line
#   bench_pre TAG RATE                (optional) before the accounting starts
#   bench_after_uac TAG               (optional) right after the UAC; may set R_AUX_S
#                                     (CPU seconds of another load generator) and R_AUX_NAME
#   bench_drain NAME TAG              (optional) after the load, before the final CPU
#                                     reading; may append to R_NOTE
#   bench_done NAME TAG KIND          (optional) after each run of `measure`; KIND is
#                                     cpu (the fixed-rate run), pass or FAIL (a rate step)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
OUT=$ROOT/test/out
KAM_MODDIR=/usr/lib/x86_64-linux-gnu/kamailio/modules

OK_PCT=99.9  # a rate step passes with >= this % of the calls successful
RATE_PCT=95  # ... and SIPp achieving >= this % of the target rate
QUIET_PCT=15 # "quiet": other processes use less than this % of one core

SBC_PID=""
KAM_PID=""
# The two servers a report compares, as `measure` named them: luasbc's first.
# calls.sh sets them per topology-hiding variant (luasbc-topoh kamailio-topoh...).
NAMES="luasbc kamailio"
NAMEW=10 # width of the server column of the report table
KAM_CHILDREN=""
KAM_NPROC="its"
SAMPLER_PID=""

# bench_init: the knobs common to every benchmark, the work dir, the traps.
bench_init() {
	if [[ ${BENCH_QUICK:-0} == 1 ]]; then
		DUR=${BENCH_DURATION:-5}
		MODE="quick"
	else
		DUR=${BENCH_DURATION:-30}
		MODE="full"
	fi
	REPEAT=${BENCH_REPEAT:-3}
	UAC_LABEL=${UAC_LABEL:-SIPp}
	RECV_TIMEOUT_MS=${BENCH_RECV_TIMEOUT_MS:-1000}
	SERVERS=${BENCH_SERVERS:-"luasbc kamailio"}
	QUIET_WAIT=${BENCH_QUIET_WAIT:-30} # seconds to wait for other load to go away before a run
	CLK_TCK=$(getconf CLK_TCK)
	STAMP=${BENCH_STAMP:-$(date +%Y%m%d-%H%M%S)}
	WORK=$(mktemp -d "/tmp/luasbc-bench-$BENCH_NAME.XXXXXX")
	DETAIL=$WORK/detail.txt
	: >"$DETAIL"
	mkdir -p "$OUT"
	REPORT=$OUT/bench-$STAMP-$BENCH_NAME.txt
	LOGDIR=$OUT/bench-$STAMP-$BENCH_NAME.logs
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

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
	if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
	stop_sbc
	stop_kam
	pg_cleanup
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- tools, build

# ensure_tools [MODULE.so=PACKAGE...]: installs with apt-get what is missing of
# kamailio, app_lua, SIPp and the Kamailio modules a benchmark names.
ensure_tools() {
	local pkgs=() sudo=() m
	command -v kamailio >/dev/null 2>&1 || pkgs+=(kamailio)
	[[ -e $KAM_MODDIR/app_lua.so ]] || pkgs+=(kamailio-lua-modules)
	command -v sipp >/dev/null 2>&1 || pkgs+=(sip-tester)
	for m in "$@"; do
		[[ -e $KAM_MODDIR/${m%%=*} || " ${pkgs[*]} " == *" ${m#*=} "* ]] || pkgs+=("${m#*=}")
	done
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

# ---------------------------------------------------------------- PostgreSQL

# pg_setup SQL_FILE...: a role and a schema of the same name (luasbc_bench_<random>)
# in the database `test`, the tables of the SQL files created in it (the role's
# default search_path is "$user", public: both servers, connecting as that role,
# find the tables unqualified, by Kamailio's names, apart from anything else in
# the database). Sets PG_ROLE and PG_URL; pg_cleanup drops both.
PG_ROLE=""
pg_setup() {
	local f
	PG_ROLE=luasbc_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	PG_URL="postgres://$PG_ROLE@127.0.0.1:5432/test"
	# synchronous_commit off: Kamailio's modules commit every statement, and an fsync
	# per SIP message would measure the disk, not the server.
	if ! pg_admin -c "CREATE ROLE $PG_ROLE LOGIN; ALTER ROLE $PG_ROLE SET synchronous_commit = off;
		CREATE SCHEMA $PG_ROLE AUTHORIZATION $PG_ROLE;" >"$WORK/pg.log" 2>&1; then
		say "PostgreSQL: cannot create role/schema $PG_ROLE: $(tail -2 "$WORK/pg.log" | tr '\n' ' ')"
		PG_ROLE=""
		return 1
	fi
	for f in "$@"; do
		if ! psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -f "$f" >>"$WORK/pg.log" 2>&1; then
			say "PostgreSQL: $f failed: $(tail -2 "$WORK/pg.log" | tr '\n' ' ')"
			return 1
		fi
	done
}

# pg_admin PSQL_ARGS...: psql as the administrator (BENCH_PG_ADMIN_URL).
pg_admin() { psql -X -q -v ON_ERROR_STOP=1 "${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}" "$@"; }

# pg_sql SQL: runs SQL as the benchmark's role (in its schema).
pg_sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$PG_URL" -c "$1"; }

pg_cleanup() {
	[[ -n $PG_ROLE ]] || return 0
	pg_admin -c "DROP SCHEMA IF EXISTS $PG_ROLE CASCADE; DROP ROLE IF EXISTS $PG_ROLE;" >/dev/null 2>&1 ||
		say "PostgreSQL: could not drop schema and role $PG_ROLE"
	PG_ROLE=""
}

# build_sbc: make build (or go build), then bin/sbc and bin/sbcctl copied to the
# work dir (SBC_BIN, SBCCTL_BIN): every server of the run is the same binary even
# when someone rebuilds bin/ meanwhile. Sets SBC_NOTE when there is no bin/sbc to run.
SBC_BIN=""
SBCCTL_BIN=""
build_sbc() {
	SBC_NOTE=""
	if ! (cd "$ROOT" && timeout 600 make build) >"$WORK/build.log" 2>&1; then
		say "make build failed; trying go build -o bin/sbc ./cmd/sbc. make said:"
		tail -3 "$WORK/build.log" | sed 's/^/    /' >&2
		if ! (cd "$ROOT" && timeout 600 go build -o bin/sbc ./cmd/sbc && go build -o bin/sbcctl ./cmd/sbcctl) \
			>>"$WORK/build.log" 2>&1; then
			SBC_NOTE="bin/sbc does not build (see $LOGDIR/build.log)"
			say "$SBC_NOTE"
		fi
	fi
	SBC_BIN=$WORK/sbc
	SBCCTL_BIN=$WORK/sbcctl
	cp "$ROOT/bin/sbc" "$SBC_BIN" 2>/dev/null || SBC_NOTE=${SBC_NOTE:-"no bin/sbc"}
	cp "$ROOT/bin/sbcctl" "$SBCCTL_BIN" 2>/dev/null || true
}

# check_sbc CONFIG: bin/sbc --check; sets SBC_NOTE when it refuses the config.
check_sbc() {
	local chk
	if [[ -z $SBC_NOTE && " $SERVERS " == *" luasbc "* ]]; then
		if ! chk=$(timeout 30 "$SBC_BIN" -c "$1" --check 2>&1); then
			SBC_NOTE="sbc --check refuses $1: $(tr '\n' ' ' <<<"$chk")"
			say "$SBC_NOTE"
		fi
	fi
}

# sbc_stat URL NAME: one luasbc counter (group:name) over JSON-RPC, or n/a. Read
# from the raw JSON of stats.get_statistics ("group:name = value"), which does not
# change with sbcctl's table layout.
sbc_stat() {
	local v
	v=$(timeout 5 "$SBCCTL_BIN" --url "$1" --json rpc stats.get_statistics "$2" 2>/dev/null |
		grep -o "\"$2 = -\?[0-9]*\"" | grep -o -- '-\?[0-9]*' | tail -1) || true
	echo "${v:-n/a}"
}

# ---------------------------------------------------------------- /proc

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

# ---------------------------------------------------------------- numbers

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

# ---------------------------------------------------------------- SIPp

# sipp_uac TAG TARGET RATE COUNT LIMIT SIPP_ARGS...
# Runs the SIPp UAC (scenario and behaviour options in SIPP_ARGS) at RATE calls/s
# for COUNT calls with at most LIMIT open calls, and prints
#   created success failed elapsed_s sipp_cpu_s rc timeouts unexpected dead_call_msgs sipp_stalls achieved_rate
sipp_uac() {
	local tag=$1 target=$2 rate=$3 count=$4 limit=$5
	shift 5
	local stf=$WORK/$tag.csv scr=$WORK/$tag.screen
	local gt=$((count / rate + RECV_TIMEOUT_MS * 4 / 1000 + 15)) # SIPp global timeout, s
	local res cpu rc
	rm -f "$stf"
	res=$(
		rc=0
		ulimit -n $((limit + 1024)) 2>/dev/null || true # SIPp wants open calls < open files
		timeout --kill-after=5 $((gt + 15)) sipp "$target" "$@" \
			-i "${SIPP_SRC_IP:-127.0.0.1}" -p "$SIPP_PORT" -cp "$SIPP_CP" -mp "$SIPP_MP" \
			-r "$rate" -rp 1000 -l "$limit" -m "$count" \
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
		echo "0 0 $count 0 ${cpu:-0} $rc 0 0 0 0 0"
		return
	fi
	sipp_stats "$stf" "${cpu:-0}" "$rc"
}

# sipp_stats CSV CPU RC: the line sipp_uac prints, from SIPp's statistics file.
sipp_stats() {
	awk -F';' -v cpu="$2" -v rc="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
		{ n++; line[n] = $0 }
		function epoch(s,   a) { split(s, a, "\t"); return a[3] + 0 }
		function created(i,   f) { split(line[i], f, ";"); return f[h["OutgoingCall(C)"]] + f[h["IncomingCall(C)"]] }
		function elapsed(i,   f) { split(line[i], f, ";"); return epoch(f[h["CurrentTime"]]) - epoch(f[h["StartTime"]]) }
		END {
			split(line[n], f, ";")
			el = elapsed(n)
			total = created(n)
			# Achieved rate: while SIPp was still starting calls, i.e. at the last
			# periodic line (-fd 1) before the last call was started; the tail spent
			# waiting for the last replies (or the hold time) does not count.
			ach = el > 0 ? total / el : 0
			for (i = n - 1; i >= 1; i--)
				if (created(i) < total) { if (elapsed(i) >= 1) ach = created(i) / elapsed(i); break }
			printf "%d %d %d %.3f %s %s %d %d %d %d %.0f\n", total, \
				f[h["SuccessfulCall(C)"]], f[h["FailedCall(C)"]], el, cpu, rc, f[h["FailedTimeoutOnRecv(C)"]], \
				f[h["FailedUnexpectedMessage(C)"]], f[h["DeadCallMsgs(C)"]], \
				f[h["WatchdogMinor(C)"]] + f[h["WatchdogMajor(C)"]], ach
		}' "$1"
}

# reply_codes ERRFILE [CLASS_RE]: " 503x12 500x1" — status codes of the unexpected
# replies SIPp logged (the call aborted or, with -nd, continued), those whose first
# digit matches CLASS_RE (default: any).
reply_codes() {
	local codes
	[[ -f $1 ]] || return 0
	codes=$(grep -aoE "received 'SIP/2\.0 ${2:-[0-9]}[0-9]*" "$1" | awk '{ print $3 }' | sort | uniq -c |
		awk '{ printf " %sx%s", $2, $1 }' || true)
	[[ -z $codes ]] || echo "$codes"
}

# ---------------------------------------------------------------- servers

# ports_free PORT...: 0 when no socket is bound to any of the ports (UDP or TCP);
# else says who holds them.
ports_free() {
	local p who rc=0
	for p in "$@"; do
		who=$( (ss -Hlunp "sport = :$p"; ss -Hltnp "sport = :$p") 2>/dev/null | grep -o 'users:.*' | head -1 || true)
		if [[ -n $who ]] || (ss -Hlun "sport = :$p"; ss -Hltn "sport = :$p") 2>/dev/null | grep -q .; then
			say "port $p is already in use${who:+ ($who)}"
			rc=1
		fi
	done
	return "$rc"
}

# start_sbc CONFIG TARGET READY_FN [SBC_ARGS...]: starts SBC_BIN (bin/sbc); returns 0 once
# READY_FN TARGET succeeds (it retries for up to ~10 s) and bin/sbc still runs.
start_sbc() {
	local cfg=$1 target=$2 ready=$3
	shift 3
	"$SBC_BIN" -c "$cfg" "$@" >>"$WORK/luasbc.log" 2>&1 </dev/null &
	SBC_PID=$!
	if "$ready" "$target" && kill -0 "$SBC_PID" 2>/dev/null; then
		return 0
	fi
	if ! kill -0 "$SBC_PID" 2>/dev/null; then
		wait "$SBC_PID" 2>/dev/null || true
		SBC_PID=""
	fi
	stop_sbc
	return 1
}

# start_kam CONFIG TARGET READY_FN SHM_MB [kamailio -A args...]: Kamailio in the
# foreground (-DD -E), pid file and run dir in the work dir; sets KAM_PID,
# KAM_CHILDREN, KAM_NPROC.
start_kam() {
	local cfg=$1 target=$2 ready=$3 shm=$4
	shift 4
	local args=(-f "$cfg" "$@" -m "$shm" -M 8 -P "$WORK/kamailio.pid" -w "$WORK" -Y "$WORK/run")
	mkdir -p "$WORK/run"
	if ! timeout 30 kamailio -c "${args[@]}" >"$WORK/kamailio-check.log" 2>&1; then
		say "kamailio -c refused $cfg:"
		tail -20 "$WORK/kamailio-check.log" >&2
		return 1
	fi
	kamailio "${args[@]}" -DD -E >>"$WORK/kamailio.log" 2>&1 </dev/null &
	KAM_PID=$!
	if ! "$ready" "$target" || ! kill -0 "$KAM_PID" 2>/dev/null; then
		say "Kamailio does not answer on $target; its log:"
		tail -20 "$WORK/kamailio.log" >&2
		KAM_CHILDREN=$(pgrep -P "$KAM_PID" | tr '\n' ' ' || true)
		stop_kam
		# Children whose parent died before we could list them.
		pkill -KILL -f -- "-P $WORK/kamailio.pid" 2>/dev/null || true
		return 1
	fi
	KAM_CHILDREN=$(pgrep -P "$KAM_PID" | tr '\n' ' ' || true)
	KAM_NPROC=$(wc -w <<<"$KAM_PID $KAM_CHILDREN")
	return 0
}

# ---------------------------------------------------------------- measuring

# one_run NAME TAG TARGET RATE PID...: one SIPp run with CPU accounting. Sets
# R_N R_OK R_FAILED R_PCT R_ACH R_SRV_TICKS (whole window, for CPU per unit)
# R_SRV_PCT R_SIPP_PCT R_AUX_PCT R_OTHER_PCT R_FAILS R_NOTE R_SATURATED.
one_run() {
	local name=$1 tag=$2 target=$3 rate=$4
	shift 4
	local t0 t1 t2 b0 b1 r created ok failed el scpu rc tmo unexp late stalls ach other
	wait_quiet
	R_N=$((rate * DUR))
	R_AUX_S=0
	R_AUX_NAME=""
	R_NOTE=""
	if declare -F bench_pre >/dev/null; then bench_pre "$tag" "$rate"; fi
	b0=$(busy_ticks)
	t0=$(cpu_ticks "$@")
	r=$(bench_uac "$tag" "$target" "$rate" "$R_N")
	if declare -F bench_after_uac >/dev/null; then bench_after_uac "$tag"; fi
	t1=$(cpu_ticks "$@")
	b1=$(busy_ticks)
	if declare -F bench_drain >/dev/null; then bench_drain "$name" "$tag"; fi
	t2=$(cpu_ticks "$@")
	read -r created ok failed el scpu rc tmo unexp late stalls ach <<<"$r"
	R_OK=$ok
	R_FAILED=$failed
	R_SRV_TICKS=$((t2 - t0))
	R_PCT=$(awk -v o="$ok" -v n="$R_N" 'BEGIN { printf "%.3f", 100 * o / n }')
	R_ACH=$ach
	R_SRV_PCT=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", 100 * d / hz / e; else print 0 }')
	R_SIPP_PCT=$(awk -v c="$scpu" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", 100 * c / e; else print 0 }')
	R_AUX_PCT=$(awk -v c="$R_AUX_S" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", 100 * c / e; else print 0 }')
	# Whatever else ran meanwhile (other processes; also the kernel's softirq work is
	# not in these user+nice+system ticks), in % of one core.
	other=$(awk -v b=$((b1 - b0)) -v d=$((t1 - t0)) -v c="$scpu" -v x="$R_AUX_S" -v hz="$CLK_TCK" -v e="$el" \
		'BEGIN { o = (b - d) / hz - c - x; if (o < 0) o = 0; if (e > 0) printf "%.0f", 100 * o / e; else print 0 }')
	R_OTHER_PCT=$other
	echo "$other" >>"$WORK/$name.noise"
	R_SATURATED=""
	((R_SIPP_PCT >= 90)) && R_SATURATED=$UAC_LABEL
	if [[ -n $R_AUX_NAME ]] && ((R_AUX_PCT >= 90)); then
		R_SATURATED="${R_SATURATED:+$R_SATURATED and }$R_AUX_NAME"
	fi
	R_FAILS=""
	if ((failed > 0 || stalls > 0 || ok < R_N)); then
		local codes
		codes=$(reply_codes "$WORK/$tag.err" '[3-6]')
		R_FAILS=" [timeouts: $tmo, aborted on an unexpected message: $unexp, error replies:${codes:- none},"
		R_FAILS+=" messages for finished calls: $late, SIPp stalls: $stalls, not sent: $((R_N - created))]"
	fi
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$WORK/$tag.err"
}

# srv_us TICKS COUNT [DECIMALS]: server CPU microseconds per unit, or n/a.
srv_us() {
	awk -v d="$1" -v hz="$CLK_TCK" -v o="$2" -v p="${3:-2}" 'BEGIN { if (o > 0) printf "%.*f", p, d * 1e6 / hz / o; else print "n/a" }'
}

# mem_snapshot NAME KIND PID...: after a phase, VmHWM (exact) and the sampler's peaks
# -> $WORK/NAME.KIND ("hwm_kB rss_kB pss_kB").
mem_snapshot() {
	local name=$1 kind=$2 hwm rss pss
	shift 2
	stop_sampler
	hwm=$(mem_kb VmHWM "$@")
	read -r rss pss <"$WORK/$name.$kind.samples" 2>/dev/null || {
		rss=0
		pss=0
	}
	echo "$hwm $rss $pss" >"$WORK/$name.$kind"
}

# measure NAME TARGET PID...: first REPEAT runs at the fixed CPU_RATE (CPU per unit,
# and the memory at that rate), then REPEAT max-rate searches (and the peak memory
# of the whole series). The fixed-rate runs come first, so they never inherit what
# an overload step left behind (a grown heap, pending transactions). Results in
# $WORK/NAME.{cpu,max,noise,memcpu,memres}.
measure() {
	local name=$1 target=$2
	shift 2
	local pids=("$@") rep rate verdict us best bound aux
	: >"$WORK/$name.max"
	: >"$WORK/$name.cpu"
	: >"$WORK/$name.noise"
	: >"$WORK/$name.top"
	say "[$name] pids ${pids[*]}"

	# (b) CPU time per unit at a fixed rate; memory at that rate.
	sampler "$WORK/$name.memcpu.samples" "${pids[@]}" &
	SAMPLER_PID=$!
	for ((rep = 1; rep <= REPEAT; rep++)); do
		one_run "$name" "$name-cpu-$rep" "$target" "$CPU_RATE" "${pids[@]}"
		us="n/a"
		if ((R_OK > 0)); then
			us=$(srv_us "$R_SRV_TICKS" "$R_OK")
			echo "$us" >>"$WORK/$name.cpu"
		fi
		say "[$name] rep $rep/$REPEAT  CPU @ $CPU_RATE/s for ${DUR}s: $R_OK/$R_N ok ($R_PCT%)," \
			"server CPU $(awk -v d="$R_SRV_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }') s" \
			"= $us us/$UNIT; other load ${R_OTHER_PCT}%$R_NOTE$R_FAILS"
		if declare -F bench_done >/dev/null; then bench_done "$name" "$name-cpu-$rep" cpu; fi
	done
	mem_snapshot "$name" memcpu "${pids[@]}"

	# (a) highest rate sustained for DUR seconds.
	sampler "$WORK/$name.memres.samples" "${pids[@]}" &
	SAMPLER_PID=$!
	for ((rep = 1; rep <= REPEAT; rep++)); do
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
				[[ -z $R_SATURATED ]] || bound=" ($R_SATURATED saturated a core: the limit may be the load generator)"
			fi
			us=$(srv_us "$R_SRV_TICKS" "$R_OK" 1)
			aux=""
			[[ -z $R_AUX_NAME ]] || aux=", $R_AUX_NAME $R_AUX_PCT%"
			say "[$name] rep $rep/$REPEAT  rate $rate/s: $R_OK/$R_N ok ($R_PCT%), achieved $R_ACH/s," \
				"CPU: server $R_SRV_PCT% ($us us/$UNIT), $UAC_LABEL $R_SIPP_PCT%$aux, other ${R_OTHER_PCT}%" \
				"-> $verdict$R_NOTE$R_FAILS"
			if declare -F bench_done >/dev/null; then bench_done "$name" "$name-rate-$rep-$rate" "$verdict"; fi
			[[ $verdict == pass ]] || break
		done
		echo "$best" >>"$WORK/$name.max"
		if [[ $verdict == pass ]]; then
			bound=" (the top step: the limit is higher)"
			echo "$best" >>"$WORK/$name.top"
		fi
		say "[$name] rep $rep/$REPEAT  max sustained rate: $best/s$bound"
	done
	mem_snapshot "$name" memres "${pids[@]}"
	# The series peak covers the fixed-rate phase too.
	awk '{ getline l < ARGV[2]; split(l, c, " "); for (i = 1; i <= 3; i++) if (c[i] > $i) $i = c[i]; print; exit }' \
		"$WORK/$name.memres" "$WORK/$name.memcpu" >"$WORK/$name.memres.tmp" && mv "$WORK/$name.memres.tmp" "$WORK/$name.memres"
	say "[$name] memory at $CPU_RATE/s: $(memline "$name" memcpu); whole series: $(memline "$name" memres)" \
		"(${#pids[@]} process(es))"
}

# memline NAME KIND: "VmHWM x, peak VmRSS y, peak Pss z" (sums over the processes).
memline() {
	local hwm rss pss
	read -r hwm rss pss <"$WORK/$1.$2" || return 0
	echo "sum VmHWM $(mib "$hwm"), peak sum VmRSS $(mib "$rss"), peak sum Pss $(mib "$pss")"
}

# ---------------------------------------------------------------- report

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

# result NAME KIND -> median of $WORK/NAME.KIND, or n/a
result() {
	local f=$WORK/$1.$2
	if [[ -s $f ]]; then median <"$f"; else echo "n/a"; fi
}

# memres NAME FIELD(1 hwm, 2 rss, 3 pss) [KIND: memres (whole series, default) |
# memcpu (the fixed-rate runs)] -> kB or n/a
memres() {
	local f=$WORK/$1.${3:-memres}
	if [[ -s $f ]]; then awk -v i="$2" '{ print $i }' "$f"; else echo "n/a"; fi
}

# report_head TITLE: title, versions, machine.
report_head() {
	local sbc_ver kam_ver sipp_ver
	sbc_ver=$("${SBC_BIN:-$ROOT/bin/sbc}" --version 2>/dev/null) || sbc_ver="luasbc (not built)"
	kam_ver=$( (kamailio -v 2>/dev/null || true) | awk 'NR == 1 { sub(/^version: /, ""); sub(/ +$/, ""); print }')
	sipp_ver=$( (sipp -v 2>&1 || true) | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/\.$//')
	echo "$1 $STAMP ($MODE mode)"
	echo "  $sbc_ver | $kam_ver | $sipp_ver"
	echo "  machine: $(nproc) CPU(s), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r);" \
		"load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
}

# report_table RATE_LABEL CPU_LABEL [MEM_KIND [MEM_LABEL]]: the result table and its
# ratio row; the memory columns from MEM_KIND (memres: the whole series, default;
# memcpu: the fixed-rate runs), MEM_LABEL under their titles.
report_table() {
	local s k=${3:-memres} a b
	read -r a b <<<"$NAMES"
	printf '%-*s %14s %16s %14s %14s\n' "$NAMEW" "server" "$1" "$2" "peak RSS" "peak PSS"
	printf '%-*s %14s %16s %14s %14s\n' "$NAMEW" "" "(>=${OK_PCT}% ok)" "@ ${CPU_RATE}/s" "${4:-}" "${4:-}"
	for s in $NAMES; do
		printf '%-*s %14s %16s %14s %14s\n' "$NAMEW" "$s" "$(result "$s" max)" "$(result "$s" cpu)" \
			"$(mib "$(memres "$s" 1 "$k")")" "$(mib "$(memres "$s" 3 "$k")")"
	done
	printf '%-*s %14s %16s %14s %14s\n' "$NAMEW" "ratio" \
		"$(ratio "$(result "$a" max)" "$(result "$b" max)")" \
		"$(ratio "$(result "$a" cpu)" "$(result "$b" cpu)")" \
		"$(ratio "$(memres "$a" 1 "$k")" "$(memres "$b" 1 "$k")")" \
		"$(ratio "$(memres "$a" 3 "$k")" "$(memres "$b" 3 "$k")")"
	echo "ratio = luasbc / Kamailio: above 1 is better for max rate, below 1 is better for the others."
	echo "max rate: highest step of [$RATES] passed; the search stops at the first failing step."
	report_top
}

# report_top: the servers that passed the top step of the rate list.
report_top() {
	local s
	for s in $NAMES; do
		if [[ -s $WORK/$s.top ]]; then
			echo "          $s passed the top step in $(wc -l <"$WORK/$s.top") of $REPEAT repetition(s): its limit is higher" \
				"(add steps to the rate list)."
		fi
	done
}

# report_memory_notes SHM_MB: how the memory columns are measured.
report_memory_notes() {
	echo "peak RSS: luasbc VmHWM; Kamailio sum of VmHWM over $KAM_NPROC processes,"
	echo "          which counts the shared memory pool (-M 8 pkg per process, -m $1 shm) once per process that touched it."
	echo "peak PSS: peak of the summed proportional set size (shared pages split between processes), sampled every 0.5 s."
}

# report_mem_lines KIND: per server, peak RSS and PSS from $WORK/NAME.KIND (memcpu:
# the fixed-rate runs | memres: the whole series, with the highest step passed).
report_mem_lines() {
	local s top
	for s in $NAMES; do
		[[ -s $WORK/$s.$1 ]] || continue
		top=""
		[[ $1 != memres ]] || top=" (max step passed: $(sort -g "$WORK/$s.max" | tail -1)/s)"
		printf '            %-*s peak RSS %s, peak PSS %s%s\n' "$((NAMEW - 2))" "$s" "$(mib "$(memres "$s" 1 "$1")")" \
			"$(mib "$(memres "$s" 3 "$1")")" "$top"
	done
}

# report_reps KIND...: the per-repetition numbers.
report_reps() {
	local s k
	echo "per repetition:"
	for s in $NAMES; do
		for k in "$@"; do
			if [[ -s $WORK/$s.$k ]]; then
				printf '  %-*s %-4s %s\n' "$((NAMEW - 2))" "$s" "$k" "$(tr '\n' ' ' <"$WORK/$s.$k")"
			fi
		done
	done
}

# report_noise LOAD_GENERATORS: other load during the runs.
report_noise() {
	local s
	echo "other load on the machine during the runs (% of one core used by neither the server nor $1):"
	for s in $NAMES; do
		if [[ -s $WORK/$s.noise ]]; then
			sort -g "$WORK/$s.noise" | awk -v s="$s" -v w="$((NAMEW - 2))" '{ a[NR] = $1 }
				END { printf "  %-" w "s median %s%%, max %s%%%s\n", s, a[int((NR + 1) / 2)], a[NR],
					(a[NR] >= 25 ? "  <- other processes competed for the CPU: numbers are skewed" : "") }'
		fi
	done
}

# report_tail LOAD_GENERATORS: the end every report shares: the per-repetition
# numbers, the other load, the servers' warnings.
report_tail() {
	echo
	report_reps max cpu
	echo
	report_noise "$1"
	echo
	report_logs
}

report_logs() {
	log_problems luasbc "$WORK/luasbc.log" '(WARN|ERROR|DPANIC|PANIC|FATAL|panic:)'
	log_problems kamailio "$WORK/kamailio.log" '(WARNING|ERROR|CRITICAL|ALERT|BUG):'
}

# save_report: $WORK/table.txt + progress log -> REPORT; logs and CSVs -> LOGDIR;
# prints the table.
save_report() {
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

# bench_sbc NAME CONFIG FAIL_NOTE PORT...: luasbc, when BENCH_SERVERS has it and
# SBC_NOTE does not already say why it cannot run: the ports checked, started
# until the benchmark's smoke check passes, measured as NAME (with the hook
# bench_measure NAME TARGET PID... when the benchmark defines one), stopped.
# Returns 0 when it was measured; else SBC_NOTE says why (FAIL_NOTE when it did
# not pass the smoke check).
bench_sbc() {
	local name=$1 cfg=$2 fail=$3
	shift 3
	[[ " $SERVERS " == *" luasbc "* ]] || return 1
	if [[ -z $SBC_NOTE ]] && ! ports_free "$@"; then
		SBC_NOTE="its ports are in use"
	fi
	if [[ -z $SBC_NOTE ]] && ! start_sbc "$cfg" "127.0.0.1:$SBC_PORT" smoke; then
		SBC_NOTE=$fail
		say "$SBC_NOTE; its log:"
		tail -10 "$WORK/luasbc.log" >&2
	fi
	if [[ -n $SBC_NOTE ]]; then
		say "skipping $name: $SBC_NOTE"
		return 1
	fi
	say "$name up on udp:127.0.0.1:$SBC_PORT (pid $SBC_PID, ${cfg#"$ROOT"/})"
	if declare -F bench_measure >/dev/null; then
		bench_measure "$name" "127.0.0.1:$SBC_PORT" "$SBC_PID"
	else
		measure "$name" "127.0.0.1:$SBC_PORT" "$SBC_PID"
	fi
	stop_sbc
}

# bench_kamailio CONFIG "PORTS" KAMAILIO-ARGS...: start stock Kamailio with the
# same script, measure it (as KAM_NAME, default kamailio; with the hook
# bench_measure NAME TARGET PID... when the benchmark defines one), stop it;
# KAM_NOTE says why when it could not run.
bench_kamailio() {
	local cfg=$1 ports=$2
	shift 2
	KAM_NOTE=""
	if ! command -v kamailio >/dev/null 2>&1; then
		KAM_NOTE="kamailio is not installed"
	# shellcheck disable=SC2086 # the port list splits on purpose
	elif ! ports_free $ports; then
		KAM_NOTE="its ports are in use"
	elif ! start_kam "$cfg" "127.0.0.1:$KAM_PORT" smoke "$KAM_SHM_MB" "$@"; then
		KAM_NOTE="Kamailio did not start (see $LOGDIR/kamailio.log)"
	fi
	if [[ -n $KAM_NOTE ]]; then
		say "skipping Kamailio: $KAM_NOTE"
		return
	fi
	say "Kamailio up on udp:127.0.0.1:$KAM_PORT (main pid $KAM_PID, children $KAM_CHILDREN)"
	# shellcheck disable=SC2086
	if declare -F bench_measure >/dev/null; then
		# shellcheck disable=SC2086
		bench_measure "${KAM_NAME:-kamailio}" "127.0.0.1:$KAM_PORT" "$KAM_PID" $KAM_CHILDREN
	else
		# shellcheck disable=SC2086
		measure "${KAM_NAME:-kamailio}" "127.0.0.1:$KAM_PORT" "$KAM_PID" $KAM_CHILDREN
	fi
	stop_kam
}
