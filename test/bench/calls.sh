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
#   BENCH_QUIET_WAIT=s            wait up to s seconds for other CPU load to stop before each run (30)
#   BENCH_KEEP=1                  keep the temporary work directory
#
# The benchmark never fails on numbers: it prints them. It exits non-zero only
# when it cannot run at all (no SIPp, no server could be started...).
set -euo pipefail

BENCH_NAME=calls
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
tm_sbc() {
	local v
	v=$(timeout 5 "$ROOT/bin/sbcctl" --url "$SBC_RPC_URL" stats tm:current 2>/dev/null |
		awk -F' = ' '$1 == "tm:current" { print $2 }') || true
	echo "${v:-n/a}"
}

# tm_kam: Kamailio's tm.stats current (in the wait state too), or n/a.
tm_kam() {
	local v
	v=$(timeout 5 kamcmd -s "$KAM_CTL" tm.stats 2>/dev/null | awk -F': ' '$1 ~ /^[ \t]*current$/ { print $2 }') || true
	echo "${v:-n/a}"
}

# ---------------------------------------------------------------- main

main() {
	say "luasbc call benchmark, $MODE mode: ${DUR}s per measurement, $REPEAT repetitions; work dir $WORK"
	ensure_tools
	command -v sipp >/dev/null 2>&1 || { say "sipp is not installed and could not be installed"; exit 1; }
	if ! grep -q "\"sip:127.0.0.1:$UAS_PORT\"" "$SCRIPT"; then
		say "calls.lua does not route to the callee at sip:127.0.0.1:$UAS_PORT (UAS_PORT of calls.sh)"
		exit 1
	fi
	build_sbc
	check_sbc "$SBC_CFG"

	# luasbc.
	PROF_NOTE=""
	if [[ " $SERVERS " == *" luasbc "* && -z $SBC_NOTE ]]; then
		ports_free "$SBC_PORT" "$SBC_RPC" "$SIPP_PORT" "$SIPP_CP" "$UAS_PORT" "$UAS_CP" || SBC_NOTE="its ports are in use"
	fi
	if [[ " $SERVERS " == *" luasbc "* && -z $SBC_NOTE ]]; then
		TM_FN=tm_sbc
		if ! start_sbc "$SBC_CFG" "127.0.0.1:$SBC_PORT" smoke; then
			SBC_NOTE="calls through luasbc on sip:127.0.0.1:$SBC_PORT do not complete"
			say "$SBC_NOTE; its log:"
			tail -10 "$WORK/luasbc.log" >&2
		fi
		if [[ -z $SBC_NOTE ]]; then
			say "luasbc up on udp:127.0.0.1:$SBC_PORT (pid $SBC_PID, $SBC_CFG)"
			measure luasbc "127.0.0.1:$SBC_PORT" "$SBC_PID"
			stop_sbc
			if [[ $PROFILE != 0 ]]; then
				profile_sbc
			fi
		fi
	elif [[ " $SERVERS " == *" luasbc "* ]]; then
		say "skipping luasbc: $SBC_NOTE"
	fi

	# Kamailio, with the very same script file.
	KAM_NOTE=""
	if [[ " $SERVERS " == *" kamailio "* ]]; then
		TM_FN=tm_kam
		bench_kamailio "$KAM_CFG" "$KAM_PORT $SIPP_PORT $SIPP_CP $UAS_PORT $UAS_CP" -A "BENCH_SCRIPT=\"$SCRIPT\"" \
			-A "BENCH_LISTEN=udp:127.0.0.1:$KAM_PORT" -A "BENCH_CTL=\"$KAM_CTL\""
	fi

	{
		report_head "luasbc call benchmark"
		echo "  script: ${SCRIPT#"$ROOT"/} — stateful edge proxy: maxfwd, sanity, CANCEL/retransmissions via tm,"
		echo "          loose_route + t_relay in dialog, record_route, \$du = the SIPp callee, t_relay with a failure route"
		echo "  traffic: SIPp UAC -> proxy -> SIPp UAS over UDP loopback: INVITE (SDP) -> 100, 180, 200 (Record-Route) -> ACK"
		echo "           -> ${HOLD_MS} ms -> BYE -> 200 along the route set; retransmissions on (T1 500 ms);"
		echo "           a call succeeds when every awaited reply arrives within ${RECV_TIMEOUT_MS} ms"
		echo "  each measurement ${DUR}s, repeated $REPEAT times, median shown; servers run one after the other;"
		echo "  tm timers: fr_timer 30 s, fr_inv_timer 120 s, wt_timer ${WT_S} s on both"
		[[ -z $SBC_NOTE ]] || echo "  luasbc NOT measured: $SBC_NOTE"
		[[ -z $KAM_NOTE ]] || echo "  Kamailio NOT measured: $KAM_NOTE"
		echo
		report_table "max calls/s" "CPU us/call" memcpu "@ ${CPU_RATE}/s"
		echo "CPU us/call: server CPU from the first INVITE until wt_timer + 2 s after the last call (freeing the"
		echo "          transactions included), divided by the completed calls; one call = 6 SIP messages in, 7 out."
		report_memory_notes "$KAM_SHM_MB"
		echo "          In the table both are taken over the fixed-rate runs (about $((CPU_RATE * 2 * WT_S)) transactions in memory on each)."
		echo "          Over the whole series, up to each server's max rate (not comparable when the max rates differ):"
		report_mem_lines memres
		echo
		echo "transactions left ${WT_S}+2 s after the load (luasbc tm:current, Kamailio tm.stats current):"
		for s in luasbc kamailio; do
			[[ -s $WORK/$s.left ]] || continue
			awk -v s="$s" '
				BEGIN { max = 0 }
				$2 != "FAIL" { n++; if ($1 != "0") bad++; if ($1 + 0 > max) max = $1 + 0; if ($1 == "n/a") na++ }
				$2 == "FAIL" { f = f " " $1 }
				END {
					printf "  %-8s %s after the %d fixed-rate and passed runs%s", s, (na ? "n/a" : max), n,
						(bad ? sprintf("  <- not 0 after %d of them", bad) : "")
					if (f != "") printf "; after the failing steps:%s (INVITEs the callee never got end at fr_timer)", f
					printf "\n"
				}' "$WORK/$s.left"
		done
		echo
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
	if ! start_sbc "$SBC_CFG" "127.0.0.1:$SBC_PORT" smoke --cpuprofile "$prof"; then
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
		(cd "$ROOT" && timeout 120 go tool pprof -top -nodecount=15 bin/sbc "$prof" 2>&1) | sed 's/^/  /'
		echo
		echo "by cum (time in the function and what it calls):"
		(cd "$ROOT" && timeout 120 go tool pprof -top -cum -nodecount=15 bin/sbc "$prof" 2>&1) | sed 's/^/  /'
	} >"$WORK/pprof.txt"
}

main "$@"
exit 0
