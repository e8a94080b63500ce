#!/usr/bin/env bash
# luasbc call benchmark: SIPp caller -> proxy -> SIPp callee, record-routed calls
# (INVITE/100/180/200/ACK/BYE/200) through a transaction-stateful proxy, with the
# same Lua script (calls.lua) run by luasbc and by stock Kamailio 5.6 (app_lua), on
# the same machine, one server after the other. See test/bench/README.md.
#
#   ./test/bench/calls.sh                    # 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/calls.sh      # 5 s per measurement
#   (./test/bench/run.sh runs options.sh, then this one)
#
# Environment (all optional):
#   BENCH_QUICK=1                 5 s per measurement instead of 30
#   BENCH_DURATION=s              seconds per measurement (overrides the above)
#   BENCH_REPEAT=n                repetitions of every measurement, median reported (3)
#   BENCH_CALL_CPU_RATE=cps       fixed rate of the CPU-per-call measurement (200)
#   BENCH_CALL_RATES="a b c"      call rate steps of the max-rate search, ascending
#   BENCH_CALL_HOLD_MS=ms         pause between the ACK and the BYE (0)
#   BENCH_RECV_TIMEOUT_MS=ms      a call fails when an awaited reply is later than this (1000)
#   BENCH_PROFILE=0               skip the extra luasbc run with --cpuprofile
#   BENCH_PROFILE_RATE=cps        call rate of that run (800)
#   BENCH_KAM_SHM_MB=MiB          Kamailio's shared memory pool, -m (1024)
#   BENCH_SERVERS="luasbc kamailio"  which servers to measure
#   BENCH_TOPO="none topoh topos topos-redis"  topology hiding variants (default none);
#                                 anything but "none" alone makes it the topo benchmark
#                                 (report bench-<date>-topo.txt; run.sh BENCH_ONLY=topo)
#   BENCH_REDIS_DB=n              Redis database of the topos-redis variant (13)
#   BENCH_QUIET_WAIT=s            wait up to s seconds for other CPU load to stop before each run (30)
#   BENCH_KEEP=1                  keep the temporary work directory
#
# The benchmark never fails on numbers: it prints them. It exits non-zero only
# when it cannot run at all (no SIPp, no server could be started...).
set -euo pipefail

# The topology hiding variants (BENCH_TOPO); each runs both servers. With "none"
# alone this is the plain call benchmark.
TOPOS=${BENCH_TOPO:-none}
BENCH_NAME=calls
[[ $TOPOS == none ]] || BENCH_NAME=topo
UNIT=call
UAC_LABEL="SIPp UAC"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

# Ports (35000-35999). SBC_PORT and SBC_RPC must match luasbc-calls.yaml, UAS_PORT
# the CORE of calls.lua.
SBC_PORT=35260
SBC_RPC=35261
KAM_PORT=35270
SIPP_PORT=35300 # the caller (UAC)
SIPP_CP=35301
SIPP_MP=35310
UAS_PORT=35400 # the callee (UAS)
UAS_CP=35401
UAS_MP=35410

CPU_RATE=${BENCH_CALL_CPU_RATE:-200}
RATES=${BENCH_CALL_RATES:-"200 400 800 1200 1600 2000 2500 3000 4000 5000 6000 8000"}
HOLD_MS=${BENCH_CALL_HOLD_MS:-0}
PROFILE=${BENCH_PROFILE:-1}
[[ $BENCH_NAME == calls ]] || PROFILE=${BENCH_PROFILE:-0} # one profile per variant would be too long
REDIS_DB=${BENCH_REDIS_DB:-13}
REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
# Keys of this run: luasbc's topos prefix; Kamailio's topos_redis has no prefix, its
# keys are removed by their patterns (only in REDIS_DB, which the tests never use).
REDIS_PREFIX=luasbc-bench-$$:topos:
KAM_REDIS_PATTERNS="tps:* d:z:* b:x:*"
MASK_KEY=luasbc-bench-topoh-mask-key-0123456789
PROFILE_RATE=${BENCH_PROFILE_RATE:-800}
# Kamailio keeps every transaction in its shared memory pool, about 15 KiB each,
# for wt_timer (5 s) after it completed: 2000 calls/s need ~300 MiB. Pages never
# touched cost nothing (neither RSS nor PSS), so the pool is sized for the top step.
KAM_SHM_MB=${BENCH_KAM_SHM_MB:-1024}
WT_S=5  # tm wt_timer of both configs, in seconds
FR_S=30 # tm fr_timer of both configs, in seconds
LAST_LEFT="n/a"

SCRIPT=$BENCH/calls.lua
SBC_CFG=$BENCH/luasbc-calls.yaml
KAM_CFG=$BENCH/kamailio-calls.cfg
SBC_RPC_URL=http://127.0.0.1:$SBC_RPC/rpc
KAM_CTL=unix:$WORK/ctl.sock

UAS_PID=""
TM_FN="" # current transactions of the server under test: tm_sbc | tm_kam

# ---------------------------------------------------------------- SIPp

# bench_uac TAG TARGET RATE COUNT: one SIPp caller run (call-uac.xml). UDP
# retransmissions on; -recv_timeout fails a call whose awaited reply is late; -nd:
# a failed call is dropped silently (no BYE/CANCEL), and an unexpected message
# (a 180 overtaken by its 200, a 5xx) does not abort the call by itself: a call
# that gets no 200 fails on the timeout.
bench_uac() {
	local limit=$(($3 * (RECV_TIMEOUT_MS * 4 + HOLD_MS) / 1000 + 200))
	sipp_uac "$1" "$2" "$3" "$4" "$limit" -sf "$BENCH/call-uac.xml" -nd \
		-recv_timeout "$RECV_TIMEOUT_MS" -d "$HOLD_MS" -max_log_size 20000000
}

# start_uas TAG: the SIPp callee (call-uas.xml) in the background, until it is bound.
start_uas() {
	local tag=$1 i
	local gt=$((DUR + RECV_TIMEOUT_MS * 4 / 1000 + HOLD_MS / 1000 + 60))
	rm -f "$WORK/$tag-uas.csv"
	(
		ulimit -n 65536 2>/dev/null || true
		exec sipp -sf "$BENCH/call-uas.xml" -i 127.0.0.1 -p "$UAS_PORT" -cp "$UAS_CP" -mp "$UAS_MP" \
			-nd -recv_timeout $((RECV_TIMEOUT_MS * 2 + HOLD_MS + 1000)) -buff_size 4194304 -nostdin \
			-timeout "$gt" -max_log_size 20000000 \
			-trace_stat -stf "$WORK/$tag-uas.csv" -fd 1 -trace_err -error_file "$WORK/$tag-uas.err"
	) >"$WORK/$tag-uas.screen" 2>&1 </dev/null &
	UAS_PID=$!
	for ((i = 0; i < 50; i++)); do
		ss -Hlun "sport = :$UAS_PORT" 2>/dev/null | grep -q . && return 0
		kill -0 "$UAS_PID" 2>/dev/null || break
		sleep 0.1
	done
	say "    the SIPp callee did not start: $(tail -3 "$WORK/$tag-uas.screen" | tr '\n' ' ')"
	return 1
}

stop_uas() {
	if [[ -n $UAS_PID ]]; then
		kill -TERM "$UAS_PID" 2>/dev/null || true
		wait_gone "$UAS_PID" 5 || kill -KILL "$UAS_PID" 2>/dev/null || true
		wait "$UAS_PID" 2>/dev/null || true
		UAS_PID=""
	fi
}

bench_cleanup() { stop_uas; }

# Hooks of one_run (lib.sh): the callee lives for one run; its CPU is accounted
# like the caller's; after the load the proxy gets wt_timer + 2 s to free its
# transactions, inside the CPU window (freeing them is part of the work per call).
bench_pre() {
	wait_transactions
	start_uas "$1" || true
}

# wait_transactions: after an overload step, INVITE branches the callee never
# answered wait for fr_timer (30 s): the next run starts when they are gone.
wait_transactions() {
	local i n
	n=$("$TM_FN")
	[[ $n == 0 || $n == n/a ]] && return 0
	say "    $n transaction(s) still in memory (previous run, start-up check): waiting up to $((FR_S + 5))s for them to end"
	for ((i = 0; i < (FR_S + 5) * 2; i++)); do
		sleep 0.5
		n=$("$TM_FN")
		[[ $n == 0 || $n == n/a ]] && return 0
	done
	say "    still $n transaction(s) after $((FR_S + 5))s, measuring anyway"
}

bench_after_uac() {
	local tag=$1 t
	R_AUX_NAME="SIPp UAS"
	if [[ -n $UAS_PID ]]; then
		t=$(cpu_ticks "$UAS_PID")
		R_AUX_S=$(awk -v t="$t" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
	fi
	sleep 0.2 # the callee's last 200s are out
	stop_uas
}

# bench_drain NAME TAG: transactions left wt_timer + 2 s after the load (the window
# is fixed, the same for both servers); notes them, and the callee's failures and
# the reordered 180s, in R_NOTE.
bench_drain() {
	local name=$1 tag=$2 left="n/a" uas reord end
	end=$(($(date +%s%N) / 1000000 + (WT_S + 2) * 1000))
	while (($(date +%s%N) / 1000000 < end)); do
		sleep 0.5
		left=$("$TM_FN")
	done
	LAST_LEFT=$left
	R_NOTE="; transactions left after $((WT_S + 2))s: $left"
	if [[ -s $WORK/$tag-uas.csv ]]; then
		uas=$(sipp_stats "$WORK/$tag-uas.csv" 0 0 | awk '{ print $3 }')
		((uas == 0)) || R_NOTE+=", calls failed at the callee: $uas"
	fi
	reord=$(grep -acE "received 'SIP/2\.0 18[0-9]" "$WORK/$tag.err" 2>/dev/null || true)
	((${reord:-0} == 0)) || R_NOTE+=", 180 after the 200: $reord (ignored)"
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$WORK/$tag-uas.err"
}

# bench_done NAME TAG KIND: the transactions left, per kind of run (cpu, pass, FAIL).
bench_done() { echo "$LAST_LEFT $3" >>"$WORK/$1.left"; }

# smoke TARGET: a few calls until they all complete (server ready), max ~10 s.
smoke() {
	local i r ok
	for ((i = 0; i < 10; i++)); do
		start_uas smoke || true
		r=$(bench_uac "smoke" "$1" 50 20)
		stop_uas
		ok=$(awk '{ print $2 }' <<<"$r")
		[[ $ok == 20 ]] && return 0
		sleep 1
	done
	return 1
}

# ---------------------------------------------------------------- transactions

# tm_sbc: luasbc's tm:current over JSON-RPC, or n/a.
tm_sbc() { sbc_stat "$SBC_RPC_URL" tm:current; }

# tm_kam: Kamailio's tm.stats current (in the wait state too), or n/a.
tm_kam() {
	local v
	v=$(timeout 5 kamcmd -s "$KAM_CTL" tm.stats 2>/dev/null | awk -F': ' '$1 ~ /^[ \t]*current$/ { print $2 }') || true
	echo "${v:-n/a}"
}

# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- variants

ALL_NAMES=""

# bench_variant TOPO: luasbc, then Kamailio, with that topology hiding (none,
# topoh, topos, topos-redis); the plain call benchmark runs "none" only, under the
# names luasbc and kamailio.
bench_variant() {
	local v=$1 sfx="" kargs=()
	[[ $BENCH_NAME == calls ]] || sfx=-$v
	NAMES="luasbc$sfx kamailio$sfx"
	ALL_NAMES+=" $NAMES"
	SBC_NOTE=$BUILD_NOTE
	CUR_CFG=$SBC_CFG
	if [[ $v != none ]]; then
		CUR_CFG=$WORK/luasbc-calls-$v.yaml
		sbc_variant_cfg "$v" >"$CUR_CFG"
	fi
	if [[ $v == topos-redis ]] && ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
		SBC_NOTE="no Redis at $REDIS_URL (./test/services.sh starts it)"
	fi
	check_sbc "$CUR_CFG"

	TM_FN=tm_sbc
	if bench_sbc "luasbc$sfx" "$CUR_CFG" "calls through luasbc on sip:127.0.0.1:$SBC_PORT do not complete" \
		"$SBC_PORT" "$SBC_RPC" "$SIPP_PORT" "$SIPP_CP" "$UAS_PORT" "$UAS_CP" && [[ $PROFILE != 0 ]]; then
		profile_sbc
	fi
	if [[ " $SERVERS " == *" luasbc "* && -n $SBC_NOTE ]]; then
		echo "luasbc$sfx NOT measured: $SBC_NOTE" >>"$WORK/notes"
	fi

	# Kamailio, with the very same script file.
	KAM_NOTE=""
	KAM_NAME=kamailio$sfx
	[[ " $SERVERS " == *" kamailio "* ]] || return 0
	case $v in
	topoh) kargs=(-A WITH_TOPOH -A "BENCH_MASK_KEY=\"$MASK_KEY\"") ;;
	topos)
		if [[ -z $PG_ROLE ]] && ! pg_setup /usr/share/kamailio/postgres/standard-create.sql \
			/usr/share/kamailio/postgres/topos-create.sql; then
			KAM_NOTE="no PostgreSQL for its topos tables (./test/services.sh starts it)"
		fi
		kargs=(-A WITH_TOPOS_DB -A "BENCH_DB_URL=\"$PG_URL\"")
		;;
	topos-redis)
		redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || KAM_NOTE="no Redis at $REDIS_URL"
		kargs=(-A WITH_TOPOS_REDIS -A "BENCH_REDIS_SERVER=\"name=bench;addr=127.0.0.1;port=6379;db=$REDIS_DB\"")
		;;
	esac
	if [[ -z $KAM_NOTE ]]; then
		TM_FN=tm_kam
		bench_kamailio "$KAM_CFG" "$KAM_PORT $SIPP_PORT $SIPP_CP $UAS_PORT $UAS_CP" -A "BENCH_SCRIPT=\"$SCRIPT\"" \
			-A "BENCH_LISTEN=udp:127.0.0.1:$KAM_PORT" -A "BENCH_CTL=\"$KAM_CTL\"" "${kargs[@]}"
	fi
	[[ -z $KAM_NOTE ]] || echo "kamailio$sfx NOT measured: $KAM_NOTE" >>"$WORK/notes"
}

# sbc_variant_cfg TOPO: luasbc-calls.yaml with the topology hiding module of TOPO
# (the script path made absolute: the file is written to the work dir).
sbc_variant_cfg() {
	[[ $1 != topos-redis ]] || echo "redis_url: \"$REDIS_URL\""
	sed "s|^  load: calls.lua|  load: $SCRIPT|" "$SBC_CFG"
	case $1 in
	topoh) echo "  topoh: {mask_key: \"$MASK_KEY\", mask_ip: \"127.0.0.8\"}" ;;
	topos) echo "  topos: {storage: memory}" ;;
	topos-redis) echo "  topos: {storage: redis, redis_prefix: \"$REDIS_PREFIX\"}" ;;
	esac
}

# redis_cleanup: removes the topos records this run left in REDIS_DB.
redis_cleanup() {
	local p
	[[ " $TOPOS " == *" topos-redis "* ]] || return 0
	for p in "$REDIS_PREFIX*" $KAM_REDIS_PATTERNS; do
		timeout 60 redis-cli -u "$REDIS_URL" --scan --pattern "$p" 2>/dev/null |
			xargs -r -n 500 timeout 30 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
	done
}

# report_topo: one line per variant (both servers, the CPU a call costs more than
# without hiding), then each variant's table.
report_topo() {
	local v sfx a b base_a base_b
	NAMEW=20
	printf '%-12s %-40s %-40s %s\n' "" "luasbc" "Kamailio 5.6" "luasbc / Kamailio"
	printf '%-12s %9s %9s %9s %10s %9s %9s %9s %10s %7s %7s\n' "topology" "calls/s" "us/call" "+us/call" \
		"PSS@rate" "calls/s" "us/call" "+us/call" "PSS@rate" "us/call" "calls/s"
	base_a=$(result luasbc-none cpu)
	base_b=$(result kamailio-none cpu)
	for v in $TOPOS; do
		a=luasbc-$v
		b=kamailio-$v
		printf '%-12s %9s %9s %9s %10s %9s %9s %9s %10s %7s %7s\n' "$v" \
			"$(result "$a" max)" "$(result "$a" cpu)" "$(delta "$(result "$a" cpu)" "$base_a")" \
			"$(mib "$(memres "$a" 3 memcpu)" | sed 's/ MiB//')" \
			"$(result "$b" max)" "$(result "$b" cpu)" "$(delta "$(result "$b" cpu)" "$base_b")" \
			"$(mib "$(memres "$b" 3 memcpu)" | sed 's/ MiB//')" \
			"$(ratio "$(result "$a" cpu)" "$(result "$b" cpu)")" "$(ratio "$(result "$a" max)" "$(result "$b" max)")"
	done
	echo "calls/s: max calls/s (>= ${OK_PCT}% ok, steps [$RATES]); us/call: server CPU per call @ ${CPU_RATE}/s;"
	echo "+us/call: more than the same server without topology hiding (none); PSS@rate: peak PSS in MiB during the"
	echo "fixed-rate runs. Kamailio's topos is topos with db_postgres (5.6 has no memory storage for topos; luasbc's is"
	echo "memory); topos-redis is Kamailio's topos + topos_redis (ndb_redis), luasbc's topos storage: redis, both"
	echo "on Redis db $REDIS_DB. topoh: mask_ip 127.0.0.8, mask_callid 0 on both."
	for v in $TOPOS; do
		sfx=-$v
		NAMES="luasbc$sfx kamailio$sfx"
		echo
		echo "[$v]"
		report_table "max calls/s" "CPU us/call" memcpu "@ ${CPU_RATE}/s"
	done
	echo
	report_memory_notes "$KAM_SHM_MB"
	echo "          In the tables both are taken over the fixed-rate runs (about $((CPU_RATE * 2 * WT_S)) transactions in memory on each)."
	echo "          Over the whole series, up to each server's max rate (not comparable when the max rates differ):"
	NAMES=$ALL_NAMES
	report_mem_lines memres
}

# delta A B: A - B with two decimals (signed), n/a when either is missing.
delta() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a == "" || b == "") print "n/a"; else printf "%+.2f\n", a - b }'
}

main() {
	say "luasbc $([[ $BENCH_NAME == topo ]] && echo "topology hiding ($TOPOS)" || echo call) benchmark, $MODE mode:" \
		"${DUR}s per measurement, $REPEAT repetitions; work dir $WORK"
	local v
	for v in $TOPOS; do
		case $v in
		none | topoh | topos | topos-redis) ;;
		*)
			say "BENCH_TOPO: unknown variant $v (none, topoh, topos, topos-redis)"
			exit 2
			;;
		esac
	done
	if [[ $BENCH_NAME == topo ]]; then
		ensure_tools topos_redis.so=kamailio-redis-modules db_postgres.so=kamailio-postgres-modules
	else
		ensure_tools
	fi
	command -v sipp >/dev/null 2>&1 || { say "sipp is not installed and could not be installed"; exit 1; }
	if ! grep -q "\"sip:127.0.0.1:$UAS_PORT\"" "$SCRIPT"; then
		say "calls.lua does not route to the callee at sip:127.0.0.1:$UAS_PORT (UAS_PORT of calls.sh)"
		exit 1
	fi
	build_sbc
	check_sbc "$SBC_CFG"

	PROF_NOTE=""
	BUILD_NOTE=$SBC_NOTE
	for TOPO in $TOPOS; do
		bench_variant "$TOPO"
	done
	redis_cleanup

	{
		if [[ $BENCH_NAME == topo ]]; then
			report_head "luasbc topology hiding benchmark (the call benchmark per variant: $TOPOS)"
		else
			report_head "luasbc call benchmark"
		fi
		echo "  script: ${SCRIPT#"$ROOT"/} — stateful edge proxy: maxfwd, sanity, CANCEL/retransmissions via tm,"
		echo "          loose_route + t_relay in dialog, record_route, \$du = the SIPp callee, t_relay with a failure route"
		echo "  traffic: SIPp UAC -> proxy -> SIPp UAS over UDP loopback: INVITE (SDP) -> 100, 180, 200 (Record-Route) -> ACK"
		echo "           -> ${HOLD_MS} ms -> BYE -> 200 along the route set; retransmissions on (T1 500 ms);"
		echo "           a call succeeds when every awaited reply arrives within ${RECV_TIMEOUT_MS} ms"
		echo "  each measurement ${DUR}s, repeated $REPEAT times, median shown; servers run one after the other;"
		echo "  tm timers: fr_timer 30 s, fr_inv_timer 120 s, wt_timer ${WT_S} s on both"
		[[ ! -s $WORK/notes ]] || sed 's/^/  /' "$WORK/notes"
		echo
		if [[ $BENCH_NAME == topo ]]; then
			report_topo
		else
			report_table "max calls/s" "CPU us/call" memcpu "@ ${CPU_RATE}/s"
		fi
		echo "CPU us/call: server CPU from the first INVITE until wt_timer + 2 s after the last call (freeing the"
		echo "          transactions included), divided by the completed calls; one call = 6 SIP messages in, 7 out."
		if [[ $BENCH_NAME == calls ]]; then
			report_memory_notes "$KAM_SHM_MB"
			echo "          In the table both are taken over the fixed-rate runs (about $((CPU_RATE * 2 * WT_S)) transactions in memory on each)."
			echo "          Over the whole series, up to each server's max rate (not comparable when the max rates differ):"
			report_mem_lines memres
		fi
		echo
		echo "transactions left ${WT_S}+2 s after the load (luasbc tm:current, Kamailio tm.stats current):"
		for s in $ALL_NAMES; do
			[[ -s $WORK/$s.left ]] || continue
			awk -v s="$s" -v w="$((NAMEW - 2))" '
				BEGIN { max = 0 }
				$2 != "FAIL" { n++; if ($1 != "0") bad++; if ($1 + 0 > max) max = $1 + 0; if ($1 == "n/a") na++ }
				$2 == "FAIL" { f = f " " $1 }
				END {
					printf "  %-" w "s %s after the %d fixed-rate and passed runs%s", s, (na ? "n/a" : max), n,
						(bad ? sprintf("  <- not 0 after %d of them", bad) : "")
					if (f != "") printf "; after the failing steps:%s (INVITEs the callee never got end at fr_timer)", f
					printf "\n"
				}' "$WORK/$s.left"
		done
		echo
		NAMES=$ALL_NAMES
		report_reps max cpu
		echo
		report_noise "the SIPp UAC and UAS"
		echo
		report_logs
		if [[ -s $WORK/pprof.txt ]]; then
			echo
			cat "$WORK/pprof.txt"
		elif [[ -n $PROF_NOTE ]]; then
			echo
			echo "luasbc CPU profile: $PROF_NOTE"
		fi
	} >"$WORK/table.txt"
	save_report
	[[ ! -s $WORK/luasbc.pprof ]] || cp "$WORK/luasbc.pprof" "$LOGDIR/"
}

# profile_sbc: one more fixed-rate run of luasbc, started with --cpuprofile; the
# top 15 functions of `go tool pprof -top` (flat, then cumulative) go to the report.
profile_sbc() {
	local prof=$WORK/luasbc.pprof us
	say "[luasbc-profile] extra run at $PROFILE_RATE calls/s with --cpuprofile (not in the results)"
	if ! start_sbc "$CUR_CFG" "127.0.0.1:$SBC_PORT" smoke --cpuprofile "$prof"; then
		PROF_NOTE="luasbc did not start with --cpuprofile"
		say "$PROF_NOTE"
		return 0
	fi
	one_run luasbc-profile luasbc-profile "127.0.0.1:$SBC_PORT" "$PROFILE_RATE" "$SBC_PID"
	us=$(srv_us "$R_SRV_TICKS" "$R_OK")
	say "[luasbc-profile] $R_OK/$R_N ok ($R_PCT%), server $R_SRV_PCT%, $us us/call (profiler on)$R_NOTE$R_FAILS"
	stop_sbc
	if [[ ! -s $prof ]]; then
		PROF_NOTE="no profile written to $prof"
		say "$PROF_NOTE"
		return 0
	fi
	{
		echo "luasbc CPU profile: one ${DUR}s run at $PROFILE_RATE calls/s (+ start-up and the ${WT_S}+2 s drain),"
		echo "  $R_OK/$R_N calls ok, $us us/call with the profiler on; go tool pprof -top, top 15"
		echo
		echo "by flat (time in the function itself):"
		(cd "$ROOT" && timeout 120 go tool pprof -top -nodecount=15 "$SBC_BIN" "$prof" 2>&1) | sed 's/^/  /'
		echo
		echo "by cum (time in the function and what it calls):"
		(cd "$ROOT" && timeout 120 go tool pprof -top -cum -nodecount=15 "$SBC_BIN" "$prof" 2>&1) | sed 's/^/  /'
	} >"$WORK/pprof.txt"
}

main "$@"
exit 0
