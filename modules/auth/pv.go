package auth

import "github.com/luasbc/luasbc/kemi"

// PVs implements kemi.PVProvider: the auth attributes of Kamailio's pv
// module, read with this module's strict parser from the credentials the
// last authentication used, else the first Proxy-Authorization, else the
// first Authorization. They replace the core's lenient $au/$aU/$ad/$ar
// while the module is loaded.
func (a *Auth) PVs() []*kemi.PVClass {
	attr := func(name, doc string, f func(c *Credentials) string) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
			cred := currentCredentials(c.M)
			if cred == nil {
				return kemi.Nil
			}
			return kemi.StrV(f(cred))
		}}
	}
	return []*kemi.PVClass{
		attr("au", "user part of the auth username", func(c *Credentials) string { return c.User }),
		attr("aU", "whole auth username", func(c *Credentials) string { return c.Username }),
		attr("ad", "domain part of the auth username (\"\" without one)", func(c *Credentials) string { return c.Domain }),
		attr("ar", "realm of the credentials", func(c *Credentials) string { return c.Realm }),
		attr("adu", "digest URI of the credentials", func(c *Credentials) string { return c.URI }),
		attr("aa", "algorithm parameter of the credentials (\"\" when absent: MD5)", func(c *Credentials) string { return c.AlgParam }),
		attr("adn", "nonce of the credentials", func(c *Credentials) string { return c.Nonce }),
		attr("adc", "cnonce of the credentials", func(c *Credentials) string { return c.CNonce }),
		attr("adr", "response of the credentials", func(c *Credentials) string { return c.Response }),
		attr("ado", "opaque of the credentials", func(c *Credentials) string { return c.Opaque }),
		{Name: "Au", Doc: "accounting user: auth user@realm with credentials, else From user@host",
			Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
				if cred := currentCredentials(c.M); cred != nil {
					return kemi.StrV(cred.User + "@" + cred.Realm)
				}
				if c.M.SIP == nil {
					return kemi.Nil
				}
				if f := c.M.SIP.From(); f != nil {
					if f.Address.User == "" {
						return kemi.StrV(f.Address.Host)
					}
					return kemi.StrV(f.Address.User + "@" + f.Address.Host)
				}
				return kemi.Nil
			}},
	}
}
