package topos_test

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi"
)

// newWith instantiates a module with the given parameters, as the engine
// does (defaults filled in), without a core.
func newWith(t *testing.T, module string, given map[string]any) error {
	t.Helper()
	def := kemi.LookupModule(module)
	params, _, err := kemi.ValidateParams(def, given)
	if err != nil {
		return err
	}
	_, err = def.New(&kemi.Env{Params: params})
	return err
}

func TestParamErrors(t *testing.T) {
	for _, c := range []struct {
		module string
		given  map[string]any
		want   string // "" = accepted
	}{
		{"topos", map[string]any{}, ""},
		{"topos", map[string]any{"storage": "htable", "rr_update": 1, "xavu_cfg": "_tps_"}, ""},
		{"topos", map[string]any{"storage": "db"}, `storage "db"`},
		{"topos", map[string]any{"storage": "mongo"}, "storage: unknown"},
		{"topos", map[string]any{"storage": "redis"}, "needs redis_url"},
		{"topos", map[string]any{"storage": "redis", "redis_url": "http://x"}, "redis_url"},
		{"topos", map[string]any{"branch_expire": 0}, "branch_expire"},
		{"topos", map[string]any{"contact_mode": 2}, "contact_mode 2"},
		{"topos", map[string]any{"contact_host": "a b"}, "contact_host"},
		{"topos", map[string]any{"context": "much-too-long-context"}, "context"},
		{"topos", map[string]any{"methods_nocontact": "BYE, NOT A METHOD"}, "methods_nocontact"},
		{"topos", map[string]any{"event_mode": 16}, "event_mode"},
		{"topos", map[string]any{"max_record": 5}, `did you mean "max_records"`},
		{"topoh", map[string]any{"mask_key": "k"}, ""},
		{"topoh", map[string]any{"mask_key": ""}, "mask_key"},
		{"topoh", map[string]any{"mask_ip": "not an ip!"}, "mask_ip"},
		{"topoh", map[string]any{"mask_ip": "::1"}, ""},
		{"topoh", map[string]any{"vparam_prefix": ""}, "vparam_prefix"},
		{"topoh", map[string]any{"uparam_name": "a;b"}, "uparam_name"},
		{"topoh", map[string]any{"callid_prefix": "a b"}, "callid_prefix"},
		{"topoh", map[string]any{"event_mode": 4}, "event_mode"},
		{"topoh", map[string]any{"use_mode": 2}, "use_mode"},
	} {
		err := newWith(t, c.module, c.given)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v", c.module, c.given, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: error %v, want one naming %q", c.module, c.given, err, c.want)
		}
	}
}
