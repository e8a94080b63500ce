package acc

import (
	"fmt"
	"strings"

	"github.com/luasbc/luasbc/kemi"
)

// extra is one "name=$pv" item of log_extra, db_extra or cdr_extra.
type extra struct {
	Name string
	PV   string
	spec *kemi.PVSpec
}

// parseExtras parses "name=$pv;name=$pv" (Kamailio's xxx_extra syntax;
// white space around items is ignored). With eng, every PV must exist and
// be readable outside a Lua state (no $var/$vn: accounting runs when the
// transaction completes, after the script callback that set them).
func parseExtras(param, s string, eng *kemi.Engine, limit int) ([]extra, error) {
	var out []extra
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, pv, ok := strings.Cut(item, "=")
		name, pv = strings.TrimSpace(name), strings.TrimSpace(pv)
		if !ok || name == "" || pv == "" {
			return nil, fmt.Errorf("%s: %q is not name=$pv", param, item)
		}
		if !validName(name) {
			return nil, fmt.Errorf("%s: %q is not a column/field name (letters, digits, _)", param, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: %q given twice", param, name)
		}
		seen[name] = true
		if !strings.HasPrefix(pv, "$") {
			return nil, fmt.Errorf("%s: %s=%s: the value must be a pseudo-variable", param, name, pv)
		}
		e := extra{Name: name, PV: pv}
		if eng != nil {
			spec, err := eng.ParsePV(pv)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", param, name, err)
			}
			if n := spec.Class.Name; n == "var" || n == "vn" {
				return nil, fmt.Errorf("%s: %s=%s: $%s belongs to one Lua state and is gone when the transaction completes; use $avp or $xavp", param, name, pv, n)
			}
			e.spec = spec
		}
		out = append(out, e)
	}
	if limit > 0 && len(out) > limit {
		return nil, fmt.Errorf("%s: %d items, more than the size limit %d", param, len(out), limit)
	}
	return out, nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return s != "" && len(s) <= 63
}

// eval reads the extras for c's message: nil for a null value.
func evalExtras(c *kemi.Ctx, xs []extra) (vals []*string) {
	vals = make([]*string, len(xs))
	for i, x := range xs {
		vals[i] = evalOne(c, x)
	}
	return vals
}

// evalOne evaluates one PV; a PV class that fails outside a script
// callback gives null instead of taking the server down.
func evalOne(c *kemi.Ctx, x extra) (v *string) {
	if x.spec == nil || c.M == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			v = nil
		}
	}()
	val := x.spec.Class.Get(c, x.spec)
	if val.IsNil() {
		return nil
	}
	s := val.String()
	return &s
}
