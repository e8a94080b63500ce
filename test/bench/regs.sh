#!/usr/bin/env bash
# luasbc REGISTER benchmark: SIPp registers distinct users with digest
# authentication (REGISTER -> 401 -> REGISTER with credentials -> 200) through the
# same Lua script (regs.lua) run by luasbc and by stock Kamailio 5.6 (app_lua),
# subscribers in PostgreSQL (auth_db), contacts in memory (usrloc), on the same
# machine, one server after the other. See test/bench/README.md.
#
#   ./test/bench/regs.sh                     # 30 s per measurement, 3 repetitions
#   BENCH_QUICK=1 ./test/bench/regs.sh       # 5 s per measurement
#   BENCH_ONLY=regs ./test/bench/run.sh      # the same, through run.sh
#
# Environment (all optional):
#   BENCH_QUICK=1                 5 s per measurement instead of 30
#   BENCH_DURATION=s              seconds per measurement (overrides the above)
#   BENCH_REPEAT=n                repetitions of every measurement, median reported (3)
#   BENCH_REG_USERS=n             distinct subscribers registered (20000)
#   BENCH_REG_FILL_RATE=rps       rate of the one registration of every user measured
#                                 for the memory per contact (1000)
#   BENCH_REG_CPU_RATE=rps        fixed rate of the CPU-per-registration measurement (200)
#   BENCH_REG_RATES="a b c"       registration rate steps of the max-rate search, ascending
#   BENCH_RECV_TIMEOUT_MS=ms      a registration fails when a reply is later than this (1000)
#   BENCH_KAM_SHM_MB=MiB          Kamailio's shared memory pool, -m (256)
#   BENCH_SERVERS="luasbc kamailio"  which servers to measure
#   BENCH_PG_ADMIN_URL=url        PostgreSQL superuser URL (postgres://postgres@127.0.0.1:5432/test)
#   BENCH_QUIET_WAIT=s            wait up to s seconds for other CPU load to stop before each run (30)
#   BENCH_KEEP=1                  keep the temporary work directory
#
# The subscribers live in a schema and role of their own (luasbc_bench_<random>)
# in the database `test`, dropped at the end. The benchmark never fails on
# numbers: it prints them. It exits non-zero only when it cannot run at all.
set -euo pipefail

BENCH_NAME=regs
UNIT=reg
UAC_LABEL="SIPp UAC"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

# Ports (35000-35999). SBC_PORT and SBC_RPC must match luasbc-regs.yaml.
SBC_PORT=35560
SBC_RPC=35561
KAM_PORT=35570
SIPP_PORT=35500
SIPP_CP=35501
SIPP_MP=35510

USERS=${BENCH_REG_USERS:-20000}
FILL_RATE=${BENCH_REG_FILL_RATE:-1000}
CPU_RATE=${BENCH_REG_CPU_RATE:-200}
RATES=${BENCH_REG_RATES:-"200 400 800 1200 1600 2000 2500 3000 4000 5000"}
KAM_SHM_MB=${BENCH_KAM_SHM_MB:-256}
REALM=bench.test # REALM of regs.lua, the domain of the subscribers
SMOKE_USERS=20   # registered by the readiness check: users USERS+1.., not counted

SCRIPT=$BENCH/regs.lua
SBC_CFG=$WORK/luasbc-regs.yaml
KAM_CFG=$BENCH/kamailio-regs.cfg
SBC_RPC_URL=http://127.0.0.1:$SBC_RPC/rpc
KAM_CTL=unix:$WORK/ctl.sock
USERS_CSV=$WORK/users.csv
SMOKE_CSV=$WORK/smoke-users.csv
REG_FN="" # registered contacts of the server under test: regs_sbc | regs_kam
HEAP_FN="" # its allocator's bytes in use: heap_sbc | shm_kam

# ---------------------------------------------------------------- SIPp

# bench_uac TAG TARGET RATE COUNT [CSV]: one SIPp run of registrations (regs-uac.xml)
# for the users of CSV (default: the USERS subscribers, in order, from the first).
bench_uac() {
	sipp_uac "$1" "$2" "$3" "$4" $(($3 * RECV_TIMEOUT_MS * 4 / 1000 + 200)) \
		-sf "$BENCH/regs-uac.xml" -inf "${5:-$USERS_CSV}" -nd -recv_timeout "$RECV_TIMEOUT_MS"
}

# smoke TARGET: a few registrations (users no measurement registers) until they all
# succeed (server ready), max ~10 s.
smoke() {
	local i r
	for ((i = 0; i < 10; i++)); do
		r=$(bench_uac "smoke" "$1" 50 "$SMOKE_USERS" "$SMOKE_CSV")
		[[ $(awk '{ print $2 }' <<<"$r") == "$SMOKE_USERS" ]] && return 0
		sleep 1
	done
	return 1
}

# ---------------------------------------------------------------- subscribers

# subscribers: the subscriber table (Kamailio's schema, plain passwords) with
# USERS + SMOKE_USERS users u000001.. (password pw<n>), and the SIPp injection files.
subscribers() {
	pg_setup /usr/share/kamailio/postgres/standard-create.sql /usr/share/kamailio/postgres/auth_db-create.sql || return 1
	pg_sql "INSERT INTO subscriber (username, domain, password)
		SELECT 'u' || lpad(g::text, 6, '0'), '$REALM', 'pw' || g FROM generate_series(1, $((USERS + SMOKE_USERS))) g" >/dev/null ||
		return 1
	awk -v n="$USERS" 'BEGIN { print "SEQUENTIAL"; for (i = 1; i <= n; i++) printf "u%06d;pw%d\n", i, i }' >"$USERS_CSV"
	awk -v n="$USERS" -v s="$SMOKE_USERS" \
		'BEGIN { print "SEQUENTIAL"; for (i = n + 1; i <= n + s; i++) printf "u%06d;pw%d\n", i, i }' >"$SMOKE_CSV"
}

# ---------------------------------------------------------------- counters

# regs_sbc / regs_kam: usrloc:registered_users (one contact per user here), or n/a.
regs_sbc() { sbc_stat "$SBC_RPC_URL" usrloc:registered_users; }
regs_kam() {
	local v
	# By group: Kamailio answers nothing for the name with its group.
	v=$(timeout 5 kamcmd -s "$KAM_CTL" stats.get_statistics usrloc: 2>/dev/null |
		awk -F' = ' '$1 ~ /usrloc:registered_users$/ { print $2 }') || true
	echo "${v:-n/a}"
}

# heap_sbc: Go's heap_bytes (core.info: HeapAlloc, garbage not yet collected included).
heap_sbc() {
	local v
	v=$(timeout 5 "$SBCCTL_BIN" --url "$SBC_RPC_URL" --json rpc core.info 2>/dev/null |
		grep -o '"heap_bytes": *[0-9]*' | grep -o '[0-9]*$') || true
	echo "${v:-n/a}"
}

# shm_kam: Kamailio's shared memory in use (core.shmmem real_used: what usrloc takes).
shm_kam() {
	local v
	v=$(timeout 5 kamcmd -s "$KAM_CTL" core.shmmem 2>/dev/null | awk -F': ' '$1 ~ /real_used/ { print $2 }') || true
	echo "${v:-n/a}"
}

# ---------------------------------------------------------------- measuring

# bench_measure NAME TARGET PID...: the memory per contact (every user registered
# once, on the fresh server), then the CPU and max-rate series of lib.sh.
bench_measure() {
	local name=$1 target=$2
	shift 2
	reg_memory "$name" "$target" "$@"
	measure "$name" "$target" "$@"
}

# reg_memory NAME TARGET PID...: RSS, PSS and allocator bytes before and after
# registering USERS users at FILL_RATE -> $WORK/NAME.perc
# "registered ok rss_B pss_B alloc_B" (per contact).
reg_memory() {
	local name=$1 target=$2 r ok n0 n1 rss0 rss1 pss0 pss1 a0 a1 t0 t1
	shift 2
	wait_quiet
	sleep 1
	n0=$("$REG_FN")
	rss0=$(mem_kb VmRSS "$@")
	pss0=$(pss_kb "$@")
	a0=$("$HEAP_FN")
	t0=$(cpu_ticks "$@")
	r=$(bench_uac "$name-fill" "$target" "$FILL_RATE" "$USERS")
	t1=$(cpu_ticks "$@")
	ok=$(awk '{ print $2 }' <<<"$r")
	sleep 2 # the last replies are out; nothing else runs
	n1=$("$REG_FN")
	rss1=$(mem_kb VmRSS "$@")
	pss1=$(pss_kb "$@")
	a1=$("$HEAP_FN")
	awk -v n0="$n0" -v n1="$n1" -v ok="$ok" -v r0="$rss0" -v r1="$rss1" -v p0="$pss0" -v p1="$pss1" \
		-v a0="$a0" -v a1="$a1" 'BEGIN {
			n = n1 - n0
			if (n1 == "n/a" || n0 == "n/a") n = ok
			al = (a0 == "n/a" || a1 == "n/a" || n <= 0) ? "n/a" : sprintf("%.0f", (a1 - a0) / n)
			if (n <= 0) { print n, ok, "n/a n/a", al; exit }
			printf "%d %d %.0f %.0f %s\n", n, ok, (r1 - r0) * 1024 / n, (p1 - p0) * 1024 / n, al
		}' >"$WORK/$name.perc"
	say "[$name] memory per contact: $ok/$USERS registrations ok at $FILL_RATE/s" \
		"($(srv_us $((t1 - t0)) "$ok") us/reg), registered users $n0 -> $n1;" \
		"RSS $(mib "$rss0") -> $(mib "$rss1"), PSS $(mib "$pss0") -> $(mib "$pss1")," \
		"allocator $a0 -> $a1 B: $(awk '{ print $3 " B RSS, " $4 " B PSS, " $5 " B allocator per contact" }' "$WORK/$name.perc")"
}

# ---------------------------------------------------------------- main

main() {
	say "luasbc REGISTER benchmark, $MODE mode: ${DUR}s per measurement, $REPEAT repetitions, $USERS users; work dir $WORK"
	ensure_tools db_postgres.so=kamailio-postgres-modules
	command -v sipp >/dev/null 2>&1 || { say "sipp is not installed and could not be installed"; exit 1; }
	if ! subscribers; then
		say "no PostgreSQL for the subscriber table (./test/services.sh starts it)"
		exit 1
	fi
	build_sbc
	{
		echo "db_url: \"$PG_URL\""
		sed "s|^  load: regs.lua|  load: $SCRIPT|" "$BENCH/luasbc-regs.yaml"
	} >"$SBC_CFG"
	check_sbc "$SBC_CFG"

	REG_FN=regs_sbc
	HEAP_FN=heap_sbc
	bench_sbc luasbc "$SBC_CFG" "registrations with luasbc on sip:127.0.0.1:$SBC_PORT do not succeed" \
		"$SBC_PORT" "$SBC_RPC" "$SIPP_PORT" "$SIPP_CP" || true

	KAM_NOTE=""
	if [[ " $SERVERS " == *" kamailio "* ]]; then
		REG_FN=regs_kam
		HEAP_FN=shm_kam
		bench_kamailio "$KAM_CFG" "$KAM_PORT $SIPP_PORT $SIPP_CP" -A "BENCH_SCRIPT=\"$SCRIPT\"" \
			-A "BENCH_LISTEN=udp:127.0.0.1:$KAM_PORT" -A "BENCH_CTL=\"$KAM_CTL\"" -A "BENCH_DB_URL=\"$PG_URL\""
	fi

	{
		report_head "luasbc REGISTER benchmark"
		echo "  script: ${SCRIPT#"$ROOT"/} — maxfwd, auth_check(realm, \"subscriber\", 1) against PostgreSQL (auth_db, plain"
		echo "          passwords), auth_challenge with qop=auth, consume_credentials, save(\"location\") in memory (usrloc db_mode 0)"
		echo "  traffic: SIPp UAC, REGISTER -> 401 -> REGISTER with digest (MD5, qop=auth) -> 200, UDP loopback,"
		echo "           $USERS distinct users in order (each its own contact), retransmissions on;"
		echo "           a registration succeeds when both replies arrive within ${RECV_TIMEOUT_MS} ms"
		echo "  each measurement ${DUR}s, repeated $REPEAT times, median shown; servers run one after the other;"
		echo "  PostgreSQL 127.0.0.1:5432 (database test, schema of its own) serves both; its CPU is not counted"
		[[ -z $SBC_NOTE ]] || echo "  luasbc NOT measured: $SBC_NOTE"
		[[ -z $KAM_NOTE ]] || echo "  Kamailio NOT measured: $KAM_NOTE"
		echo
		report_table "max regs/s" "CPU us/reg" memcpu "@ ${CPU_RATE}/s"
		echo "CPU us/reg: server CPU per successful registration (2 REGISTERs in, 401 and 200 out, 1 subscriber query)."
		report_memory_notes "$KAM_SHM_MB"
		echo "          In the table both are taken over the fixed-rate runs; over the whole series:"
		report_mem_lines memres
		echo
		report_perc
		report_tail "SIPp"
	} >"$WORK/table.txt"
	save_report
}

# report_perc: the memory per registered contact of both servers, and the ratio.
report_perc() {
	local s
	echo "memory per registered contact: every user registered once at ${FILL_RATE}/s on the fresh server,"
	echo "(after - before) / contacts added:"
	printf '%-10s %10s %14s %14s %16s\n' "server" "contacts" "RSS B/contact" "PSS B/contact" "alloc B/contact"
	for s in luasbc kamailio; do
		[[ -s $WORK/$s.perc ]] || continue
		awk -v s="$s" '{ printf "%-10s %10s %14s %14s %16s\n", s, $1, $3, $4, $5 }' "$WORK/$s.perc"
	done
	if [[ -s $WORK/luasbc.perc && -s $WORK/kamailio.perc ]]; then
		paste -d' ' "$WORK/luasbc.perc" "$WORK/kamailio.perc" | awk '
			function r(a, b) { return (a == "n/a" || b == "n/a" || b + 0 == 0) ? "n/a" : sprintf("%.2f", a / b) }
			{ printf "%-10s %10s %14s %14s %16s\n", "ratio", "", r($3, $8), r($4, $9), r($5, $10) }'
	fi
	echo "alloc: luasbc Go heap in use (core.info heap_bytes = HeapAlloc, garbage not yet collected included);"
	echo "       Kamailio shared memory in use (core.shmmem real_used), where usrloc keeps the contacts."
	echo "RSS: luasbc's; Kamailio's summed over its processes (a shared page counts once per process that touched it)."
}

main "$@"
exit 0
