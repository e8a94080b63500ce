package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// testServer registers methods covering results, errors and panics.
func testServer() (*Server, *[]string) {
	s := NewServer(zap.NewNop())
	var calls []string
	s.Register(
		Method{Name: "echo", Params: "[args]", Doc: "Return the parameters as strings.", Fn: func(_ context.Context, p Params) (any, error) {
			calls = append(calls, "echo")
			return p.Strs(), nil
		}},
		Method{Name: "sum", Params: "a b", Doc: "Add two integers.", Fn: func(_ context.Context, p Params) (any, error) {
			calls = append(calls, "sum")
			a, ok1 := p.Int(0)
			b, ok2 := p.Int(1)
			if !ok1 || !ok2 {
				return nil, Errorf(CodeInvalidParams, "Invalid Parameters")
			}
			return a + b, nil
		}},
		Method{Name: "nothing", Fn: func(context.Context, Params) (any, error) {
			calls = append(calls, "nothing")
			return nil, nil
		}},
		Method{Name: "fail", Fn: func(context.Context, Params) (any, error) {
			calls = append(calls, "fail")
			return nil, errors.New("Reload Failed")
		}},
		Method{Name: "panic", Fn: func(context.Context, Params) (any, error) {
			calls = append(calls, "panic")
			panic("boom")
		}},
		Method{Name: "nan", Fn: func(context.Context, Params) (any, error) {
			calls = append(calls, "nan")
			return math.NaN(), nil
		}},
	)
	return s, &calls
}

type resp struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
	ID      json.RawMessage `json:"id"`
}

func decodeOne(t *testing.T, b []byte) resp {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q", b)
	}
	checkShape(t, m, b)
	var r resp
	_ = json.Unmarshal(b, &r)
	return r
}

// checkShape enforces JSON-RPC 2.0 §5: jsonrpc "2.0", an id member, and
// exactly one of result and error.
func checkShape(t testing.TB, m map[string]json.RawMessage, b []byte) {
	t.Helper()
	_, hasRes := m["result"]
	_, hasErr := m["error"]
	_, hasID := m["id"]
	if string(m["jsonrpc"]) != `"2.0"` || !hasID || hasRes == hasErr {
		t.Fatalf("malformed response %q", b)
	}
	for k := range m {
		switch k {
		case "jsonrpc", "result", "error", "id":
		default:
			t.Fatalf("unexpected member %q in %q", k, b)
		}
	}
}

func TestDispatchSingle(t *testing.T) {
	s, _ := testServer()
	ctx := context.Background()
	for _, c := range []struct {
		in, result, id string
		code           int
	}{
		{`{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":1}`, `3`, `1`, 0},
		{`{"jsonrpc":"2.0","method":"sum","params":["40","2"],"id":"abc"}`, `42`, `"abc"`, 0},
		{`{"jsonrpc":"2.0","method":"echo","params":{"b":"x","a":7},"id":2}`, `["x","7"]`, `2`, 0},
		{`{"jsonrpc":"2.0","method":"echo","id":3}`, `[]`, `3`, 0},
		{`{"jsonrpc":"2.0","method":"echo","params":null,"id":4}`, `[]`, `4`, 0},
		{` {"jsonrpc":"2.0","method":"nothing","id":12345678901234567890} `, `{}`, `12345678901234567890`, 0},
		{`{"jsonrpc":"2.0","method":"echo","id":null}`, `[]`, `null`, 0},
		{`{"jsonrpc":"2.0","method":"nope","id":5}`, ``, `5`, CodeNotFound},
		{`{"jsonrpc":"2.0","method":"sum","params":[1],"id":6}`, ``, `6`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","method":"sum","params":"1,2","id":7}`, ``, `7`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","method":"sum","params":3,"id":8}`, ``, `8`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","method":"fail","id":9}`, ``, `9`, 500},
		{`{"jsonrpc":"2.0","method":"panic","id":10}`, ``, `10`, CodeInternal},
		{`{"jsonrpc":"2.0","method":"nan","id":11}`, ``, `11`, CodeInternal},
		// Invalid requests: answered, with the id when it could be read.
		{`{"jsonrpc":"2.0","id":20}`, ``, `20`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","method":"","id":21}`, ``, `21`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","method":1,"id":22}`, ``, `22`, CodeInvalidRequest},
		{`{"method":"echo","id":23}`, ``, `23`, CodeInvalidRequest},
		{`{"jsonrpc":"1.0","method":"echo","id":24}`, ``, `24`, CodeInvalidRequest},
		{`{"jsonrpc":2.0,"method":"echo","id":25}`, ``, `25`, CodeInvalidRequest},
		{`{"JSONRPC":"2.0","METHOD":"echo","id":26}`, ``, `26`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","method":"echo","id":{"a":1}}`, ``, `null`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","method":"echo","id":[1]}`, ``, `null`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","method":"echo","id":true}`, ``, `null`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0"}`, ``, `null`, CodeInvalidRequest}, // invalid even without id
		{`"hello"`, ``, `null`, CodeInvalidRequest},
		{`42`, ``, `null`, CodeInvalidRequest},
		{`null`, ``, `null`, CodeInvalidRequest},
		// Not JSON.
		{`{"jsonrpc":"2.0","method":"echo","id":1`, ``, `null`, CodeParse},
		{``, ``, `null`, CodeParse},
		{`[{"jsonrpc":"2.0","method":"echo","id":1},`, ``, `null`, CodeParse},
		{"\xef\xbb\xbf{}", ``, `null`, CodeParse},
	} {
		out := s.Dispatch(ctx, []byte(c.in))
		if out == nil {
			t.Errorf("%s: no response", c.in)
			continue
		}
		r := decodeOne(t, out)
		if string(r.ID) != c.id {
			t.Errorf("%s: id %s, want %s", c.in, r.ID, c.id)
		}
		if c.code != 0 {
			if r.Error == nil || r.Error.Code != c.code {
				t.Errorf("%s: %s, want error %d", c.in, out, c.code)
			}
			continue
		}
		if r.Error != nil || string(r.Result) != c.result {
			t.Errorf("%s: %s, want result %s", c.in, out, c.result)
		}
	}
}

func TestDispatchErrorMessages(t *testing.T) {
	s, _ := testServer()
	for in, want := range map[string]Error{
		`{`:                                     {Code: -32700, Message: "Parse Error"},
		`{"jsonrpc":"2.0","id":1}`:              {Code: -32600, Message: "Invalid Request"},
		`{"jsonrpc":"2.0","method":"x","id":1}`: {Code: -32601, Message: "Method Not Found"},
		`{"jsonrpc":"2.0","method":"fail","id":1}`:  {Code: 500, Message: "Reload Failed"},
		`{"jsonrpc":"2.0","method":"panic","id":1}`: {Code: -32603, Message: "Internal Error"},
	} {
		r := decodeOne(t, s.Dispatch(context.Background(), []byte(in)))
		if r.Error == nil || *r.Error != want {
			t.Errorf("%s: %+v, want %+v", in, r.Error, want)
		}
	}
}

func TestDispatchNotifications(t *testing.T) {
	s, calls := testServer()
	ctx := context.Background()
	for _, in := range []string{
		`{"jsonrpc":"2.0","method":"echo","params":[1]}`,
		`{"jsonrpc":"2.0","method":"nope"}`,             // errors of notifications are not reported
		`{"jsonrpc":"2.0","method":"fail"}`,             // idem
		`{"jsonrpc":"2.0","method":"panic"}`,            // idem
		`{"jsonrpc":"2.0","method":"sum","params":"x"}`, // invalid params: idem
		`[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"nothing"}]`,
	} {
		if out := s.Dispatch(ctx, []byte(in)); out != nil {
			t.Errorf("%s: answered %s", in, out)
		}
	}
	// The notifications ran.
	if got := strings.Join(*calls, ","); got != "echo,fail,panic,echo,nothing" {
		t.Errorf("calls %s", got)
	}
}

func TestDispatchBatch(t *testing.T) {
	s, calls := testServer()
	in := `[
	  {"jsonrpc":"2.0","method":"sum","params":[1,2],"id":"1"},
	  {"jsonrpc":"2.0","method":"echo","params":[7]},
	  {"jsonrpc":"2.0","method":"nope","id":"2"},
	  {"foo":"boo"},
	  {"jsonrpc":"2.0","method":"echo","params":["a"],"id":"5"},
	  1,
	  {"jsonrpc":"2.0","method":"fail","id":"9"}
	]`
	out := s.Dispatch(context.Background(), []byte(in))
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(out, &arr); err != nil {
		t.Fatalf("batch answer is not an array: %s", out)
	}
	want := []struct {
		id     string
		result string
		code   int
	}{
		{`"1"`, `3`, 0}, {`"2"`, ``, CodeNotFound}, {`null`, ``, CodeInvalidRequest},
		{`"5"`, `["a"]`, 0}, {`null`, ``, CodeInvalidRequest}, {`"9"`, ``, 500},
	}
	if len(arr) != len(want) {
		t.Fatalf("%d responses, want %d: %s", len(arr), len(want), out)
	}
	for i, w := range want {
		checkShape(t, arr[i], out)
		if string(arr[i]["id"]) != w.id {
			t.Errorf("response %d: id %s, want %s", i, arr[i]["id"], w.id)
		}
		if w.code != 0 {
			var e Error
			_ = json.Unmarshal(arr[i]["error"], &e)
			if e.Code != w.code {
				t.Errorf("response %d: %s, want error %d", i, arr[i]["error"], w.code)
			}
		} else if string(arr[i]["result"]) != w.result {
			t.Errorf("response %d: result %s, want %s", i, arr[i]["result"], w.result)
		}
	}
	if got := strings.Join(*calls, ","); got != "sum,echo,echo,fail" {
		t.Errorf("calls in order %s", got)
	}

	// Batch edge cases answered with one response object.
	for in, code := range map[string]int{
		`[]`:    CodeInvalidRequest,
		` [ ] `: CodeInvalidRequest,
		`[1,`:   CodeParse,
	} {
		r := decodeOne(t, s.Dispatch(context.Background(), []byte(in)))
		if r.Error == nil || r.Error.Code != code || string(r.ID) != "null" {
			t.Errorf("%s: %+v", in, r)
		}
	}
	// Every element invalid: an array of errors.
	out = s.Dispatch(context.Background(), []byte(`[1,2,3]`))
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 3 {
		t.Fatalf("[1,2,3]: %s", out)
	}
	// Too many calls in one batch.
	big := "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"echo","id":1},`, MaxBatch) + `{"jsonrpc":"2.0","method":"echo","id":1}]`
	n := len(*calls)
	r := decodeOne(t, s.Dispatch(context.Background(), []byte(big)))
	if r.Error == nil || r.Error.Code != CodeInvalidRequest || len(*calls) != n {
		t.Errorf("oversized batch: %+v, %d calls made", r, len(*calls)-n)
	}
	exact := "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"nothing","id":1},`, MaxBatch-1) + `{"jsonrpc":"2.0","method":"nothing","id":1}]`
	if err := json.Unmarshal(s.Dispatch(context.Background(), []byte(exact)), &arr); err != nil || len(arr) != MaxBatch {
		t.Errorf("batch of MaxBatch: %d responses, %v", len(arr), err)
	}
}

func TestCallAndIntrospection(t *testing.T) {
	s, _ := testServer()
	ctx := context.Background()
	if res, err := s.Call(ctx, "nothing", nil); err != nil || res == nil {
		t.Errorf("nothing: %v %v", res, err)
	}
	res, err := s.Call(ctx, "system.listMethods", nil)
	names, _ := res.([]string)
	if err != nil || len(names) != 9 || names[0] != "echo" || names[len(names)-1] != "system.methodSignature" {
		t.Errorf("listMethods %v %v", res, err)
	}
	res, err = s.Call(ctx, "system.methodHelp", Params{json.RawMessage(`"sum"`)})
	if err != nil || res != "sum a b - Add two integers." {
		t.Errorf("methodHelp %q %v", res, err)
	}
	if _, err := s.Call(ctx, "system.methodHelp", Params{json.RawMessage(`"nope"`)}); err == nil || err.Code != CodeNotFound {
		t.Errorf("methodHelp unknown: %v", err)
	}
	res, err = s.Call(ctx, "system.methodSignature", Params{json.RawMessage(`"sum"`)})
	if sig, _ := res.([]string); err != nil || len(sig) != 2 || sig[0] != "a" || sig[1] != "b" {
		t.Errorf("methodSignature %v %v", res, err)
	}
	if ms := s.Methods(); len(ms) != 9 || ms[0].Name != "echo" {
		t.Errorf("Methods %v", ms)
	}
}

func TestParams(t *testing.T) {
	p := Params{json.RawMessage(`"a"`), json.RawMessage(`12`), json.RawMessage(`"34"`), json.RawMessage(` true `), json.RawMessage(`1.5`)}
	if s, ok := p.Str(0); !ok || s != "a" {
		t.Errorf("Str(0) %q", s)
	}
	if s, ok := p.Str(3); !ok || s != "true" {
		t.Errorf("Str(3) %q", s)
	}
	if n, ok := p.Int(1); !ok || n != 12 {
		t.Errorf("Int(1) %d", n)
	}
	if n, ok := p.Int(2); !ok || n != 34 {
		t.Errorf("Int(2) %d", n)
	}
	if _, ok := p.Int(0); ok {
		t.Error("Int(0) accepted a word")
	}
	if _, ok := p.Int(4); ok {
		t.Error("Int(4) accepted 1.5")
	}
	if _, ok := p.Str(5); ok {
		t.Error("Str past the end")
	}
	if got := strings.Join(p.Strs(), "|"); got != "a|12|34|true|1.5" {
		t.Errorf("Strs %s", got)
	}
}

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return w
}

func TestHTTP(t *testing.T) {
	s, _ := testServer()
	s.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") }))
	for _, path := range []string{"/", "/rpc", "/RPC", "/jsonrpc"} {
		w := post(t, s, path, `{"jsonrpc":"2.0","method":"sum","params":[2,2],"id":1}`)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != `{"jsonrpc":"2.0","result":4,"id":1}` {
			t.Errorf("%s: %d %q %q", path, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
	// A lone notification, or a batch of them: 204 and no body.
	for _, body := range []string{`{"jsonrpc":"2.0","method":"echo"}`, `[{"jsonrpc":"2.0","method":"echo"}]`} {
		if w := post(t, s, "/rpc", body); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Errorf("notification %s: %d %q", body, w.Code, w.Body.String())
		}
	}
	// Batches come back as arrays.
	if w := post(t, s, "/rpc", `[{"jsonrpc":"2.0","method":"sum","params":[1,1],"id":1},{"jsonrpc":"2.0","method":"echo"}]`); w.Code != 200 ||
		w.Body.String() != `[{"jsonrpc":"2.0","result":2,"id":1}]` {
		t.Errorf("batch: %d %q", w.Code, w.Body.String())
	}
	// Body limit: exactly MaxBody is read, one byte more is refused unread.
	pad := func(n int) string {
		b := `{"jsonrpc":"2.0","method":"nothing","id":1}`
		return b + strings.Repeat(" ", n-len(b))
	}
	if w := post(t, s, "/rpc", pad(MaxBody)); w.Code != 200 || !strings.Contains(w.Body.String(), `"result"`) {
		t.Errorf("body of MaxBody: %d %q", w.Code, w.Body.String())
	}
	w := post(t, s, "/rpc", pad(MaxBody+1))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %q", w.Code, w.Body.String())
	}
	if r := decodeOne(t, w.Body.Bytes()); r.Error == nil || r.Error.Code != CodeInvalidRequest {
		t.Errorf("oversized body answer %q", w.Body.String())
	}
	// Other methods and paths.
	wg := httptest.NewRecorder()
	s.ServeHTTP(wg, httptest.NewRequest(http.MethodGet, "/rpc", nil))
	if wg.Code != http.StatusMethodNotAllowed || wg.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", wg.Code, wg.Header())
	}
	if w := post(t, s, "/other", `{}`); w.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", w.Code)
	}
	wm := httptest.NewRecorder()
	s.ServeHTTP(wm, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if wm.Body.String() != "m 1\n" {
		t.Errorf("extra handler: %q", wm.Body.String())
	}
}

func TestListeners(t *testing.T) {
	s, _ := testServer()
	defer s.Close()
	addr, err := s.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+addr.String()+"/rpc", "application/json",
		bytes.NewReader([]byte(`{"jsonrpc":"2.0","method":"sum","params":[3,4],"id":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != `{"jsonrpc":"2.0","result":7,"id":1}` {
		t.Errorf("http: %q", b)
	}
	sock := filepath.Join(t.TempDir(), "rpc.sock")
	if err := s.ListenUnix(sock); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v %v", fi, err)
	}
	cl := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	res, err = cl.Post("http://unix/rpc", "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"echo","params":["u"],"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != `{"jsonrpc":"2.0","result":["u"],"id":"x"}` {
		t.Errorf("unix: %q", b)
	}
}
