// Package dispatcher is Kamailio's dispatcher module: destination sets
// loaded from a list file or the dispatcher table, selection algorithms
// (hashing, round robin, priority, weights, call load, parallel forking,
// latency), serial failover kept with the transaction, health probing with
// OPTIONS keepalives and the A/I/T/D/P states, and live operations by RPC.
package dispatcher

import "github.com/luasbc/luasbc/kemi"

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "dispatcher",
		Doc: "Load balancing and failover over destination sets (list file or PostgreSQL), with OPTIONS " +
			"health probing and live set/state changes by RPC.",
		Params: params,
		New:    newDispatcher,
		Tables: []kemi.Table{{Name: "dispatcher", Version: 4, SQL: `CREATE TABLE dispatcher (
    id SERIAL PRIMARY KEY NOT NULL,
    setid INTEGER DEFAULT 0 NOT NULL,
    destination VARCHAR(192) DEFAULT '' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    priority INTEGER DEFAULT 0 NOT NULL,
    attrs VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
);`}},
	})
}

// params are every modparam of Kamailio's dispatcher.
var params = []kemi.ParamDef{
	{Name: "list_file", Default: "", Doc: "Destination list in Kamailio's format; relative to the config file. Default: dispatcher.list beside the config, unless a database is configured."},
	{Name: "db_url", Default: "", Doc: "PostgreSQL URL of the dispatcher table (default: the global db_url when list_file is not set)."},
	{Name: "table_name", Default: "dispatcher", Doc: "Table name."},
	{Name: "setid_col", Default: "setid", Doc: "Table: set id column."},
	{Name: "destination_col", Default: "destination", Doc: "Table: destination URI column."},
	{Name: "flags_col", Default: "flags", Doc: "Table: flags column."},
	{Name: "priority_col", Default: "priority", Doc: "Table: priority column."},
	{Name: "attrs_col", Default: "attrs", Doc: "Table: attributes column."},
	{Name: "force_dst", Default: 1, Doc: "1: ds_select_dst overwrites a $du already set; 0: it fails (-1) instead."},
	{Name: "flags", Default: 0, Doc: "Bit 1: hash only the user part of URIs; bit 2: keep the other destinations for failover (ds_next_dst, ds_mark_dst)."},
	{Name: "use_default", Default: 0, Doc: "1: the last destination of a set is used only when no other is active, and last for failover."},
	{Name: "xavp_dst", Default: "_dsdst_", Doc: "Name of the failover list; an empty name disables failover as in Kamailio (the list is kept with the transaction, not in an XAVP)."},
	{Name: "xavp_dst_mode", Default: 0, Doc: "Fields of the XAVP records.", Ignored: true},
	{Name: "xavp_ctx", Default: "_dsctx_", Doc: "Name of the selection context XAVP.", Ignored: true},
	{Name: "xavp_ctx_mode", Default: 0, Doc: "Fields of the context XAVP.", Ignored: true},
	{Name: "hash_pvar", Default: "", Doc: "Text with pseudo-variables hashed by algorithm 7, e.g. \"$fU@$ci\"."},
	{Name: "setid_pvname", Default: "", Doc: "PV that ds_is_from_list() over all sets sets to the matching set id, e.g. \"$var(setid)\"."},
	{Name: "attrs_pvname", Default: "", Doc: "PV that ds_is_from_list* sets to the attributes of the matching destination."},
	{Name: "ds_ping_method", Default: "OPTIONS", Doc: "Method of the keepalive requests."},
	{Name: "ds_ping_from", Default: "sip:dispatcher@localhost", Doc: "From URI of the keepalive requests (the ping_from attribute overrides it)."},
	{Name: "ds_ping_interval", Default: 0, Doc: "Seconds between keepalive rounds; 0 disables probing."},
	{Name: "ds_probing_threshold", Default: 1, Doc: "Failed keepalives (or ds_mark_dst(\"t\")) that take an active destination to inactive, through trying."},
	{Name: "ds_inactive_threshold", Default: 1, Doc: "Successful keepalives that take an inactive destination back to active."},
	{Name: "ds_ping_reply_codes", Default: "", Doc: "Replies that count as success besides 2xx: \"code=403;class=4\"."},
	{Name: "ds_probing_mode", Default: 0, Doc: "0: ping destinations with the probing flag, clear it on success; 1: ping all; 2: ping only inactive probing ones; 3: ping probing ones and keep the flag."},
	{Name: "ds_ping_latency_stats", Default: 0, Doc: "1: measure keepalive latency (dispatcher.list LATENCY, algorithm 13)."},
	{Name: "ds_retain_latency_stats", Default: 0, Doc: "1: keep the latency statistics of a destination across reloads."},
	{Name: "ds_latency_estimator_alpha", Default: 900, Doc: "Weight of the past in the latency estimate, in thousandths (900 = 0.9)."},
	{Name: "ds_hash_size", Default: 0, Doc: "Greater than 0 enables call-load tracking for algorithm 10 (the table size itself is not needed here)."},
	{Name: "ds_hash_expire", Default: 7200, Doc: "Seconds after which the load of a call with no BYE is released."},
	{Name: "ds_hash_initexpire", Default: 7200, Doc: "Seconds after which the load of a call never confirmed by ds_load_update (2xx) is released."},
	{Name: "ds_hash_check_interval", Default: 30, Doc: "Seconds between scans for expired call loads."},
	{Name: "outbound_proxy", Default: "", Doc: "SIP URI where keepalives are sent instead of the destination (the obproxy attribute overrides it)."},
	{Name: "ds_default_socket", Default: "", Doc: "proto:ip:port of the socket for destinations without a socket attribute (keepalives and requests)."},
	{Name: "ds_default_sockname", Default: "", Doc: "Same as ds_default_socket, by socket name (the proto:ip:port text here); wins over it."},
	{Name: "ds_timer_mode", Default: 0, Doc: "Timer process of keepalives; here they always run on their own goroutine.", Ignored: true},
	{Name: "event_callback", Default: "", Doc: "Lua function called with \"dispatcher:dst-down\" / \"dispatcher:dst-up\" when a destination changes."},
	{Name: "ds_attrs_none", Default: 0, Doc: "1: a destination without attributes gets \"none=yes\"."},
	{Name: "ds_db_extra_attrs", Default: "", Doc: "More table columns appended to the attributes: \"name=column;name2=column2\"."},
	{Name: "ds_load_mode", Default: 0, Doc: "0: a bad entry is skipped and reported; 1: a bad entry fails the whole load (the loaded list stays)."},
	{Name: "reload_delta", Default: 5, Doc: "Seconds that must pass between two reloads, dispatcher.add or dispatcher.remove (0: no limit)."},
	{Name: "ds_dns_mode", Default: 1, Doc: "Bits: 1 resolve hosts at load, 2 resolve again at each ds_is_from_list, 4 refresh every ds_dns_interval, 8 SRV (resolved as A/AAAA here)."},
	{Name: "ds_dns_interval", Default: 600, Doc: "Seconds between DNS refreshes with ds_dns_mode 4."},
	{Name: "ds_dns_ttl", Default: 0, Doc: "TTL of DNS answers cached by the module; the system resolver is asked each time here.", Ignored: true},
}
