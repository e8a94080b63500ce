package core

import (
	"context"
	"crypto/tls"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
)

// tlsMethods are Kamailio's tls.* commands.
func tlsMethods(c *Core) []rpc.Method {
	return []rpc.Method{
		{Name: "tls.list", Doc: "TLS and WSS connections: id, type, timeout (seconds left before an idle close), src_ip/src_port " +
			"(remote end), dst_ip/dst_port (local end), state (handshake, established), cipher, version, sni (name the client asked " +
			"for, or the one we sent), peer_subject (first certificate of the peer, if any), outbound, age.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				lifetime := c.TP.Limits().ConnLifetime
				out := []map[string]any{}
				for _, ci := range c.TP.Conns() {
					if ci.Proto != msg.TLS && ci.Proto != msg.WSS {
						continue
					}
					e := connEntry(ci, lifetime)
					delete(e, "ref_count")
					e["cipher"], e["version"], e["sni"], e["peer_subject"] = "", "", "", ""
					if st := ci.TLS; st != nil {
						e["cipher"] = tls.CipherSuiteName(st.CipherSuite)
						e["version"] = tls.VersionName(st.Version)
						e["sni"] = st.ServerName
						if len(st.PeerCertificates) > 0 {
							e["peer_subject"] = st.PeerCertificates[0].Subject.String()
						}
					}
					out = append(out, e)
				}
				return out, nil
			}},
		{Name: "tls.info", Doc: "max_connections (tls_max_connections), opened_connections (TLS and WSS), " +
			"clear_text_write_queued_bytes (always 0: writes are not queued).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				_, secure := c.TP.ConnCounts()
				return map[string]any{"max_connections": c.TP.Limits().MaxTLSConnections, "opened_connections": secure,
					"clear_text_write_queued_bytes": 0}, nil
			}},
		{Name: "tls.reload", Doc: "Read the certificate, key and CA files of every TLS profile again (what SIGHUP does): " +
			"new handshakes use them, open connections keep theirs. A profile whose files fail to load keeps the ones it had; " +
			"the fault (500) names it.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				if len(c.Cfg.TLS) == 0 {
					return nil, rpc.Errorf(500, "TLS is not configured")
				}
				if err := c.TP.ReloadTLS(); err != nil {
					return nil, &rpc.Error{Code: 500, Message: "Reload Failed", Data: err.Error()}
				}
				return "Ok. TLS configuration reloaded.", nil
			}},
	}
}
