package registrar

import (
	"testing"

	"github.com/luasbc/luasbc/kemi"
	_ "github.com/luasbc/luasbc/modules/usrloc"
)

func TestParamErrors(t *testing.T) {
	for _, p := range []map[string]any{
		{"min_expires": 600, "max_expires": 60},
		{"default_expires_range": 101}, {"expires_range": -1}, {"default_q": 1001},
		{"path_mode": 3}, {"outbound_mode": 3}, {"flow_timer": 30},
		{"sock_flag": 40}, {"sock_hdr_name": "Bad Header"}, {"contact_max_size": 8},
		{"xavp_cfg": "a b"}, {"max_contacts": -1},
		{"no_such_param": 1},
	} {
		ps, _, err := kemi.ValidateParams(kemi.LookupModule("registrar"), p)
		if err == nil {
			_, err = newRegistrar(&kemi.Env{Params: ps})
		}
		if err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	ps, ignored, err := kemi.ValidateParams(kemi.LookupModule("registrar"), map[string]any{"xavp_rcd": "ulrcd", "aor_avp": "$avp(x)"})
	if err != nil || len(ignored) != 2 {
		t.Errorf("ignored params: %v %v", ignored, err)
	}
	if _, err := newRegistrar(&kemi.Env{Params: ps}); err != nil {
		t.Error(err)
	}
}
