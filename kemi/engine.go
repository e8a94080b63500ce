package kemi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/core/suggest"
)

// exitSentinel is the error value of KSR.x.exit(), as in app_lua.
const exitSentinel = "~~ksr~exit~~"

// generation is one compiled version of the script.
type generation struct {
	proto   *lua.FunctionProto
	version int
	loaded  time.Time
	path    string
	sum     string
	onsend  bool // the script defines the onsend route
	reply   bool // the script defines the reply route
}

// State is one Lua interpreter with its own globals and $var values, like a
// Kamailio worker process.
type State struct {
	L        *lua.LState
	gen      *generation
	ctx      Ctx
	vars     map[string]Value
	runCtx   context.Context
	cancel   context.CancelFunc
	deadline atomic.Int64 // unix nanos; 0 when idle
	depth    int
}

type namedInstance struct {
	name string
	inst Instance
}

// Engine runs the routing script.
type Engine struct {
	Core    *core.Core
	Log     *zap.Logger
	Cfg     *config.Config
	RPC     *rpc.Server
	exports []*Export
	inst    []namedInstance
	pvs     map[string]*PVClass
	defines map[string]string

	gen     atomic.Pointer[generation]
	pool    chan *State
	size    int
	timeout time.Duration

	mu       sync.Mutex // guards states
	reloadMu sync.Mutex // one reload at a time
	states   map[*State]struct{}
	stop     chan struct{}

	missingLogged atomic.Bool
	stReloads     *stats.Counter
	stReloadErr   *stats.Counter
	stTimeouts    *stats.Counter
	stErrors      *stats.Counter
	stCalls       *stats.Counter
}

// NewEngine instantiates the modules listed in the config and compiles the
// script. With c == nil it only builds the API (docs, --check of exports).
func NewEngine(c *core.Core, cfg *config.Config, log *zap.Logger, rs *rpc.Server) (*Engine, error) {
	e := &Engine{Core: c, Log: log, Cfg: cfg, RPC: rs, pvs: map[string]*PVClass{}, states: map[*State]struct{}{},
		stop: make(chan struct{}), defines: cfg.Lua.Defines,
		stReloads:   stats.New("app_lua", "reloads", "script reloads that succeeded"),
		stReloadErr: stats.New("app_lua", "reload_failures", "script reloads that failed"),
		stTimeouts:  stats.New("app_lua", "timeouts", "script callbacks stopped at lua.timeout_ms"),
		stErrors:    stats.New("app_lua", "errors", "script callbacks that ended with a Lua error"),
		stCalls:     stats.New("app_lua", "calls", "script callbacks run"),
	}
	e.timeout = time.Duration(cfg.Lua.TimeoutMS) * time.Millisecond
	for _, x := range coreExports() {
		e.exports = append(e.exports, x)
	}
	for _, pc := range corePVs() {
		e.pvs[pc.Name] = pc
	}
	if err := e.loadModules(); err != nil {
		return nil, err
	}
	if rs != nil {
		rs.Register(e.rpcMethods()...)
	}
	return e, nil
}

func (e *Engine) loadModules() error {
	order := e.Cfg.ModuleOrder
	if len(order) == 0 {
		for name := range e.Cfg.Modules {
			order = append(order, name)
		}
		sort.Strings(order)
	}
	for _, name := range order {
		def := LookupModule(name)
		if def == nil {
			return fmt.Errorf("modules: unknown module %q%s", name, closestModule(name))
		}
		params, ignored, err := ValidateParams(def, e.Cfg.Modules[name])
		if err != nil {
			return err
		}
		for _, ig := range ignored {
			e.Log.Info("module parameter has no effect in luasbc", zap.String("module", name), zap.String("param", ig))
		}
		inst, err := def.New(&Env{Core: e.Core, Log: e.Log.Named(name), Params: params, Engine: e})
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		e.inst = append(e.inst, namedInstance{name, inst})
		for _, x := range inst.Exports() {
			x := x
			if x.Module == "" {
				x.Module = name
			}
			e.exports = append(e.exports, &x)
		}
		if p, ok := inst.(PVProvider); ok {
			for _, pc := range p.PVs() {
				e.pvs[pc.Name] = pc
			}
		}
		if p, ok := inst.(RPCProvider); ok && e.RPC != nil {
			e.RPC.Register(p.RPC()...)
		}
	}
	return nil
}

func closestModule(name string) string {
	var names []string
	for _, m := range Modules() {
		names = append(names, m.Name)
	}
	best, _ := suggest.Closest(name, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Instance returns the configured instance of a module, or nil.
func (e *Engine) Instance(name string) Instance {
	for _, ni := range e.inst {
		if ni.name == name {
			return ni.inst
		}
	}
	return nil
}

// Exports lists every enabled export.
func (e *Engine) Exports() []*Export { return e.exports }

// StartModules runs Start on modules that have it, in config order.
func (e *Engine) StartModules() error {
	for _, ni := range e.inst {
		if s, ok := ni.inst.(Starter); ok {
			if err := s.Start(); err != nil {
				return fmt.Errorf("module %s: %w", ni.name, err)
			}
		}
	}
	return nil
}

// Stop stops modules (reverse order) and the watchdog.
func (e *Engine) Stop() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	for i := len(e.inst) - 1; i >= 0; i-- {
		if s, ok := e.inst[i].inst.(Stopper); ok {
			s.Stop()
		}
	}
}

// Start compiles the script and builds the state pool.
func (e *Engine) Start(states int) error {
	g, err := e.compile(e.Cfg.Lua.Load, 1)
	if err != nil {
		return err
	}
	if states <= 0 {
		states = core.DefaultWorkers()
	}
	e.size = states
	e.pool = make(chan *State, states)
	e.gen.Store(g)
	for i := 0; i < states; i++ {
		st, err := e.newState(g)
		if err != nil {
			return err
		}
		e.pool <- st
	}
	go e.watchdog()
	return nil
}

// Check compiles and loads the script once, for sbc --check.
func (e *Engine) Check() error {
	_, err := e.compile(e.Cfg.Lua.Load, 0)
	return err
}

// ScriptError is why a script did not compile or load: the Lua error text,
// the script file and, when the text names one, the line (0 if unknown).
type ScriptError struct {
	File string
	Line int
	Msg  string // the Lua error text, e.g. "s.lua:3: attempt to call a nil value"
	Err  error  // the underlying error, if any
}

func (e *ScriptError) Error() string {
	// Lua's own messages usually start with the file name already.
	if e.File != "" && !strings.HasPrefix(e.Msg, e.File) {
		return "lua script " + e.File + ": " + e.Msg
	}
	return "lua script: " + e.Msg
}

func (e *ScriptError) Unwrap() error { return e.Err }

// scriptError wraps a compile or load error of the script at path.
func scriptError(path string, err error) *ScriptError {
	var se *ScriptError
	if errors.As(err, &se) {
		return se
	}
	text := err.Error()
	var pe *parse.Error
	var ae *lua.ApiError
	switch {
	case errors.As(err, &pe):
		// Rebuilt without gopher-lua's padding and trailing newline.
		if pe.Pos.Line == parse.EOF {
			text = fmt.Sprintf("%s at EOF: %s", pe.Pos.Source, pe.Message)
		} else {
			text = fmt.Sprintf("%s line:%d(column:%d) near '%s': %s", pe.Pos.Source, pe.Pos.Line, pe.Pos.Column, pe.Token, pe.Message)
		}
	case errors.As(err, &ae) && ae.Object != nil:
		text = ae.Object.String() // without the stack traceback
	}
	text = strings.TrimSpace(text)
	return &ScriptError{File: path, Line: luaErrorLine(text, path), Msg: text, Err: err}
}

// luaErrorLine finds the line number in a gopher-lua error message: a syntax
// error "s.lua line:3(column:3) near 'end': syntax error", a runtime error
// "s.lua:3: attempt to call a nil value" or a compile error "compile error
// near line(3) s.lua: ...". When the message starts with file, only the text
// right after it counts, so a number later in the message is never taken
// for the line. It returns 0 if there is none.
func luaErrorLine(text, file string) int {
	if file != "" && strings.HasPrefix(text, file) {
		rest := text[len(file):]
		if r, ok := strings.CutPrefix(rest, " line:"); ok {
			return leadingInt(r)
		}
		return colonLine(rest)
	}
	if r, ok := strings.CutPrefix(text, "compile error near line("); ok {
		return leadingInt(r)
	}
	// Another source name (a chunk of another name, a path written
	// differently): the first " line:N" or ":N:" in the text.
	if i := strings.Index(text, " line:"); i >= 0 {
		if n := leadingInt(text[i+len(" line:"):]); n > 0 {
			return n
		}
	}
	for i := strings.IndexByte(text, ':'); i >= 0; {
		if n := colonLine(text[i:]); n > 0 {
			return n
		}
		j := strings.IndexByte(text[i+1:], ':')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return 0
}

// colonLine parses ":<digits>:" at the start of s.
func colonLine(s string) int {
	if len(s) < 3 || s[0] != ':' {
		return 0
	}
	j := 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == 1 || j >= len(s) || s[j] != ':' {
		return 0
	}
	return leadingInt(s[1:j])
}

// leadingInt parses the decimal digits at the start of s (0 if none or too big).
func leadingInt(s string) int {
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > 1e8 {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// compile parses the script and validates it by loading it into a fresh
// state. Errors are *ScriptError.
func (e *Engine) compile(path string, version int) (*generation, error) {
	src, err := config.ReadScript(path)
	if err != nil {
		return nil, &ScriptError{File: path, Msg: err.Error(), Err: err}
	}
	chunk, err := parse.Parse(strings.NewReader(string(src)), path)
	if err != nil {
		return nil, scriptError(path, err)
	}
	proto, err := lua.Compile(chunk, path)
	if err != nil {
		return nil, scriptError(path, err)
	}
	sum := sha256.Sum256(src)
	g := &generation{proto: proto, version: version, loaded: time.Now(), path: path, sum: hex.EncodeToString(sum[:8])}
	st, err := e.newState(g)
	if err != nil {
		return nil, scriptError(path, err)
	}
	defer e.closeState(st)
	fn := st.L.GetGlobal(e.Cfg.Lua.RequestRoute)
	if fn.Type() != lua.LTFunction {
		return nil, &ScriptError{File: path, Msg: fmt.Sprintf("no function %s()", e.Cfg.Lua.RequestRoute)}
	}
	g.onsend = st.L.GetGlobal(e.Cfg.Lua.OnsendRoute).Type() == lua.LTFunction
	g.reply = st.L.GetGlobal(e.Cfg.Lua.ReplyRoute).Type() == lua.LTFunction
	return g, nil
}

// Reload compiles the script again; only if it loads does it become the
// version every state switches to at its next callback.
func (e *Engine) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	cur := e.gen.Load()
	next := 1
	if cur != nil {
		next = cur.version + 1
	}
	g, err := e.compile(e.Cfg.Lua.Load, next)
	if err != nil {
		e.stReloadErr.Inc()
		e.Log.Error("script reload failed, the running version stays", zap.Error(err))
		return err
	}
	e.gen.Store(g)
	e.stReloads.Inc()
	e.Log.Info("script reloaded", zap.String("file", g.path), zap.Int("version", g.version), zap.String("sha256", g.sum))
	return nil
}

// Version returns the running script version and load time.
func (e *Engine) Version() (int, time.Time, string) {
	g := e.gen.Load()
	if g == nil {
		return 0, time.Time{}, ""
	}
	return g.version, g.loaded, g.path
}

func (e *Engine) newState(g *generation) (*State, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 200, RegistrySize: 1024 * 8,
		RegistryMaxSize: 1024 * 512, RegistryGrowStep: 512})
	st := &State{L: L, gen: g, vars: map[string]Value{}}
	st.ctx = Ctx{Core: e.Core, Engine: e, State: st, Log: e.Log}
	st.resetContext()
	openSandbox(L, e.Log)
	e.bindKSR(st)
	e.mu.Lock()
	e.states[st] = struct{}{}
	e.mu.Unlock()
	// Top-level code runs outside any message, under the deadline.
	L.Push(L.NewFunctionFromProto(g.proto))
	st.deadline.Store(time.Now().Add(e.loadTimeout()).UnixNano())
	err := L.PCall(0, lua.MultRet, nil)
	st.deadline.Store(0)
	L.SetTop(0)
	if err != nil {
		timedOut := st.runCtx.Err() != nil
		e.closeState(st)
		if timedOut {
			return nil, &ScriptError{File: g.path, Msg: fmt.Sprintf("top-level code ran longer than %v", e.loadTimeout()), Err: err}
		}
		return nil, scriptError(g.path, err)
	}
	return st, nil
}

func (e *Engine) loadTimeout() time.Duration {
	if e.timeout*10 > time.Second {
		return e.timeout * 10
	}
	return time.Second
}

func (st *State) resetContext() {
	if st.cancel != nil {
		st.cancel()
	}
	st.runCtx, st.cancel = context.WithCancel(context.Background())
	st.L.SetContext(st.runCtx)
}

func (e *Engine) closeState(st *State) {
	e.mu.Lock()
	delete(e.states, st)
	e.mu.Unlock()
	st.cancel()
	st.L.Close()
}

// watchdog cancels callbacks that run past their deadline.
func (e *Engine) watchdog() {
	tick := e.timeout / 4
	if tick < 2*time.Millisecond {
		tick = 2 * time.Millisecond
	}
	if tick > 50*time.Millisecond {
		tick = 50 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			n := now.UnixNano()
			e.mu.Lock()
			for st := range e.states {
				if d := st.deadline.Load(); d != 0 && n > d {
					st.cancel()
				}
			}
			e.mu.Unlock()
		}
	}
}

// acquire takes a state from the pool, rebuilding it if the script changed.
func (e *Engine) acquire() *State {
	st := <-e.pool
	if g := e.gen.Load(); st.gen != g {
		ns, err := e.newState(g)
		if err != nil {
			// The new version loaded once at reload; if it fails here keep the old state.
			e.Log.Error("state rebuild failed, keeping the previous version", zap.Error(err))
		} else {
			e.closeState(st)
			st = ns
		}
	}
	return st
}

func (e *Engine) release(st *State) { e.pool <- st }

// Call runs the global Lua function fname for m (with an optional string
// argument). It reuses the state already running for m (nested callbacks),
// else takes one from the pool. It returns false if the function is missing.
func (e *Engine) Call(m *msg.Msg, fname string, arg ...string) bool {
	if st, ok := m.Script.(*State); ok && st != nil {
		return e.run(st, m, fname, arg)
	}
	st := e.acquire()
	m.Script = st
	ok := e.run(st, m, fname, arg)
	m.Script = nil
	e.release(st)
	return ok
}

// CallEvent runs an event callback without a SIP message (e.g. timers).
func (e *Engine) CallEvent(m *msg.Msg, fname string, arg string) bool {
	if m == nil {
		m = &msg.Msg{FakeMessage: true, RouteType: msg.RouteEvent}
	}
	return e.Call(m, fname, arg)
}

func (e *Engine) run(st *State, m *msg.Msg, fname string, arg []string) bool {
	L := st.L
	fn := L.GetGlobal(fname)
	if fn.Type() != lua.LTFunction {
		return false
	}
	e.stCalls.Inc()
	prev := st.ctx.M
	st.ctx.M = m
	outer := st.depth == 0
	start := time.Now()
	if outer {
		st.deadline.Store(start.Add(e.timeout).UnixNano())
	}
	st.depth++
	L.Push(fn)
	for _, a := range arg {
		L.Push(lua.LString(a))
	}
	err := L.PCall(len(arg), 0, nil)
	st.depth--
	if outer {
		st.deadline.Store(0)
	}
	metrics.LuaCallback(fname, time.Since(start))
	st.ctx.M = prev
	if err != nil {
		e.callError(st, m, fname, err)
		if outer && st.runCtx.Err() != nil {
			st.resetContext()
		}
	}
	L.SetTop(0)
	return true
}

func (e *Engine) callError(st *State, m *msg.Msg, fname string, err error) {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		if s, ok := ae.Object.(lua.LString); ok && strings.Contains(string(s), exitSentinel) {
			return
		}
	}
	log := st.ctx.Log
	if m != nil && m.SIP != nil {
		log = log.With(zap.String("callid", m.CallID()), zap.String("method", m.Method()), zap.String("src", m.Src.String()))
	}
	if st.runCtx.Err() != nil {
		e.stTimeouts.Inc()
		log.Error("script callback stopped: ran past lua.timeout_ms", zap.String("function", fname),
			zap.Duration("timeout", e.timeout))
		return
	}
	e.stErrors.Inc()
	msgText := err.Error()
	if ae != nil && ae.Object != nil {
		msgText = ae.Object.String()
	}
	log.Error("error from Lua", zap.String("function", fname), zap.String("error", msgText))
}

// Request implements core.Router.
func (e *Engine) Request(m *msg.Msg) {
	if !e.Call(m, e.Cfg.Lua.RequestRoute) && !e.missingLogged.Swap(true) {
		e.Log.Error("the script has no request route function", zap.String("function", e.Cfg.Lua.RequestRoute))
	}
}

// Reply implements core.Router.
func (e *Engine) Reply(m *msg.Msg) bool {
	if g := e.gen.Load(); g == nil || !g.reply {
		return false
	}
	e.Call(m, e.Cfg.Lua.ReplyRoute)
	return m.Drop
}

// Onsend implements core.Router.
func (e *Engine) Onsend(m *msg.Msg, to msg.SendInfo, data []byte) bool {
	if g := e.gen.Load(); g == nil || !g.onsend {
		return false
	}
	saveDrop, saveRT, saveTo := m.Drop, m.RouteType, m.SendTo
	m.Drop, m.RouteType, m.SendTo = false, msg.RouteOnsend, &to
	e.Call(m, e.Cfg.Lua.OnsendRoute)
	drop := m.Drop
	m.Drop, m.RouteType, m.SendTo = saveDrop, saveRT, saveTo
	return drop
}

// HasFunction reports whether the running script defines a global function.
func (e *Engine) HasFunction(name string) bool {
	st := e.acquire()
	defer e.release(st)
	return st.L.GetGlobal(name).Type() == lua.LTFunction
}
