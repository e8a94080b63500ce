package htable

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/suggest"
)

// Def is one table definition, parsed from Kamailio's string format
// "name=>size=8;autoexpire=300;dbtable=t;..." (the htable modparam).
type Def struct {
	Name         string
	Size         int    // the size attribute as written; Slots() is what it means
	AutoExpire   int    // seconds without update before an item goes; 0 = never
	UpdateExpire bool   // an update restarts the expire (default on)
	HasInitVal   bool   // initval given: missing items read as InitVal
	InitVal      int64  //
	DBTable      string // loaded at start and by htable.reload
	DBMode       int    // 1: written back to DBTable at shutdown
	Cols         []string
	ColDelim     byte   // joins the value columns of a cols table
	ColNull      string // stands for a NULL column ("" = nothing)
	DMQReplicate bool   // accepted; replication here is Redis (redis=1)
	ReloadAt     int    // seconds between periodic reloads from DBTable; 0 = never
	// Extensions of luasbc (not in Kamailio):
	MaxItems int  // safety bound on the number of items; 0 = the max_items modparam
	Redis    bool // items live in Redis, shared by every node using it
}

// Limits of the definition values.
const (
	defaultSize   = 4
	maxSizeAttr   = 31
	maxSlotsPower = 14 // Kamailio clamps the slot count to 2^14
	maxColumns    = 8  // Kamailio's HT_MAX_COLS
	maxNameLen    = 64
	maxSeconds    = 1<<31 - 1
)

// attrs lists every attribute a definition may carry, for strict parsing
// and for the "did you mean" hint.
var attrs = []string{"size", "autoexpire", "updateexpire", "initval", "dbtable", "dbmode", "cols",
	"coldelim", "colnull", "dmqreplicate", "reloadat", "max_items", "redis"}

// Slots is the number of slots (2^size, with Kamailio's clamping: sizes below
// 2 give 8 slots, above 14 give 16384).
func (d *Def) Slots() int {
	switch {
	case d.Size <= 1:
		return 8
	case d.Size > maxSlotsPower:
		return 1 << maxSlotsPower
	}
	return 1 << d.Size
}

// DefError is a malformed definition: which table (if its name could be
// read), which attribute, and why.
type DefError struct {
	Def   string // the definition text
	Table string
	Attr  string
	Msg   string
}

func (e *DefError) Error() string {
	var b strings.Builder
	b.WriteString("htable ")
	if e.Table != "" {
		fmt.Fprintf(&b, "%q", e.Table)
	} else {
		fmt.Fprintf(&b, "definition %q", e.Def)
	}
	if e.Attr != "" {
		fmt.Fprintf(&b, ": attribute %q", e.Attr)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// ParseDef parses one definition strictly: an unknown, repeated or
// malformed attribute is an error naming the table and the attribute.
func ParseDef(s string) (*Def, error) {
	fail := func(table, attr, format string, a ...any) (*Def, error) {
		return nil, &DefError{Def: s, Table: table, Attr: attr, Msg: fmt.Sprintf(format, a...)}
	}
	name, rest, ok := strings.Cut(s, "=>")
	if !ok {
		return fail("", "", `want "name=>attribute=value;..."`)
	}
	name = strings.TrimSpace(name)
	if err := checkTableName(name); err != "" {
		return fail("", "", "table name %s", err)
	}
	d := &Def{Name: name, Size: defaultSize, UpdateExpire: true, ColDelim: ',', ColNull: "*"}
	params, perr := splitParams(strings.TrimSpace(rest))
	if perr != nil {
		return fail(name, perr.attr, "%s", perr.msg)
	}
	if len(params) == 0 {
		return fail(name, "", "no attributes (write at least size=N)")
	}
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.name] {
			return fail(name, p.name, "given twice")
		}
		seen[p.name] = true
		if err := d.setAttr(p); err != "" {
			return fail(name, p.name, "%s", err)
		}
	}
	if len(d.Cols) > 0 && d.DBTable == "" {
		return fail(name, "cols", "needs dbtable")
	}
	if d.DBMode == 1 && d.DBTable == "" {
		return fail(name, "dbmode", "dbmode=1 writes back to dbtable, which is not set")
	}
	if d.ReloadAt > 0 && d.DBTable == "" {
		return fail(name, "reloadat", "reloads from dbtable, which is not set")
	}
	if d.Redis && d.DBTable != "" {
		return fail(name, "redis", "a Redis table cannot also load from dbtable (every node would overwrite the shared items at start)")
	}
	return d, nil
}

// setAttr applies one attribute; it returns why the value is wrong, or "".
func (d *Def) setAttr(p param) string {
	switch p.name {
	case "size":
		n, err := uintAttr(p.value, maxSizeAttr)
		if err != "" {
			return err
		}
		d.Size = n
	case "autoexpire":
		n, err := uintAttr(p.value, maxSeconds)
		if err != "" {
			return err
		}
		d.AutoExpire = n
	case "reloadat":
		n, err := uintAttr(p.value, maxSeconds)
		if err != "" {
			return err
		}
		d.ReloadAt = n
	case "max_items":
		n, err := uintAttr(p.value, maxSeconds)
		if err != "" {
			return err
		}
		if n == 0 {
			return "must be at least 1"
		}
		d.MaxItems = n
	case "updateexpire", "dmqreplicate", "redis", "dbmode":
		n, err := uintAttr(p.value, 1)
		if err != "" {
			return "want 0 or 1, got " + strconv.Quote(p.value)
		}
		switch p.name {
		case "updateexpire":
			d.UpdateExpire = n == 1
		case "dmqreplicate":
			d.DMQReplicate = n == 1
		case "redis":
			d.Redis = n == 1
		default:
			d.DBMode = n
		}
	case "initval":
		n, err := strconv.ParseInt(p.value, 10, 64)
		if err != nil {
			return "want an integer, got " + strconv.Quote(p.value)
		}
		d.HasInitVal, d.InitVal = true, n
	case "dbtable":
		if !isIdent(p.value, true) {
			return "want a table name ([schema.]name of letters, digits and _), got " + strconv.Quote(p.value)
		}
		d.DBTable = p.value
	case "cols":
		cols := strings.Split(p.value, ",")
		if len(cols) < 2 {
			return "want at least two columns (key name first), got " + strconv.Quote(p.value)
		}
		if len(cols) > maxColumns {
			return fmt.Sprintf("at most %d columns", maxColumns)
		}
		for i, c := range cols {
			c = strings.TrimSpace(c)
			if !isIdent(c, false) {
				return "bad column name " + strconv.Quote(c)
			}
			cols[i] = c
		}
		d.Cols = cols
	case "coldelim":
		if len(p.value) != 1 || !printable(p.value[0]) {
			return "want exactly one printable ASCII character, got " + strconv.Quote(p.value)
		}
		d.ColDelim = p.value[0]
	case "colnull":
		if len(p.value) > 1 || len(p.value) == 1 && !printable(p.value[0]) {
			return "want one printable ASCII character or nothing, got " + strconv.Quote(p.value)
		}
		d.ColNull = p.value
	default:
		return "unknown" + closestAttr(p.name)
	}
	return ""
}

// String renders the definition back in Kamailio's format, every attribute
// spelled out (ParseDef(d.String()) gives d again).
func (d *Def) String() string {
	var b strings.Builder
	b.WriteString(d.Name + "=>")
	fmt.Fprintf(&b, "size=%d;autoexpire=%d;updateexpire=%d;", d.Size, d.AutoExpire, b2i(d.UpdateExpire))
	if d.HasInitVal {
		fmt.Fprintf(&b, "initval=%d;", d.InitVal)
	}
	if d.DBTable != "" {
		fmt.Fprintf(&b, "dbtable=%s;dbmode=%d;", d.DBTable, d.DBMode)
	}
	if len(d.Cols) > 0 {
		fmt.Fprintf(&b, "cols='%s';", strings.Join(d.Cols, ","))
	}
	fmt.Fprintf(&b, "coldelim=%s;colnull=%s;", quoteAttr(string([]byte{d.ColDelim})), quoteAttr(d.ColNull))
	fmt.Fprintf(&b, "dmqreplicate=%d;", b2i(d.DMQReplicate))
	if d.ReloadAt > 0 {
		fmt.Fprintf(&b, "reloadat=%d;", d.ReloadAt)
	}
	if d.MaxItems > 0 {
		fmt.Fprintf(&b, "max_items=%d;", d.MaxItems)
	}
	fmt.Fprintf(&b, "redis=%d;", b2i(d.Redis))
	return b.String()
}

// quoteAttr quotes a one-character value when it would not survive
// unquoted (a separator, a quote, a blank).
func quoteAttr(v string) string {
	if v == "" || strings.ContainsAny(v, `;=" '`+"\t\r\n") {
		if strings.Contains(v, `"`) {
			return "'" + v + "'"
		}
		return `"` + v + `"`
	}
	return v
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ParseDefs parses every definition of the htable modparam; two tables with
// the same name are an error, as in Kamailio.
func ParseDefs(specs []string) ([]*Def, error) {
	seen := map[string]bool{}
	var out []*Def
	for _, s := range specs {
		d, err := ParseDef(s)
		if err != nil {
			return nil, err
		}
		if seen[d.Name] {
			return nil, &DefError{Def: s, Table: d.Name, Msg: "defined twice"}
		}
		seen[d.Name] = true
		out = append(out, d)
	}
	return out, nil
}

type param struct {
	name, value string
	quoted      bool
}

type paramError struct{ attr, msg string }

// splitParams splits "a=1; b = 2 ;c='x,y';" into name/value pairs: SIP-style
// parameters, values optionally in single or double quotes (which may hold
// ';'), one trailing ';' allowed.
func splitParams(s string) ([]param, *paramError) {
	var out []param
	i := 0
	for i < len(s) {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ';' && !isBlank(s[i]) {
			i++
		}
		name := s[start:i]
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if name == "" {
			if i < len(s) && s[i] == ';' {
				return nil, &paramError{"", "empty attribute (two ';' in a row)"}
			}
			return nil, &paramError{"", fmt.Sprintf("attribute name missing before %q", s[i:i+1])}
		}
		if i == len(s) || s[i] != '=' {
			return nil, &paramError{name, "has no value (want " + name + "=...)"}
		}
		i++
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		p := param{name: name}
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			q := s[i]
			end := strings.IndexByte(s[i+1:], q)
			if end < 0 {
				return nil, &paramError{name, "unterminated quote"}
			}
			p.value, p.quoted = s[i+1:i+1+end], true
			i += end + 2
			for i < len(s) && isBlank(s[i]) {
				i++
			}
		} else {
			vs := i
			for i < len(s) && s[i] != ';' {
				i++
			}
			p.value = strings.TrimRight(s[vs:i], " \t\r\n")
			if strings.ContainsAny(p.value, `"'`) {
				return nil, &paramError{name, "stray quote in value " + strconv.Quote(p.value)}
			}
		}
		if i < len(s) {
			if s[i] != ';' {
				return nil, &paramError{name, "want ';' after the value"}
			}
			i++
		}
		out = append(out, p)
	}
	return out, nil
}

func printable(c byte) bool { return c >= 0x20 && c < 0x7f }

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// uintAttr parses decimal digits only (no sign, no blanks) up to max.
func uintAttr(v string, max int) (int, string) {
	if v == "" {
		return 0, "empty value"
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, "want a non-negative integer, got " + strconv.Quote(v)
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, fmt.Sprintf("%s is more than %d", v, max)
		}
	}
	return n, ""
}

// checkTableName returns why name cannot name a table, or "". Names show up
// in event names, Redis keys and RPC output: letters, digits, _ - . only.
func checkTableName(name string) string {
	if name == "" {
		return "is empty"
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("is longer than %d characters", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Sprintf("%q: only letters, digits, '_', '-' and '.' are allowed", name)
		}
	}
	return ""
}

// isIdent accepts an SQL identifier (optionally schema-qualified).
func isIdent(s string, qualified bool) bool {
	if qualified {
		if a, b, ok := strings.Cut(s, "."); ok {
			return isIdent(a, false) && isIdent(b, false)
		}
	}
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func closestAttr(name string) string {
	best, bd := suggest.Closest(name, attrs)
	if bd > len(name)/2+2 {
		all := append([]string(nil), attrs...)
		sort.Strings(all)
		return " (valid: " + strings.Join(all, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
