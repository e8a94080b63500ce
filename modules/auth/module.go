// Package auth is Kamailio's auth module: SIP digest authentication (RFC
// 2617, RFC 7616, RFC 8760) — challenges (401/407 with one header per
// configured algorithm), verification of Authorization/Proxy-Authorization
// against a password or HA1 given by the script (pv_*_authenticate) or by a
// storage module (auth_db, through Authenticate), stateless nonces that carry
// their own expiry and are authenticated with a secret shared by the nodes,
// nonce-count and one-time-nonce replay protection, the auth pseudo-variables
// ($au, $ar, $adu, ...) and a bounded record of recent failures per source
// and user (RPC auth.failures).
package auth

import "github.com/luasbc/luasbc/kemi"

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "auth",
		Doc: "Digest authentication: challenges, verification against a script-given password or HA1, " +
			"stateless HMAC nonces shared by nodes with one secret, nonce-count and one-time-nonce replay protection, " +
			"MD5 and SHA-256 (RFC 8760), the $au/$ar/$adu... variables and the auth.failures RPC.",
		Params: params,
		New:    newAuth,
	})
}

var params = []kemi.ParamDef{
	{Name: "auth_checks_register", Default: 0, Doc: "Message parts bound into nonces of REGISTER challenges: 1 R-URI, 2 Call-ID, 4 From tag, 8 source IP."},
	{Name: "auth_checks_no_dlg", Default: 0, Doc: "As auth_checks_register, for requests without a To tag."},
	{Name: "auth_checks_in_dlg", Default: 0, Doc: "As auth_checks_register, for requests with a To tag."},
	{Name: "qop", Default: "", Doc: "qop offered by challenges whose flags ask for none: \"auth\", \"auth-int\" or \"\"."},
	{Name: "nonce_count", Default: 0, Doc: "1: remember the highest nonce count (nc) per nonce and refuse one that does not grow (-6)."},
	{Name: "one_time_nonce", Default: 0, Doc: "1: a nonce is accepted once when the client sends no nc (-6 afterwards)."},
	{Name: "nid_pool_no", Default: 1, Ignored: true, Doc: "No effect: the nonce table is locked per bucket."},
	{Name: "nc_array_size", Default: 0, Doc: "Nonces the replay table tracks (rounded up to a power of two); 0: 2^nc_array_order."},
	{Name: "nc_array_order", Default: 20, Doc: "log2 of the tracked nonces when nc_array_size is 0 (20: 1M nonces, 16 MB, allocated only with nonce_count or one_time_nonce)."},
	{Name: "otn_in_flight_no", Default: 0, Doc: "As nc_array_size, for one_time_nonce; the table has the larger of the two sizes."},
	{Name: "otn_in_flight_order", Default: 20, Doc: "As nc_array_order, for one_time_nonce."},
	{Name: "secret", Default: "", Doc: "Secret the nonces are authenticated with; random at each start when empty. Nodes that must accept each other's nonces need the same secret (32 characters or more)."},
	{Name: "nonce_expire", Default: 300, Doc: "Seconds a nonce is valid; an older one gets -4 (stale)."},
	{Name: "nonce_auth_max_drift", Default: 3, Doc: "Seconds a nonce's creation time may lie in the future (clock differences between nodes)."},
	{Name: "force_stateless_reply", Default: 0, Doc: "1: challenges are sent statelessly even when a transaction exists."},
	{Name: "realm_prefix", Default: "", Doc: "Prefix stripped from realms (\"sip.\" makes sip.example.com the realm example.com)."},
	{Name: "use_domain", Default: 0, Doc: "pv_auth_check: also compare the domains of From and To (and R-URI for PUBLISH)."},
	{Name: "algorithm", Default: "", Doc: "Digest algorithm(s): MD5 (\"\"), SHA-256, SHA-512-256, their -sess variants, or a comma-separated list (one challenge each, in the order given; RFC 8760 wants SHA-256 first)."},
	{Name: "add_authinfo_hdr", Default: 0, Doc: "1: a successful authentication adds Authentication-Info (rspauth, nextnonce) to the local reply."},
	{Name: "protect_contacts", Default: 0, Ignored: true, Doc: "No effect (Kamailio does not use it either)."},
	{Name: "challenge_attr", Default: "$digest_challenge", Doc: "AVP the pv_*_authenticate flags 2/4/8 put a challenge header into ($name is $avp(name))."},
	{Name: "proxy_challenge_header", Default: "Proxy-Authenticate", Doc: "Header name of proxy challenges."},
	{Name: "www_challenge_header", Default: "WWW-Authenticate", Doc: "Header name of www challenges."},
	{Name: "failure_track_size", Default: 10000, Doc: "luasbc: (source IP, user) pairs the auth.failures record keeps; 0 disables it."},
	{Name: "failure_track_expire", Default: 600, Doc: "luasbc: seconds after its last failure a pair leaves the auth.failures record."},
}
