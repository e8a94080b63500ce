package authdb

import (
	"context"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/auth"
)

// auth_check flags.
const (
	checkID      = 1 // the auth user must be the From/To user
	checkSkipFwd = 2 // ... except for INVITE, BYE, PRACK, UPDATE, MESSAGE
)

// is_subscriber flags.
const (
	subsUseDomain = 1 // match the URI's host against the domain column
	subsNoLoad    = 2 // do not load the credentials into AVPs
)

// Exports implements kemi.Instance: Kamailio's four KEMI exports of
// auth_db, then (luasbc) the native-only proxy_authenticate and the
// *_authorize aliases so that scripts written for the native language port
// as they are.
func (d *AuthDB) Exports() []kemi.Export {
	codes := " 1 ok; -1 error; -2 wrong password; -3 unknown user; -4 stale nonce; -5 no credentials; -6 nonce reused"
	www := func(c *kemi.Ctx, realm, table string) int { return d.www(c, realm, table, "") }
	proxy := func(c *kemi.Ctx, realm, table string) int { return d.proxy(c, realm, table) }
	return []kemi.Export{
		kemi.Fn("auth_check", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"www_authenticate for REGISTER, proxy_authenticate otherwise; flags 1: the auth user must be the To and From user "+
				"(REGISTER), From, To and R-URI user (PUBLISH), From user (others); flags 3: not for INVITE, BYE, PRACK, UPDATE, MESSAGE."+
				codes+"; -8 user mismatch.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(d.authCheck(c, a.S[0], a.S[1], int(a.I[2])))
			}),
		kemi.Fn("is_subscriber", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"1 if the table has a subscriber for the URI's user (and host with flags 1); flags 2: do not load the credentials into AVPs. -2 none, -1 error.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(d.isSubscriber(c, a.S[0], a.S[1], int(a.I[2])))
			}),
		kemi.FnStrStrInt("www_authenticate", "Verify the Authorization credentials for realm against the table."+codes+".", www),
		kemi.FnStrStrStrInt("www_authenticate_method", "www_authenticate with the method used in the digest.",
			func(c *kemi.Ctx, realm, table, method string) int {
				if method == "" {
					c.Logger().Error("www_authenticate_method: empty method")
					return auth.Error
				}
				return d.www(c, realm, table, method)
			}),
		kemi.FnStrStrInt("proxy_authenticate",
			"luasbc (native in Kamailio): verify the Proxy-Authorization credentials; an empty realm is the From host."+codes+".", proxy),
		kemi.FnStrStrInt("www_authorize", "luasbc (native in Kamailio): the old name of www_authenticate.", www),
		kemi.FnStrStrInt("proxy_authorize", "luasbc (native in Kamailio): the old name of proxy_authenticate.", proxy),
	}
}

func (d *AuthDB) www(c *kemi.Ctx, realm, table, method string) int {
	if realm == "" {
		c.Logger().Error("www_authenticate: empty realm")
		return auth.Error
	}
	code, _ := d.authenticate(c, realm, table, auth.WWW, method)
	return code
}

func (d *AuthDB) proxy(c *kemi.Ctx, realm, table string) int {
	if realm == "" && c.M.SIP != nil {
		if f := c.M.SIP.From(); f != nil {
			realm = f.Address.Host
		}
	}
	if realm == "" {
		c.Logger().Error("proxy_authenticate: empty realm")
		return auth.Error
	}
	code, _ := d.authenticate(c, realm, table, auth.Proxy, "")
	return code
}

func (d *AuthDB) authCheck(c *kemi.Ctx, realm, table string, flags int) int {
	m := c.M
	if m.Req == nil {
		return auth.Error
	}
	switch m.Method() {
	case "ACK", "CANCEL":
		return auth.OK
	}
	if realm == "" {
		c.Logger().Error("auth_check: empty realm")
		return auth.Error
	}
	hf := auth.Proxy
	if m.Method() == "REGISTER" {
		hf = auth.WWW
	}
	code, cred := d.authenticate(c, realm, table, hf, "")
	if code != auth.OK || cred == nil || flags&checkID == 0 {
		return code
	}
	rc := auth.CheckIdentity(m, cred, d.useDomain, flags&checkSkipFwd != 0)
	if rc == auth.UserMismatch {
		d.auth.RecordFailure(c, cred, rc, "auth user is not the From/To user")
	}
	return rc
}

func (d *AuthDB) isSubscriber(c *kemi.Ctx, uri, table string, flags int) int {
	if d.store == nil || uri == "" || table == "" || msg.CheckValue(uri) != nil {
		c.Logger().Error("is_subscriber: empty or invalid argument")
		return -1
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.User == "" {
		c.Logger().Error("is_subscriber: invalid URI", zap.String("uri", uri))
		return -1
	}
	cols := []string{d.userCol}
	if flags&subsNoLoad == 0 && len(d.creds) > 0 {
		cols = d.columns()
	}
	vals, found, err := d.lookup(c, table, u.User, u.Host, flags&subsUseDomain != 0, cols)
	if err != nil {
		c.Logger().Error("is_subscriber: lookup failed", zap.Error(err))
		return -1
	}
	if !found {
		return -2
	}
	if flags&subsNoLoad == 0 && len(d.creds) > 0 {
		d.setAVPs(c, vals)
	}
	return 1
}

// RPC implements kemi.RPCProvider.
func (d *AuthDB) RPC() []rpc.Method {
	return append(d.subscriberRPC(), rpc.Method{Name: "auth_db.reload",
		Doc: "luasbc: read subscriber_file again; on error the loaded subscribers stay and the error is returned.",
		Fn: func(context.Context, rpc.Params) (any, error) {
			if d.file == nil {
				return nil, rpc.Errorf(500, "no subscriber_file configured (the database is read on every request)")
			}
			n, err := d.file.Reload()
			if err != nil {
				d.log.Error("auth_db: subscriber file reload failed, keeping the loaded one", zap.Error(err))
				return nil, rpc.Errorf(500, "%v", err)
			}
			d.log.Info("auth_db: subscriber file reloaded", zap.Int("subscribers", n))
			return map[string]any{"subscribers": n}, nil
		}})
}
