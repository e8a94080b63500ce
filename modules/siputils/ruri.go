package siputils

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

func ruriParts(c *kemi.Ctx) (uriParts, bool) {
	if c.M.Req == nil {
		return uriParts{}, false
	}
	return splitURI(c.M.RURIString())
}

// uriParamValue: with value == nil the parameter must be present without a
// value; names compare case-sensitively here, as in Kamailio.
func uriParamValue(c *kemi.Ctx, name string, value *string) int {
	p, ok := ruriParts(c)
	if !ok {
		return -1
	}
	v, hasVal, found, _ := p.param(name, false)
	if !found {
		return -1
	}
	if value == nil {
		return rc(!hasVal)
	}
	return rc(v == *value)
}

func uriParamAny(c *kemi.Ctx, name string) int {
	p, ok := ruriParts(c)
	if !ok {
		return -1
	}
	_, _, found, _ := p.param(name, true)
	return rc(found)
}

func setRURI(c *kemi.Ctx, fn, s string) int {
	if err := c.M.SetRURI(s); err != nil {
		c.Logger().Error("R-URI rewrite refused", zap.String("function", "siputils."+fn), zap.Error(err))
		return -1
	}
	return 1
}

// uriParamRm removes every occurrence of the parameter; 1 also when absent.
func uriParamRm(c *kemi.Ctx, name string) int {
	p, ok := ruriParts(c)
	if !ok {
		return -1
	}
	changed := false
	for {
		_, _, found, i := p.param(name, true)
		if !found {
			break
		}
		p.remove(i)
		changed = true
	}
	if !changed {
		return 1
	}
	return setRURI(c, "uri_param_rm", p.String())
}

func addURIParam(c *kemi.Ctx, param string) int {
	if param == "" {
		return 1
	}
	if strings.ContainsAny(param, " \t\r\n\x00<>?;\"") {
		c.Logger().Error("invalid URI parameter", zap.String("function", "siputils.add_uri_param"), zap.String("param", param))
		return -1
	}
	p, ok := ruriParts(c)
	if !ok {
		return -1
	}
	p.params = append(p.params, param)
	return setRURI(c, "add_uri_param", p.String())
}

// isGRUU: 1 for a public GRUU (gr=value), 2 for a temporary one (gr alone).
func isGRUU(c *kemi.Ctx) int {
	p, ok := ruriParts(c)
	if !ok {
		return -1
	}
	_, hasVal, found, _ := p.param("gr", true)
	switch {
	case !found:
		return -1
	case hasVal:
		return 1
	}
	return 2
}
