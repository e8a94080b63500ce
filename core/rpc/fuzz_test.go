package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"go.uber.org/zap"
)

// FuzzDispatch feeds arbitrary bodies to Dispatch: it must not panic, and
// what it answers must be JSON-RPC 2.0 — a parse error for what is not JSON,
// an array only for a batch, nothing only for notifications, the request's
// id echoed.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","method":"echo","params":["a",1,true,null,{"x":[]}],"id":1}`,
		`{"jsonrpc":"2.0","method":"echo","params":{"b":"x","a":7},"id":"s"}`,
		`{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":null}`,
		`{"jsonrpc":"2.0","method":"fail","id":1e3}`,
		`{"jsonrpc":"2.0","method":"panic","id":-0.5}`,
		`{"jsonrpc":"2.0","method":"echo"}`,
		`[{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":"1"},{"jsonrpc":"2.0","method":"echo"},{"foo":"boo"},1]`,
		`[]`, `[[]]`, `{}`, `null`, `"x"`, `{"jsonrpc":"2.0","method":"echo","id":{}}`,
		`{"jsonrpc":"2.0","method":"echo","params":"p","id":1}`,
		`{"jsonrpc":"2.0","method":"echo","id":1,"id":2}`,
		`{"jsonrpc":"2.0","method":"echo","id":"<&>\u2028"}`,
		`{"jsonrpc":"2.0","method":"ech`,
	} {
		f.Add([]byte(s))
	}
	s := NewServer(zap.NewNop())
	s.Register(
		Method{Name: "echo", Fn: func(_ context.Context, p Params) (any, error) { return p.Strs(), nil }},
		Method{Name: "sum", Fn: func(_ context.Context, p Params) (any, error) {
			a, _ := p.Int(0)
			b, _ := p.Int(1)
			return a + b, nil
		}},
		Method{Name: "fail", Fn: func(context.Context, Params) (any, error) { return nil, errors.New("failed") }},
		Method{Name: "panic", Fn: func(context.Context, Params) (any, error) { panic("boom") }},
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		out := s.Dispatch(context.Background(), body)
		if !json.Valid(body) {
			var r response
			if err := json.Unmarshal(out, &r); err != nil || r.Error == nil || r.Error.Code != CodeParse || string(r.ID) != "null" {
				t.Fatalf("invalid JSON %q answered %q", body, out)
			}
			return
		}
		if out == nil {
			return // notifications only
		}
		if !json.Valid(out) {
			t.Fatalf("answer is not JSON: %q -> %q", body, out)
		}
		isBatch := bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("["))
		if bytes.HasPrefix(out, []byte("[")) {
			if !isBatch {
				t.Fatalf("array answer to a single request: %q -> %q", body, out)
			}
			var arr []map[string]json.RawMessage
			if err := json.Unmarshal(out, &arr); err != nil || len(arr) == 0 {
				t.Fatalf("bad batch answer %q -> %q", body, out)
			}
			for _, m := range arr {
				checkShape(t, m, out)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("answer is neither object nor array: %q", out)
		}
		checkShape(t, m, out)
		// A single request object carrying a usable id gets it back.
		var req map[string]json.RawMessage
		if !isBatch && json.Unmarshal(body, &req) == nil && req != nil {
			id, ok := req["id"]
			if !ok || !validID(id) {
				return
			}
			var a, b any
			_ = json.Unmarshal(id, &a)
			_ = json.Unmarshal(m["id"], &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("id %s answered as %s", id, m["id"])
			}
		}
	})
}
