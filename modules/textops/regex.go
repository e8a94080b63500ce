package textops

import (
	"errors"
	"regexp"
)

// Regex flavours. Kamailio compiles POSIX EREs; Go's RE2 syntax is a superset
// of what scripts use, and Longest() gives POSIX leftmost-longest matching.
const (
	// reSearch is REG_EXTENDED|REG_ICASE|REG_NEWLINE: search, replace, remove_hf_re...
	reSearch = "(?im)"
	// reWhole is REG_EXTENDED|REG_ICASE without REG_NEWLINE: '.' matches a
	// newline and ^/$ anchor at the ends of the text (replace_body_atonce).
	reWhole = "(?is)"
	// rePlain is REG_EXTENDED alone: case-sensitive, whole text (regex_substring).
	rePlain = "(?s)"
)

// maxPattern bounds the pattern length: patterns come from scripts, but may be
// built from message content.
const maxPattern = 4096

// maxCached bounds the pattern caches.
const maxCached = 1024

var reCache = newCache[*regexp.Regexp](maxCached)

var errPatternTooLong = errors.New("regular expression too long")

// compile returns a cached compiled regex for flags+pattern.
func compile(flags, pattern string) (*regexp.Regexp, error) {
	if len(pattern) > maxPattern {
		return nil, errPatternTooLong
	}
	key := flags + pattern
	if re, ok := reCache.get(key); ok {
		return re, nil
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, err
	}
	re.Longest()
	reCache.put(key, re)
	return re, nil
}
