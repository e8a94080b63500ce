package authdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/auth"
)

// dbQueryTimeout caps one subscriber lookup (the script's deadline may be
// shorter): a slow database fails the authentication, it does not hold a
// worker.
const dbQueryTimeout = time.Second

// AuthDB is a configured auth_db module.
type AuthDB struct {
	log    *zap.Logger
	engine *kemi.Engine

	userCol, domainCol string
	passCol, passCol2  string
	calcHA1            bool
	useDomain          bool
	creds              []credential
	checkVersion       bool
	forceAVPs          bool
	dbURL, globalDBURL string
	file               *fileStore // set when subscriber_file is used
	store              Store
	auth               *auth.Auth
	subscriberFilePath string
}

func newAuthDB(env *kemi.Env) (kemi.Instance, error) {
	d := &AuthDB{log: env.Log, engine: env.Engine}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	ps := env.Params
	d.userCol, d.domainCol = ps.Str("user_column"), ps.Str("domain_column")
	d.passCol, d.passCol2 = ps.Str("password_column"), ps.Str("password_column_2")
	for name, v := range map[string]string{"user_column": d.userCol, "domain_column": d.domainCol,
		"password_column": d.passCol, "password_column_2": d.passCol2} {
		if err := validIdent(v); err != nil || strings.Contains(v, ".") {
			return nil, fmt.Errorf("%s %q: not a column name", name, v)
		}
	}
	d.calcHA1, d.useDomain = ps.Bool("calculate_ha1"), ps.Bool("use_domain")
	d.checkVersion, d.forceAVPs = ps.Bool("version_table"), ps.Bool("force_generate_avps")
	creds, err := parseLoadCredentials(ps.Str("load_credentials"))
	if err != nil {
		return nil, fmt.Errorf("load_credentials: %w", err)
	}
	if env.Engine != nil {
		for _, c := range creds {
			spec, err := env.Engine.ParsePV(c.pv)
			if err != nil {
				return nil, fmt.Errorf("load_credentials: %w", err)
			}
			if spec.Class.Set == nil {
				return nil, fmt.Errorf("load_credentials: %s is not writable", c.pv)
			}
		}
	}
	d.creds = creds
	d.dbURL = ps.Str("db_url")
	if env.Core != nil {
		d.globalDBURL = env.Core.Cfg.DBURL
	}
	// The file is read here rather than in Start so that sbc --check reports
	// a bad one; the database is reached in Start.
	if f := ps.Str("subscriber_file"); f != "" {
		if env.Core == nil {
			return d, nil // only listing the API
		}
		d.subscriberFilePath = env.Core.Cfg.Path(f)
		fs, missing, err := newFileStore(d.subscriberFilePath)
		if err != nil {
			return nil, err
		}
		if missing {
			d.log.Warn("auth_db: subscriber_file does not exist: no subscribers until it is created and auth_db.reload runs",
				zap.String("file", d.subscriberFilePath))
		}
		d.file, d.store = fs, fs
	} else if env.Core != nil && backend.Resolve(d.dbURL, d.globalDBURL) == "" {
		return nil, errors.New("no subscriber storage: set db_url (or the global db_url) or subscriber_file")
	}
	return d, nil
}

// Start binds the auth module and connects to the database.
func (d *AuthDB) Start() error {
	if d.engine != nil {
		d.auth, _ = d.engine.Instance("auth").(*auth.Auth)
	}
	if d.auth == nil {
		return errors.New("the auth module is not loaded (add auth: {} to modules)")
	}
	if d.store != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := backend.Postgres(ctx, backend.Resolve(d.dbURL, d.globalDBURL))
	if err != nil {
		return err
	}
	if d.checkVersion {
		if err := checkTableVersion(ctx, db, "subscriber"); err != nil {
			return err
		}
	}
	d.store = newPGStore(db, d.userCol, d.domainCol, d.checkVersion)
	return nil
}

// authenticate runs the auth engine with the secret from the store.
func (d *AuthDB) authenticate(c *kemi.Ctx, realm, table string, hf auth.HFType, method string) (int, *auth.Credentials) {
	if d.auth == nil || d.store == nil {
		c.Logger().Error("auth_db: not started")
		return auth.Error, nil
	}
	if table == "" {
		c.Logger().Error("auth_db: empty table name")
		return auth.Error, nil
	}
	var row []Value
	found := false
	code, cred := d.auth.Authenticate(c, realm, hf, method, func(cr *auth.Credentials, realm string) (auth.Secret, bool, error) {
		// As Kamailio: the domain of the username if it has one, else the
		// realm; with calculate_ha1 0 a username with a domain selects the
		// HA1 column computed with that domain (password_column_2).
		domain := cr.Domain
		if domain == "" {
			domain = realm
		}
		col := d.passCol
		if !d.calcHA1 && cr.Domain != "" {
			col = d.passCol2
		}
		vals, ok, err := d.lookup(c, table, cr.User, domain, d.useDomain, append([]string{col}, d.columns()...))
		if err != nil || !ok {
			return auth.Secret{}, ok, err
		}
		found, row = true, vals
		if d.calcHA1 {
			return auth.Secret{Password: vals[0].Text}, true, nil
		}
		return auth.Secret{HA1: vals[0].Text}, true, nil
	})
	if found && (code == auth.OK || d.forceAVPs) {
		d.setAVPs(c, row[1:])
	}
	return code, cred
}

// lookup asks the store under the script's deadline, capped.
func (d *AuthDB) lookup(c *kemi.Ctx, table, user, domain string, useDomain bool, cols []string) ([]Value, bool, error) {
	ctx, cancel := context.WithTimeout(c.Context(), dbQueryTimeout)
	defer cancel()
	return d.store.Lookup(ctx, Query{Table: table, User: user, Domain: domain, UseDomain: useDomain, Columns: cols})
}

// columns are the load_credentials columns, in order.
func (d *AuthDB) columns() []string {
	out := make([]string, len(d.creds))
	for i, c := range d.creds {
		out[i] = c.column
	}
	return out
}

// setAVPs loads the credential columns into their variables (NULL values
// are skipped; integer columns become numbers).
func (d *AuthDB) setAVPs(c *kemi.Ctx, vals []Value) {
	for i, cr := range d.creds {
		if i >= len(vals) || vals[i].Null {
			continue
		}
		v := kemi.StrV(vals[i].Text)
		if vals[i].IsInt {
			v = kemi.Value{K: kemi.KInt, I: vals[i].Int}
		}
		if err := c.SetPV(cr.pv, v); err != nil {
			c.Logger().Error("auth_db: credential not loaded", zap.String("pv", cr.pv), zap.Error(err))
		}
	}
}
