package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/transport/tlstest"
)

func TestTLSProfiles(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	ca.Issue(t, dir, "srv", "srv", "127.0.0.1")
	good := `listen: ["tls:127.0.0.1:5061", "wss:[::1]:8443"]
tls:
  - {profile: "server:default", certificate: srv.pem, private_key: srv.key, method: "TLSv1.3"}
  - {profile: "server:127.0.0.1:5061", certificate: srv.pem, private_key: srv.key, server_name: sbc.test, verify_certificate: true, ca_list: ca.pem}
  - {profile: "client:default", verify_certificate: true, ca_list: ca.pem}
`
	c, err := Parse([]byte(good), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TLS) != 3 || !c.TLS[0].Server || c.TLS[0].MinVersion != tls.VersionTLS13 || c.TLS[0].MaxVersion != tls.VersionTLS13 ||
		c.TLS[1].Addr.String() != "127.0.0.1:5061" || c.TLS[2].Server || c.TLS[2].MinVersion != tls.VersionTLS12 ||
		c.TLS[0].Certificate != filepath.Join(dir, "srv.pem") {
		t.Fatalf("profiles %+v", c.TLS)
	}
	for y, want := range map[string]string{
		`listen: ["tls:127.0.0.1:5061"]`:                                                                                      "no TLS server profile",
		"tls: [{profile: \"server:nowhere\", certificate: srv.pem}]":                                                          "not default or IP:PORT",
		"tls: [{profile: \"peer:default\"}]":                                                                                  "want server:default",
		"tls: [{profile: \"server:default\"}]":                                                                                "needs certificate",
		"tls: [{profile: \"server:default\", certificate: nope.pem, private_key: k}]":                                         "nope.pem",
		"tls: [{profile: \"client:default\", method: TLSv9}]":                                                                 "method",
		"tls: [{profile: \"client:default\"}, {profile: \"client:default\"}]":                                                 "twice",
		"tls: [{profile: \"client:default\", colour: blue}]":                                                                  "colour",
		"listen: [\"wss:127.0.0.1:1\"]\ntls: [{profile: \"server:127.0.0.1:2\", certificate: srv.pem, private_key: srv.key}]": "no TLS server profile",
	} {
		_, err := Parse([]byte(y), dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", y, err, want)
		}
	}
	_ = os.Remove(filepath.Join(dir, "srv.key"))
	if _, err := Parse([]byte(good), dir); err == nil || !strings.Contains(err.Error(), "srv.key") {
		t.Errorf("missing key: %v", err)
	}
}

func TestStreamAndDNSDefaults(t *testing.T) {
	c, err := Parse([]byte("{}"), ".")
	if err != nil {
		t.Fatal(err)
	}
	k := c.Core
	if k.TLSMaxConnections != 2048 || k.TCPConnectTimeout != 3 || k.TCPSendTimeout != 3 || k.TCPMsgDataTimeout != 10 ||
		k.TCPMsgReadTimeout != 20 || k.TCPAcceptAliases {
		t.Errorf("stream defaults %+v", k)
	}
	if !On(k.DNSTryNAPTR, true) || k.DNSRetrTime != 2 || k.DNSRetrNo != 1 || k.DNSCacheMaxTTL != 3600 ||
		k.DNSNegCacheTTL != 60 || k.DstBlocklistExpire != 60 || len(k.DNSServers) != 0 {
		t.Errorf("dns defaults %+v", k.DNS)
	}
	c, err = Parse([]byte("core: {dns_servers: [\"127.0.0.1:5353\"], dns_try_naptr: no, tcp_accept_aliases: yes, use_dst_blocklist: false}"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if On(c.Core.DNSTryNAPTR, true) || !c.Core.TCPAcceptAliases || On(c.Core.UseDstBlocklist, true) || c.Core.DNSServers[0] != "127.0.0.1:5353" {
		t.Errorf("dns knobs %+v", c.Core)
	}
	if _, err := Parse([]byte("core: {tcp_msg_data_timeout: -1}"), "."); err == nil {
		t.Error("negative timeout accepted")
	}
}
