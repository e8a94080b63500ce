package rtpengine

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// The ng control protocol carries bencoded dictionaries (BitTorrent's
// encoding): strings "4:spam", integers "i42e", lists "l...e" and
// dictionaries "d...e" with byte-sorted string keys. Values map to Go as
// string, int64, []any and map[string]any.

// maxDepth bounds list/dictionary nesting in what we decode: replies come
// from the network and a deep nesting would only cost stack.
const maxDepth = 32

// encode appends the bencoding of v. Ints of any size, strings, byte
// slices, []string, []any and map[string]any are accepted; anything else is
// a programming error reported as such.
func encode(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case []string:
		b = append(b, 'l')
		for _, s := range x {
			b, _ = encode(b, s)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range x {
			var err error
			if b, err = encode(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b, _ = encode(b, k)
			var err error
			if b, err = encode(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	}
	return nil, fmt.Errorf("bencode: cannot encode %T", v)
}

func appendInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, 'e')
}

// errBencode is the base of every decoding error.
var errBencode = errors.New("bencode")

func decodeErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBencode, fmt.Sprintf(format, a...))
}

// decode parses exactly one bencoded value filling all of data.
func decode(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(data) {
		return nil, decodeErr("%d bytes after the value", len(data)-d.pos)
	}
	return v, nil
}

type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, decodeErr("nesting deeper than %d", maxDepth)
	}
	if d.pos >= len(d.data) {
		return nil, decodeErr("unexpected end")
	}
	switch c := d.data[d.pos]; {
	case c == 'i':
		d.pos++
		return d.integer('e')
	case c == 'l':
		d.pos++
		out := []any{}
		for {
			if d.pos >= len(d.data) {
				return nil, decodeErr("unterminated list")
			}
			if d.data[d.pos] == 'e' {
				d.pos++
				return out, nil
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	case c == 'd':
		d.pos++
		out := map[string]any{}
		for {
			if d.pos >= len(d.data) {
				return nil, decodeErr("unterminated dictionary")
			}
			if d.data[d.pos] == 'e' {
				d.pos++
				return out, nil
			}
			if c := d.data[d.pos]; c < '0' || c > '9' {
				return nil, decodeErr("dictionary key is not a string at offset %d", d.pos)
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			// A repeated key would make the reply ambiguous. Key order is
			// not enforced: nothing depends on it.
			if _, dup := out[k]; dup {
				return nil, decodeErr("duplicate dictionary key %q", k)
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
	case c >= '0' && c <= '9':
		return d.str()
	default:
		return nil, decodeErr("unexpected byte %q at offset %d", c, d.pos)
	}
}

// integer reads digits up to term: an optional '-', no leading zeros, no
// "-0", within int64.
func (d *decoder) integer(term byte) (int64, error) {
	start := d.pos
	for d.pos < len(d.data) && d.data[d.pos] != term {
		d.pos++
	}
	if d.pos >= len(d.data) {
		return 0, decodeErr("unterminated integer")
	}
	s := string(d.data[start:d.pos])
	d.pos++
	if s == "" || s == "-" || s == "-0" || (len(s) > 1 && s[0] == '0') || (len(s) > 2 && s[0] == '-' && s[1] == '0') {
		return 0, decodeErr("invalid integer %q", s)
	}
	for i, c := range []byte(s) {
		if (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return 0, decodeErr("invalid integer %q", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, decodeErr("integer %q out of range", s)
	}
	return n, nil
}

// str reads "<len>:<bytes>".
func (d *decoder) str() (string, error) {
	start := d.pos
	for d.pos < len(d.data) && d.data[d.pos] != ':' {
		c := d.data[d.pos]
		if c < '0' || c > '9' || d.pos-start > 9 {
			return "", decodeErr("invalid string length at offset %d", start)
		}
		d.pos++
	}
	if d.pos >= len(d.data) || d.pos == start {
		return "", decodeErr("invalid string length at offset %d", start)
	}
	ls := string(d.data[start:d.pos])
	if len(ls) > 1 && ls[0] == '0' {
		return "", decodeErr("string length with leading zero at offset %d", start)
	}
	n, _ := strconv.Atoi(ls)
	d.pos++
	if n > len(d.data)-d.pos {
		return "", decodeErr("string of %d bytes runs past the end", n)
	}
	s := string(d.data[d.pos : d.pos+n])
	d.pos += n
	return s, nil
}
