// Package rpc is the JSON-RPC 2.0 admin interface (Kamailio's jsonrpcs method
// names), served over HTTP on loopback and over a unix socket.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/luasbc/luasbc/core/metrics"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
)

// Error is a JSON-RPC error object.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// Errorf builds a method error (Kamailio uses 500 with a text).
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Standard JSON-RPC codes.
const (
	CodeParse          = -32700
	CodeInvalidRequest = -32600
	CodeNotFound       = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
)

// Params are positional parameters.
type Params []json.RawMessage

// Len is the number of parameters.
func (p Params) Len() int { return len(p) }

// Str returns parameter i as a string (numbers rendered).
func (p Params) Str(i int) (string, bool) {
	if i >= len(p) {
		return "", false
	}
	var s string
	if json.Unmarshal(p[i], &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(p[i], &n) == nil {
		return n.String(), true
	}
	return strings.TrimSpace(string(p[i])), true
}

// Int returns parameter i as an integer (numeric strings accepted).
func (p Params) Int(i int) (int, bool) {
	s, ok := p.Str(i)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Strs returns every parameter as a string.
func (p Params) Strs() []string {
	out := make([]string, 0, len(p))
	for i := range p {
		s, _ := p.Str(i)
		out = append(out, s)
	}
	return out
}

// Method is one RPC command.
type Method struct {
	Name   string
	Params string // human description, e.g. "[table] aor"
	Doc    string
	Fn     func(ctx context.Context, p Params) (any, error)
}

// Server dispatches JSON-RPC requests.
type Server struct {
	mu      sync.RWMutex
	methods map[string]Method
	log     *zap.Logger
	extra   map[string]http.Handler
	calls   *stats.Counter
	errs    *stats.Counter
	srv     []*http.Server
}

// NewServer creates a server with the system.* introspection methods.
func NewServer(log *zap.Logger) *Server {
	s := &Server{methods: map[string]Method{}, log: log, extra: map[string]http.Handler{},
		calls: stats.New("rpc", "calls", "RPC calls"), errs: stats.New("rpc", "errors", "RPC calls that failed")}
	s.Register(Method{Name: "system.listMethods", Doc: "List RPC methods.", Fn: func(context.Context, Params) (any, error) {
		return s.Names(), nil
	}})
	s.Register(Method{Name: "system.methodHelp", Params: "method", Doc: "Describe a method.", Fn: func(_ context.Context, p Params) (any, error) {
		n, _ := p.Str(0)
		m, ok := s.lookup(n)
		if !ok {
			return nil, Errorf(CodeNotFound, "Method Not Found")
		}
		return strings.TrimSpace(m.Name + " " + m.Params + " - " + m.Doc), nil
	}})
	// Methods declare their parameters as one free-form line, not XML-RPC
	// types: the signature is that line, split into words.
	s.Register(Method{Name: "system.methodSignature", Params: "method", Doc: "The parameters a method takes, one word each ([] = optional).",
		Fn: func(_ context.Context, p Params) (any, error) {
			n, _ := p.Str(0)
			m, ok := s.lookup(n)
			if !ok {
				return nil, Errorf(CodeNotFound, "Method Not Found")
			}
			return append([]string{}, strings.Fields(m.Params)...), nil
		}})
	return s
}

// Register adds methods (a later registration of the same name replaces it).
func (s *Server) Register(ms ...Method) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		s.methods[m.Name] = m
	}
}

// Handle mounts an extra HTTP handler (e.g. /metrics) on the admin listener.
func (s *Server) Handle(path string, h http.Handler) { s.extra[path] = h }

// Names lists method names sorted.
func (s *Server) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.methods))
	for n := range s.methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Methods lists the registered methods sorted by name.
func (s *Server) Methods() []Method {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Method, 0, len(s.methods))
	for _, m := range s.methods {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) lookup(n string) (Method, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.methods[n]
	return m, ok
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// MaxBody is the largest request body the HTTP transport accepts.
const MaxBody = 1 << 20

// MaxBatch is the largest number of calls in one batch request.
const MaxBatch = 256

var nullID = json.RawMessage("null")

// Call runs a method in-process.
func (s *Server) Call(ctx context.Context, name string, p Params) (result any, rerr *Error) {
	s.calls.Inc()
	m, ok := s.lookup(name)
	if !ok {
		s.errs.Inc()
		metrics.RPCCall(name, false, false)
		return nil, &Error{Code: CodeNotFound, Message: "Method Not Found"}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc method panicked", zap.String("method", name), zap.Any("panic", r))
			result, rerr = nil, &Error{Code: CodeInternal, Message: "Internal Error"}
		}
		metrics.RPCCall(m.Name, true, rerr == nil)
	}()
	res, err := m.Fn(ctx, p)
	if err != nil {
		s.errs.Inc()
		var re *Error
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, &Error{Code: 500, Message: err.Error()}
	}
	if res == nil {
		res = struct{}{}
	}
	return res, nil
}

// Dispatch answers a JSON-RPC 2.0 body: one request object, or a batch (an
// array of them) answered with an array of responses. Notifications (requests
// without an "id" member) get no response: Dispatch returns nil when there is
// nothing to send back.
func (s *Server) Dispatch(ctx context.Context, body []byte) []byte {
	if !json.Valid(body) {
		return errorResponse(nullID, CodeParse, "Parse Error")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return errorResponse(nullID, CodeParse, "Parse Error")
		}
		if len(batch) == 0 {
			return errorResponse(nullID, CodeInvalidRequest, "Invalid Request")
		}
		if len(batch) > MaxBatch {
			return errorResponse(nullID, CodeInvalidRequest, "Invalid Request: more than "+strconv.Itoa(MaxBatch)+" calls in a batch")
		}
		var out []json.RawMessage
		for _, raw := range batch {
			if r := s.dispatchOne(ctx, raw); r != nil {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			return nil
		}
		b, _ := json.Marshal(out) // each element is valid JSON
		return b
	}
	return s.dispatchOne(ctx, body)
}

// dispatchOne answers one request object (valid JSON); nil for a notification.
func (s *Server) dispatchOne(ctx context.Context, raw json.RawMessage) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return errorResponse(nullID, CodeInvalidRequest, "Invalid Request")
	}
	id, hasID := obj["id"]
	if hasID && !validID(id) {
		return errorResponse(nullID, CodeInvalidRequest, "Invalid Request")
	}
	if !hasID {
		id = nullID
	}
	var version, method string
	if json.Unmarshal(obj["jsonrpc"], &version) != nil || version != "2.0" ||
		json.Unmarshal(obj["method"], &method) != nil || method == "" {
		// An invalid request is answered even without an id (JSON-RPC 2.0 §5).
		return errorResponse(id, CodeInvalidRequest, "Invalid Request")
	}
	var params Params
	if p := obj["params"]; len(p) > 0 && string(p) != "null" {
		if err := json.Unmarshal(p, &params); err != nil {
			// Named parameters: only the order counts, as in Kamailio.
			var named map[string]json.RawMessage
			if err2 := json.Unmarshal(p, &named); err2 != nil || named == nil {
				if !hasID {
					return nil
				}
				return errorResponse(id, CodeInvalidParams, "Invalid Parameters")
			}
			params = orderedValues(p)
		}
	}
	result, rerr := s.Call(ctx, method, params)
	if !hasID {
		return nil // a notification is never answered, not even its errors
	}
	resp := response{JSONRPC: "2.0", Result: result, Error: rerr, ID: id}
	b, err := json.Marshal(resp)
	if err != nil {
		s.log.Error("rpc result not encodable", zap.String("method", method), zap.Error(err))
		return errorResponse(id, CodeInternal, "Internal Error")
	}
	return b
}

// validID reports whether an id is a string, a number or null.
func validID(id json.RawMessage) bool {
	var v any
	if json.Unmarshal(id, &v) != nil {
		return false
	}
	switch v.(type) {
	case nil, string, float64:
		return true
	}
	return false
}

func errorResponse(id json.RawMessage, code int, message string) []byte {
	b, _ := json.Marshal(response{JSONRPC: "2.0", Error: &Error{Code: code, Message: message}, ID: id})
	return b
}

func orderedValues(raw json.RawMessage) Params {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var out Params
	if _, err := dec.Token(); err != nil {
		return nil
	}
	for dec.More() {
		if _, err := dec.Token(); err != nil { // key
			return out
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		out = append(out, v)
	}
	return out
}

// ServeHTTP handles POST /rpc (also / and /jsonrpc) and the extra handlers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.extra[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case "/", "/rpc", "/RPC", "/jsonrpc":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "JSON-RPC needs POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if len(body) > MaxBody {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = w.Write(errorResponse(nullID, CodeInvalidRequest, "Invalid Request: body over "+strconv.Itoa(MaxBody)+" bytes"))
		return
	}
	out := s.Dispatch(r.Context(), body)
	if out == nil {
		// Only notifications: nothing to answer.
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_, _ = w.Write(out)
}

// ListenHTTP serves on a TCP address.
func (s *Server) ListenHTTP(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.serve(ln)
	return ln.Addr(), nil
}

// ListenUnix serves on a unix socket (mode 0660).
func (s *Server) ListenUnix(path string) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	_ = os.Chmod(path, 0o660)
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
	s.mu.Lock()
	s.srv = append(s.srv, hs)
	s.mu.Unlock()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rpc listener stopped", zap.Error(err))
		}
	}()
}

// Close stops the listeners.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hs := range s.srv {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = hs.Shutdown(ctx)
		cancel()
	}
}
