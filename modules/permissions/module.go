// Package permissions is Kamailio's permissions module: IP address and
// subnet access lists in groups (allow_source_address, allow_address...),
// trusted peers by source, transport and URI patterns (allow_trusted), and
// the allow/deny rule files of allow_routing, allow_register and allow_uri.
// Tables come from a file or from Kamailio's address and trusted tables in
// PostgreSQL, and are reloaded by RPC without a moment of missing data.
package permissions

import "github.com/luasbc/luasbc/kemi"

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "permissions",
		Tables: []kemi.Table{
			{Name: "address", Version: 6, SQL: `CREATE TABLE address (
    id SERIAL PRIMARY KEY NOT NULL,
    grp INTEGER DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INTEGER DEFAULT 32 NOT NULL,
    port SMALLINT DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
);`},
			{Name: "trusted", Version: 6, SQL: `CREATE TABLE trusted (
    id SERIAL PRIMARY KEY NOT NULL,
    src_ip VARCHAR(50) NOT NULL,
    proto VARCHAR(4) NOT NULL,
    from_pattern VARCHAR(64) DEFAULT NULL,
    ruri_pattern VARCHAR(64) DEFAULT NULL,
    tag VARCHAR(64),
    priority INTEGER DEFAULT 0 NOT NULL
);
CREATE INDEX trusted_peer_idx ON trusted (src_ip);`},
		},
		Doc: "Access control: address groups with subnets (allow_source_address, allow_address), trusted peers " +
			"(allow_trusted), allow/deny rule files (allow_routing, allow_register, allow_uri). Tables from a file or PostgreSQL.",
		Params: params,
		New:    newPermissions,
	})
}

// Load backends (load_backends bits).
const (
	loadAddress = 1
	loadTrusted = 2
	loadAllow   = 4
	loadDeny    = 8
)

var params = []kemi.ParamDef{
	{Name: "default_allow_file", Default: "permissions.allow", Doc: "Allow rules of allow_routing() without arguments; relative to the config file's directory."},
	{Name: "default_deny_file", Default: "permissions.deny", Doc: "Deny rules of allow_routing() without arguments; relative to the config file's directory."},
	{Name: "check_all_branches", Default: 1, Doc: "1: allow_routing checks the R-URI and every branch; 0: only the R-URI."},
	{Name: "allow_suffix", Default: ".allow", Doc: "Appended to a basename to name its allow file."},
	{Name: "deny_suffix", Default: ".deny", Doc: "Appended to a basename to name its deny file."},
	{Name: "address_file", Default: "", Doc: "Address records in Kamailio's address file format; when set, used instead of the database."},
	{Name: "trusted_file", Default: "", Doc: "luasbc: trusted records in a file (see README); when set, used instead of the database."},
	{Name: "db_url", Default: "", Doc: "PostgreSQL URL of the address and trusted tables (default: the global db_url)."},
	{Name: "address_table", Default: "address", Doc: "Address table name."},
	{Name: "grp_col", Default: "grp", Doc: "Address table: group column."},
	{Name: "ip_addr_col", Default: "ip_addr", Doc: "Address table: IP address (or domain) column."},
	{Name: "mask_col", Default: "mask", Doc: "Address table: network mask length column."},
	{Name: "port_col", Default: "port", Doc: "Address table: port column (0 = any)."},
	{Name: "db_mode", Default: 0, Doc: "Trusted table from the database: 0 queries it on every allow_trusted, 1 caches it."},
	{Name: "trusted_table", Default: "trusted", Doc: "Trusted table name."},
	{Name: "source_col", Default: "src_ip", Doc: "Trusted table: source address column."},
	{Name: "proto_col", Default: "proto", Doc: "Trusted table: transport column (any, udp, tcp, tls, sctp, ws, wss, none)."},
	{Name: "from_col", Default: "from_pattern", Doc: "Trusted table: From URI pattern column."},
	{Name: "ruri_col", Default: "ruri_pattern", Doc: "Trusted table: Request-URI pattern column."},
	{Name: "tag_col", Default: "tag", Doc: "Address and trusted tables: tag column."},
	{Name: "priority_col", Default: "priority", Doc: "Trusted table: priority column (higher first)."},
	{Name: "peer_tag_avp", Default: "", Doc: "AVP ($avp(name)) that receives the tag of the matching record."},
	{Name: "peer_tag_mode", Default: 0, Doc: "allow_trusted: 0 stops at the first match; 1 adds the tags of all matches and returns their number."},
	{Name: "max_subnets", Default: 512, Doc: "Most subnet entries the address table may hold; a load with more fails (0: no limit)."},
	{Name: "subnet_match_mode", Default: 0, Doc: "Subnets: 0 the first match (lowest group, then load order), 1 the longest prefix."},
	{Name: "load_backends", Default: 0xffff, Doc: "Bit mask of what to load: 1 address table, 2 trusted table, 4 default allow file, 8 default deny file."},
	{Name: "reload_delta", Default: 5, Doc: "Seconds that must pass between two RPC reloads (0: no limit)."},
	{Name: "trusted_cleanup_interval", Default: 60, Ignored: true,
		Doc: "No effect: a replaced table is freed once no request uses it."},
}
