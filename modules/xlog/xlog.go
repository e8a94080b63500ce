// Package xlog logs script text with pseudo-variable substitution
// (Kamailio's xlog module, KEMI functions KSR.xlog.*).
package xlog

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "xlog",
		Doc:  "Formatted logging: $pv references in the text are replaced with their values before the line is written.",
		Params: []kemi.ParamDef{
			{Name: "buf_size", Default: 4096, Doc: "Maximum size of one log message in bytes; longer messages are cut."},
			{Name: "force_color", Default: 0, Doc: "Force colour codes in log lines.", Ignored: true},
			{Name: "long_format", Default: 0, Doc: "Print the config file name in xlogl/xdbgl (not KEMI functions).", Ignored: true},
			{Name: "prefix", Default: "<script>: ", Doc: "Text written before every message."},
			{Name: "prefix_mode", Default: 0, Doc: "1: the prefix is a format with $pv references, expanded per message."},
			{Name: "log_facility", Default: "", Doc: "Syslog facility for xlog output (logging goes through zap here).", Ignored: true},
			{Name: "log_colors", Default: "", Doc: "Terminal colours per level.", Ignored: true},
			{Name: "methods_filter", Default: -1, Doc: "Method bitmask for xlogm, which is not a KEMI function.", Ignored: true},
		},
		New: func(env *kemi.Env) (kemi.Instance, error) {
			x := &xlog{bufSize: env.Params.Int("buf_size"), prefix: env.Params.Str("prefix"),
				prefixPV: env.Params.Int("prefix_mode") == 1}
			if x.bufSize <= 0 {
				x.bufSize = 4096
			}
			return x, nil
		},
	})
}

type xlog struct {
	bufSize  int
	prefix   string
	prefixPV bool
}

// level is a Kamailio log level with the zap level it is written at.
type level struct {
	name string
	zap  zapcore.Level
}

// Kamailio has more levels than zap: notice is written as info, and
// crit/alert/bug as error (zap's higher levels panic or exit).
var (
	lAlert  = level{"L_ALERT", zapcore.ErrorLevel}
	lBug    = level{"L_BUG", zapcore.ErrorLevel}
	lCrit   = level{"L_CRIT", zapcore.ErrorLevel}
	lErr    = level{"L_ERR", zapcore.ErrorLevel}
	lWarn   = level{"L_WARN", zapcore.WarnLevel}
	lNotice = level{"L_NOTICE", zapcore.InfoLevel}
	lInfo   = level{"L_INFO", zapcore.InfoLevel}
	lDbg    = level{"L_DBG", zapcore.DebugLevel}
)

// levelByNumber maps Kamailio's numeric levels (a PV holding an integer).
func levelByNumber(n int64) level {
	switch {
	case n <= -5:
		return lAlert
	case n == -4:
		return lBug
	case n == -3:
		return lCrit
	case n == -2, n == -1:
		return lErr
	case n == 0:
		return lWarn
	case n == 1:
		return lNotice
	case n == 2:
		return lInfo
	}
	return lDbg
}

// parseLevel reads a level argument: "L_xxx" (only the third letter counts,
// as in Kamailio), or a $pv holding a number. Anything else is L_ERR.
func parseLevel(c *kemi.Ctx, s string) level {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$") {
		v := c.GetPV(s)
		if v.K == kemi.KInt {
			return levelByNumber(v.I)
		}
		s = v.Text()
	}
	if len(s) < 3 {
		return lErr
	}
	switch s[2] | 0x20 {
	case 'a':
		return lAlert
	case 'b':
		return lBug
	case 'c':
		return lCrit
	case 'w':
		return lWarn
	case 'n':
		return lNotice
	case 'i':
		return lInfo
	case 'd':
		return lDbg
	}
	return lErr
}

// write expands the format and logs it; the expansion is skipped when the
// level is disabled, which keeps debug lines cheap in production.
func (x *xlog) write(c *kemi.Ctx, l level, facility, format string) int {
	log := c.Logger()
	if !log.Core().Enabled(l.zap) {
		return 1
	}
	text := c.Engine.ParseFormat(format).Expand(c)
	text = strings.TrimSuffix(text, "\n")
	prefix := x.prefix
	if x.prefixPV && prefix != "" {
		prefix = c.Engine.ParseFormat(prefix).Expand(c)
	}
	text = prefix + text
	if len(text) > x.bufSize {
		text = text[:x.bufSize]
	}
	fields := []zap.Field{zap.String("from", "xlog"), zap.String("level_name", l.name)}
	if facility != "" {
		fields = append(fields, zap.String("facility", facility))
	}
	if ce := log.Check(l.zap, text); ce != nil {
		ce.Write(fields...)
	}
	return 1
}

func (x *xlog) fixed(name string, l level) kemi.Export {
	return kemi.FnStrInt(name, "Log the text at "+l.name+" after replacing $pv references. Returns 1.",
		func(c *kemi.Ctx, f string) int { return x.write(c, l, "", f) })
}

// Exports implements kemi.Instance.
func (x *xlog) Exports() []kemi.Export {
	return []kemi.Export{
		x.fixed("xdbg", lDbg),
		x.fixed("xinfo", lInfo),
		x.fixed("xnotice", lNotice),
		x.fixed("xwarn", lWarn),
		x.fixed("xerr", lErr),
		x.fixed("xalert", lAlert),
		x.fixed("xcrit", lCrit),
		kemi.FnStrStrInt("xlog", "Log at a level given as L_DBG, L_INFO, L_NOTICE, L_WARN, L_ERR, L_CRIT, L_ALERT, L_BUG or a $pv holding a number. Returns 1.",
			func(c *kemi.Ctx, lv, f string) int { return x.write(c, parseLevel(c, lv), "", f) }),
		kemi.FnStrStrStrInt("xlog_facility", "As xlog with a syslog facility name (recorded as a log field). Returns 1.",
			func(c *kemi.Ctx, fac, lv, f string) int { return x.write(c, parseLevel(c, lv), fac, f) }),
	}
}
