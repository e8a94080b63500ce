// Package authdb is Kamailio's auth_db module: digest authentication
// (through the auth module's engine) against subscribers kept in Kamailio's
// subscriber table in PostgreSQL, or in a subscriber file; loading of extra
// subscriber columns into AVPs (load_credentials); is_subscriber.
package authdb

import "github.com/luasbc/luasbc/kemi"

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "auth_db",
		Doc: "Digest authentication against the subscriber table (PostgreSQL, Kamailio's columns) or a subscriber file: " +
			"auth_check, www_authenticate, is_subscriber, load_credentials into AVPs. Needs the auth module.",
		Params: params,
		New:    newAuthDB,
		Tables: []kemi.Table{{Name: "subscriber", Version: subscriberVersion, SQL: `CREATE TABLE subscriber (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX subscriber_username_idx ON subscriber (username);`}},
	})
}

// subscriberVersion is the subscriber table version of Kamailio 5 and 6.
const subscriberVersion = 7

var params = []kemi.ParamDef{
	{Name: "db_url", Default: "", Doc: "PostgreSQL URL of the subscriber table (default: the global db_url)."},
	{Name: "user_column", Default: "username", Doc: "Column of the user names."},
	{Name: "domain_column", Default: "domain", Doc: "Column of the domains (matched with use_domain)."},
	{Name: "password_column", Default: "ha1", Doc: "Column of the password (calculate_ha1 1) or of the HA1 (calculate_ha1 0)."},
	{Name: "password_column_2", Default: "ha1b", Doc: "Column of the HA1 computed with user@domain as user name, used with calculate_ha1 0 when the client's username has a domain."},
	{Name: "calculate_ha1", Default: 0, Doc: "1: password_column holds plain passwords and the HA1 is computed (any algorithm); 0: it holds HA1 values."},
	{Name: "use_domain", Default: 0, Doc: "1: match the domain column too (the username's domain, else the realm), and compare domains in auth_check."},
	{Name: "load_credentials", Default: "", Doc: "Columns loaded into AVPs after a successful authentication: \"$avp(rpid)=rpid;email_address\" (a bare column goes to $avp(column))."},
	{Name: "version_table", Default: 1, Doc: "1: refuse a table whose row in the version table is not 7 (checked at start for subscriber, at first use for others)."},
	{Name: "force_generate_avps", Default: 0, Doc: "1: load the credentials into AVPs also when the authentication fails (the user exists)."},
	{Name: "subscriber_file", Default: "", Doc: "luasbc: subscribers in a file (see README) instead of the database; relative to the config file. Reloaded by auth_db.reload."},
}
