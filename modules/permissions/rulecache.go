package permissions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"go.uber.org/zap"
)

// maxRuleFiles bounds how many distinct rule files are kept, as Kamailio's
// table of parsed files (64 entries) does: a script that built file names
// from message content must not make the server read files without end.
const maxRuleFiles = 64

// maxRuleFileSize bounds one rule file.
const maxRuleFileSize = 16 << 20

// ruleCache holds the parsed allow/deny files, each read once — at start-up
// for the default files, on first use for the ones a script names — and
// kept for the life of the process, as in Kamailio, where they are read
// when the configuration is loaded.
type ruleCache struct {
	log   *zap.Logger
	mu    sync.Mutex
	files map[string]*ruleFile
}

type ruleFile struct {
	once sync.Once
	rs   *ruleSet // nil: missing file, no rules
	err  error
}

func newRuleCache(log *zap.Logger) *ruleCache {
	return &ruleCache{log: log, files: map[string]*ruleFile{}}
}

// get returns the rules of path. A file that does not exist is an empty
// rule set (permission control off), as in Kamailio; one that cannot be
// read or parsed is an error, and stays one (it is not read again).
func (c *ruleCache) get(path string) (*ruleSet, error) {
	c.mu.Lock()
	f := c.files[path]
	if f == nil {
		if len(c.files) >= maxRuleFiles {
			c.mu.Unlock()
			return nil, fmt.Errorf("rule file %s: more than %d rule files in use", path, maxRuleFiles)
		}
		f = &ruleFile{}
		c.files[path] = f
	}
	c.mu.Unlock()
	f.once.Do(func() {
		f.rs, f.err = readRules(path)
		switch {
		case f.err != nil:
			c.log.Error("permissions: rule file not loaded; functions using it deny", zap.String("file", path), zap.Error(f.err))
		case f.rs == nil:
			c.log.Info("permissions: rule file not found, treated as empty", zap.String("file", path))
		default:
			c.log.Info("permissions: rule file loaded", zap.String("file", path), zap.Int("rules", len(f.rs.rules)))
		}
	})
	return f.rs, f.err
}

func readRules(path string) (*ruleSet, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxRuleFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxRuleFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseRules(path, data)
}

// pair returns the allow and deny rule sets of two files.
func (c *ruleCache) pair(allowPath, denyPath string) (allow, deny *ruleSet, err error) {
	if allow, err = c.get(allowPath); err != nil {
		return nil, nil, err
	}
	if deny, err = c.get(denyPath); err != nil {
		return nil, nil, err
	}
	return allow, deny, nil
}
