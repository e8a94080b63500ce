#!/usr/bin/env bash
# Validates the call-flow SIPp scenarios (test/e2e/testdata/sipp/calls/) and the Lua
# script test/e2e/testdata/lua/proxy.lua against stock Kamailio 5.6 with app_lua,
# the reference behaviour luasbc's tm/rr must match (test/e2e/calls_test.go runs the
# same scenarios against bin/sbc).
#
#   ./test/kamailio/run-calls.sh                 # every flow
#   ./test/kamailio/run-calls.sh busy cancel     # some flows
#   CALLS_KEEP=1 ./test/kamailio/run-calls.sh    # keep the work dir (Kamailio log, SIPp message traces)
#   CALLS_TRACE=1 ./test/kamailio/run-calls.sh   # print the first line of every message of every flow
#
# Everything runs on 127.0.0.1, ports CALLS_PORT_BASE (36000) .. +399: Kamailio on
# UDP+TCP base+60, the caller (SIPp UAC) on base+100, callee A on base+200, callee B
# on base+210, the TCP callee on base+220, nothing on base+299 (the unreachable
# callee). Kamailio runs in the foreground (-DD -E) with its pid file, run dir and ctl
# socket in a temporary directory and is stopped at the end.
# Exit status: 0 when every flow passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CFG=$ROOT/test/kamailio/kamailio.cfg
SCRIPT=$ROOT/test/e2e/testdata/lua/proxy.lua
SCEN=$ROOT/test/e2e/testdata/sipp/calls

BASE=${CALLS_PORT_BASE:-36000}
KAM_PORT=$((BASE + 60))
UAC_PORT=$((BASE + 100))
A_PORT=$((BASE + 200))
B_PORT=$((BASE + 210))
TCP_PORT=$((BASE + 220))
DEAD_PORT=$((BASE + 299))
SIPP_TIMEOUT=30 # seconds, per SIPp run (-timeout); the flows take 0.5-3 s

WORK=$(mktemp -d /tmp/luasbc-calls.XXXXXX)
KAM_PID=""
SIPP_PIDS=()

for tool in kamailio kamcmd sipp; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "run-calls: $tool not installed (Debian: kamailio kamailio-lua-modules sip-tester)" >&2
		exit 2
	fi
done

cleanup() {
	local rc=$? p kids
	trap - EXIT INT TERM
	for p in "${SIPP_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [[ -n $KAM_PID ]]; then
		kids=$(pgrep -P "$KAM_PID" 2>/dev/null | tr '\n' ' ' || true)
		kill -TERM "$KAM_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$KAM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$KAM_PID" 2>/dev/null || true
		wait "$KAM_PID" 2>/dev/null || true
		for p in $kids; do
			kill -KILL "$p" 2>/dev/null || true
		done
	fi
	if [[ ${CALLS_KEEP:-0} == 1 ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kam() { kamcmd -s "unix:$WORK/ctl.sock" "$@"; }

# ---------------------------------------------------------------- Kamailio

sed -e "s#__CALLEE_A__#sip:127.0.0.1:$A_PORT#g" \
	-e "s#__CALLEE_B__#sip:127.0.0.1:$B_PORT#g" \
	-e "s#__CALLEE_TCP__#sip:127.0.0.1:$TCP_PORT;transport=tcp#g" \
	-e "s#__CALLEE_DEAD__#sip:127.0.0.1:$DEAD_PORT#g" \
	"$SCRIPT" >"$WORK/proxy.lua"
mkdir -p "$WORK/run"
KAM_ARGS=(-f "$CFG" -A "CALLS_SCRIPT=\"$WORK/proxy.lua\"" -A "CALLS_UDP=udp:127.0.0.1:$KAM_PORT"
	-A "CALLS_TCP=tcp:127.0.0.1:$KAM_PORT" -A "CALLS_CTL=\"unix:$WORK/ctl.sock\""
	-m 64 -M 8 -P "$WORK/kamailio.pid" -w "$WORK" -Y "$WORK/run")
if ! timeout 30 kamailio -c "${KAM_ARGS[@]}" >"$WORK/kamailio-check.log" 2>&1; then
	echo "run-calls: kamailio -c refused $CFG:" >&2
	tail -20 "$WORK/kamailio-check.log" >&2
	exit 2
fi
kamailio "${KAM_ARGS[@]}" -DD -E >"$WORK/kamailio.log" 2>&1 </dev/null &
KAM_PID=$!
ready=0
for _ in $(seq 100); do
	if kam core.uptime >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$KAM_PID" 2>/dev/null || break
	sleep 0.1
done
if ((!ready)); then
	echo "run-calls: Kamailio did not start; its log:" >&2
	tail -30 "$WORK/kamailio.log" >&2
	exit 2
fi
echo "Kamailio $(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p') (pid $KAM_PID) on udp+tcp:127.0.0.1:$KAM_PORT," \
	"script ${SCRIPT#"$ROOT"/}; work dir $WORK"

# ---------------------------------------------------------------- SIPp

# sipp_start NAME SCENARIO PORT [ARGS...]: a callee (UAS) in the background.
sipp_start() {
	local name=$1 scen=$2 port=$3
	shift 3
	timeout --kill-after=5 $((SIPP_TIMEOUT + 10)) sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" \
		-cp $((port + 1)) -mp $((port + 2)) -m 1 -nostdin -timeout "${SIPP_TIMEOUT}s" -timeout_error \
		-trace_msg -message_file "$FDIR/$name.msg" -trace_err -error_file "$FDIR/$name.err" "$@" \
		>"$FDIR/$name.out" 2>&1 </dev/null &
	SIPP_PIDS+=($!)
	STARTED+=("$name:$!")
}

# wait_bound PORT PROTO: until a callee listens (SIPp binds quickly; at most 3 s).
wait_bound() {
	local i
	for ((i = 0; i < 30; i++)); do
		if [[ $2 == tcp ]]; then
			ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		else
			ss -Hlun "sport = :$1" 2>/dev/null | grep -q . && return 0
		fi
		sleep 0.1
	done
	return 1
}

# flow NAME UAC_SCENARIO SERVICE "UAC_ARGS" [CALLEE_NAME:SCENARIO:PORT:PROTO:"ARGS"]...
# Starts the callees, runs the caller, waits for all; a flow passes when every SIPp
# exits 0 (all calls successful).
RESULTS=()
FAILED=0
flow() {
	local name=$1 uac=$2 service=$3 uacargs=$4
	shift 4
	[[ ${#ONLY[@]} -eq 0 || " ${ONLY[*]} " == *" $name "* ]] || return 0
	FDIR=$WORK/$name
	mkdir -p "$FDIR"
	STARTED=()
	local spec cname cscen cport cproto cargs ok=1 why="" t0 t1 entry pid rc
	for spec in "$@"; do
		IFS=: read -r cname cscen cport cproto cargs <<<"$spec"
		# shellcheck disable=SC2086
		sipp_start "$cname" "$cscen" "$cport" $cargs
		wait_bound "$cport" "$cproto" || {
			ok=0
			why+=" $cname did not bind $cproto:$cport;"
		}
	done
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	timeout --kill-after=5 $((SIPP_TIMEOUT + 10)) sipp "127.0.0.1:$KAM_PORT" -sf "$SCEN/$uac" -s "$service" \
		-i 127.0.0.1 -p "$UAC_PORT" -cp $((UAC_PORT + 1)) -mp $((UAC_PORT + 2)) -m 1 -nostdin \
		-timeout "${SIPP_TIMEOUT}s" -timeout_error -trace_msg -message_file "$FDIR/caller.msg" \
		-trace_err -error_file "$FDIR/caller.err" $uacargs >"$FDIR/caller.out" 2>&1 </dev/null
	rc=$?
	t1=$(date +%s.%N)
	if ((rc != 0)); then
		ok=0
		why+=" caller exit $rc;"
	fi
	for entry in "${STARTED[@]}"; do
		pid=${entry##*:}
		wait "$pid"
		rc=$?
		if ((rc != 0)); then
			ok=0
			why+=" ${entry%%:*} exit $rc;"
		fi
	done
	SIPP_PIDS=()
	# Flow-specific checks on the wire.
	case $name in
	retransmission)
		local n
		n=$(grep -c '^INVITE ' "$FDIR/calleeA.msg" 2>/dev/null || echo 0)
		if [[ $n != 1 ]]; then
			ok=0
			why+=" callee got $n INVITEs, want 1;"
		fi
		;;
	esac
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if ((ok)); then
		RESULTS+=("PASS  $name (${secs}s)")
		echo "PASS  $name (${secs}s)"
	else
		RESULTS+=("FAIL  $name:$why")
		echo "FAIL  $name:$why"
		FAILED=$((FAILED + 1))
		local f
		for f in "$FDIR"/*.err; do
			[[ -s $f ]] || continue
			echo "  --- $(basename "$f")"
			tail -15 "$f" | sed 's/^/  /'
		done
	fi
	if [[ ${CALLS_TRACE:-0} == 1 || $ok == 0 ]]; then
		for f in "$FDIR"/*.msg; do
			[[ -f $f ]] || continue
			echo "  --- $(basename "$f" .msg): first lines of the messages it sent and received"
			awk '/message (sent|received)/ { dir = ($0 ~ /sent/) ? ">>" : "<<"; getline; getline; print "    " dir " " $0 }' "$f"
		done
	fi
}

ONLY=("$@")

flow call_caller_bye uac_call.xml callee "" "calleeA:uas_answer.xml:$A_PORT:udp:"
flow call_callee_bye uac_call_wait_bye.xml callee "" "calleeA:uas_answer_bye.xml:$A_PORT:udp:"
flow busy uac_busy.xml callee "" "calleeA:uas_busy.xml:$A_PORT:udp:"
flow cancel uac_cancel.xml callee "" "calleeA:uas_ring_cancel.xml:$A_PORT:udp:"
flow unreachable_408 uac_timeout.xml dead ""
flow serial_failover uac_call.xml serial "" "calleeA:uas_503.xml:$A_PORT:udp:" "calleeB:uas_answer.xml:$B_PORT:udp:"
flow parallel_fork uac_call.xml fork "" "calleeA:uas_answer.xml:$A_PORT:udp:-d 500" "calleeB:uas_ring_cancel.xml:$B_PORT:udp:"
flow reinvite uac_reinvite.xml callee "" "calleeA:uas_reinvite.xml:$A_PORT:udp:"
flow update uac_update.xml callee "" "calleeA:uas_update.xml:$A_PORT:udp:"
flow tcp_caller_bye uac_call.xml tcp "" "calleeTCP:uas_answer.xml:$TCP_PORT:tcp:-t t1"
flow tcp_callee_bye uac_call_wait_bye.xml tcp "" "calleeTCP:uas_answer_bye.xml:$TCP_PORT:tcp:-t t1"
flow retransmission uac_retrans.xml callee "-nr" "calleeA:uas_ring_busy.xml:$A_PORT:udp:-nr"
flow cancel_unmatched uac_cancel_unmatched.xml callee ""

# ---------------------------------------------------------------- transactions left

# Every transaction must be gone after wt_timer (5 s) plus the timers' granularity.
current=""
for _ in $(seq 80); do
	current=$(kam tm.stats 2>/dev/null | awk '$1 == "current:" { print $2 }')
	[[ $current == 0 ]] && break
	sleep 0.1
done
echo
kam tm.stats 2>/dev/null | awk '$1 ~ /^(current|total|rpl_received|rpl_generated|rpl_sent|6xx|5xx|4xx|3xx|2xx|created|freed):$/ { printf "%s %s  ", $1, $2 } END { print "" }' | sed 's/^/tm.stats: /'
if [[ $current != 0 ]]; then
	echo "FAIL  transactions left after the flows: current=$current"
	FAILED=$((FAILED + 1))
fi
errs=$(grep -cE ' (ERROR|CRITICAL|BUG|ALERT): ' "$WORK/kamailio.log" || true)
echo "Kamailio log: $errs ERROR/CRITICAL line(s)"
if ((errs > 0)); then
	grep -E ' (ERROR|CRITICAL|BUG|ALERT): ' "$WORK/kamailio.log" | sed 's/^ *[0-9]*([0-9]*) //' | sort | uniq -c | sort -rn | head -10
fi

echo
echo "${#RESULTS[@]} flow(s), $FAILED failure(s)"
((FAILED == 0))
