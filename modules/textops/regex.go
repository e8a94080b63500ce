package textops

import (
	"regexp"

	"github.com/luasbc/luasbc/core/regex"
)

// Regex flavours of the textops functions (see core/regex).
const (
	reSearch = regex.Search
	reWhole  = regex.Whole
	rePlain  = regex.Plain
)

// maxCached bounds the substitution-expression cache.
const maxCached = 1024

var errPatternTooLong = regex.ErrTooLong

func compile(flags, pattern string) (*regexp.Regexp, error) { return regex.Compile(flags, pattern) }
