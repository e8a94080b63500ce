#!/usr/bin/env bash
# luasbc OPTIONS benchmark: luasbc against stock Kamailio (app_lua), same Lua script
# (lua/default.lua), same SIPp traffic (OPTIONS answered 200 Keepalive by the
# REQINIT), same machine, one server after the other. See test/bench/README.md.
#
#   ./test/bench/options.sh                  # 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/options.sh    # 5 s per measurement
#   (./test/bench/run.sh runs this one, then calls.sh)
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

BENCH_NAME=options
UNIT=msg
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

# Ports (35000-35999). SBC_PORT must match listen: in luasbc.yaml.
SBC_PORT=35060
KAM_PORT=35070
SIPP_PORT=35100
SIPP_CP=35101 # SIPp control port
SIPP_MP=35110 # SIPp media port (unused by the scenario, but SIPp binds it)
KAM_SHM_MB=64
# The load comes from another loopback address than the servers', so the
# REQINIT runs in full for it: ban lookup (htable), trusted-peer lookup
# (permissions), flood check (pike, with a density no benchmark reaches) and
# the User-Agent filter, then maxfwd and the keepalive answer.
SIPP_SRC_IP=${BENCH_SRC_IP:-127.0.0.2}

CPU_RATE=${BENCH_CPU_RATE:-2000}
RATES=${BENCH_RATES:-"2000 4000 8000 12000 16000 20000 24000 28000 32000 40000"}

# bench_uac TAG TARGET RATE COUNT: one SIPp UAC run of OPTIONS transactions, no
# retransmissions (-nr), no default behaviours (-nd: a failure sends nothing).
bench_uac() {
	sipp_uac "$1" "$2" "$3" "$4" $(($3 * RECV_TIMEOUT_MS / 1000 * 2 + 100)) \
		-sf "$BENCH/options-uac.xml" -nr -nd -recv_timeout "$RECV_TIMEOUT_MS"
}

# address_dbtext DIR: address.list as Kamailio db_text tables (permissions'
# address table, version 6 in Kamailio 5.6, and an empty trusted table), so
# both servers load the same records.
address_dbtext() {
	mkdir -p "$1"
	printf 'table_name(str) table_version(int)\naddress:6\ntrusted:6\n' >"$1/version"
	echo "id(int,auto) src_ip(str) proto(str) from_pattern(str,null) ruri_pattern(str,null) tag(str,null) priority(int)" >"$1/trusted"
	{
		echo "id(int,auto) grp(int) ip_addr(str) mask(int) port(int) tag(str,null)"
		awk '!/^#/ && NF >= 4 { printf "%d:%s:%s:%s:%s:%s\n", ++n, $1, $2, $3, $4, $5 }' "$BENCH/address.list"
	} >"$1/address"
}

# smoke TARGET: a few transactions until they are all answered (server ready), max ~10 s.
smoke() {
	local i r
	for ((i = 0; i < 10; i++)); do
		r=$(bench_uac "smoke" "$1" 50 20)
		[[ $(awk '{ print $2 }' <<<"$r") == 20 ]] && return 0
		sleep 1
	done
	return 1
}

# Everything runs from main, so bash has parsed the whole file before it starts
# (editing the script while a benchmark runs cannot derail it).
main() {
	say "luasbc OPTIONS benchmark, $MODE mode: ${DUR}s per measurement, $REPEAT repetitions; work dir $WORK"
	ensure_tools
	command -v sipp >/dev/null 2>&1 || { say "sipp is not installed and could not be installed"; exit 1; }
	build_sbc

	# The script: lua/default.lua itself, the edge REQINIT operators start from.
	SCRIPT=$ROOT/lua/default.lua
	SBC_CFG=$BENCH/luasbc.yaml
	SCRIPT_NOTE="the REQINIT of the shipped default script (htable ban lookup, permissions, pike, UA filter, maxfwd) from $SIPP_SRC_IP"
	check_sbc "$SBC_CFG"

	bench_sbc luasbc "$SBC_CFG" "luasbc does not answer OPTIONS sip:127.0.0.1:$SBC_PORT with 200" \
		"$SBC_PORT" "$SIPP_PORT" "$SIPP_CP" || true

	# Kamailio, with the very same script file.
	KAM_NOTE=""
	if [[ " $SERVERS " == *" kamailio "* ]]; then
		address_dbtext "$WORK/dbtext"
		bench_kamailio "$BENCH/kamailio.cfg" "$KAM_PORT $SIPP_PORT $SIPP_CP" \
			-A "BENCH_SCRIPT=\"$SCRIPT\"" -A "BENCH_LISTEN=udp:127.0.0.1:$KAM_PORT" \
			-A "BENCH_DBTEXT=\"text://$WORK/dbtext\""
	fi

	{
		report_head "luasbc OPTIONS benchmark"
		echo "  script: ${SCRIPT#"$ROOT"/} — $SCRIPT_NOTE"
		echo "  traffic: SIPp UAC, OPTIONS sip:127.0.0.1:<port> (no user) -> 200 Keepalive, UDP loopback, no retransmissions,"
		echo "           a transaction succeeds when its 200 arrives within ${RECV_TIMEOUT_MS} ms"
		echo "  each measurement ${DUR}s, repeated $REPEAT times, median shown; servers run one after the other"
		[[ -z $SBC_NOTE ]] || echo "  luasbc NOT measured: $SBC_NOTE"
		[[ -z $KAM_NOTE ]] || echo "  Kamailio NOT measured: $KAM_NOTE"
		echo
		report_table "max rate/s" "CPU us/msg"
		report_memory_notes "$KAM_SHM_MB"
		echo "          In the table both are taken over the whole series; during the fixed-rate runs (${CPU_RATE}/s) only:"
		report_mem_lines memcpu
		report_tail "SIPp"
	} >"$WORK/table.txt"
	save_report
}

main "$@"
exit 0
