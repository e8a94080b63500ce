package authdb

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

// call runs an RPC method of the harness's server; code is 0 on success.
func (s *harness) call(method string, args ...any) (any, int) {
	s.t.Helper()
	var ps rpc.Params
	for _, a := range args {
		b, _ := json.Marshal(a)
		ps = append(ps, b)
	}
	res, rerr := s.h.RPC.Call(context.Background(), method, ps)
	if rerr != nil {
		return rerr.Message, rerr.Code
	}
	b, _ := json.Marshal(res)
	var v any
	_ = json.Unmarshal(b, &v)
	return v, 0
}

func (s *harness) mustCall(method string, args ...any) any {
	s.t.Helper()
	v, code := s.call(method, args...)
	if code != 0 {
		s.t.Fatalf("%s %v: %d %v", method, args, code, v)
	}
	return v
}

// authRC authenticates as user/password (REGISTER from user@example.com)
// and returns auth_check's result.
func (s *harness) authRC(user, password string) string {
	s.t.Helper()
	from := "<sip:" + user + "@example.com>"
	r := req{From: from + ";tag=f1", To: from}
	return rc(s.auth(r, &authtest.Client{Username: user, Password: password}))
}

func TestSubscriberRPCFile(t *testing.T) {
	const head = "# managed by hand and by sbcctl\nbob example.com \"b pw\" - - rpid=+491\n"
	path := writeFile(t, "subscribers.txt", head)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	// calculate_ha1 0: the server must compute the HA1 the client's digest matches.
	s := newHarness(t, map[string]any{"subscriber_file": path}, "")
	if got := s.authRC("alice", "s3cret"); got != "-3" {
		t.Fatalf("alice before add: rc %s", got)
	}
	s.mustCall("subscriber.add", "alice", "example.com", "s3cret")
	if got := s.authRC("alice", "s3cret"); got != "1" {
		t.Fatalf("alice after add: rc %s", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), head) {
		t.Errorf("the lines not edited changed:\n%s", data)
	}
	if strings.Contains(string(data), "s3cret") {
		t.Errorf("calculate_ha1 0 stored the plain password:\n%s", data)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after the rewrite, want 0640", st.Mode().Perm())
	}
	if _, code := s.call("subscriber.add", "alice", "example.com", "x"); code != 409 {
		t.Errorf("second add: code %d, want 409", code)
	}

	// A password with blanks and quotes survives the file's quoting.
	s.mustCall("subscriber.passwd", "alice", "", `n "ew" #pw`)
	if got := s.authRC("alice", "s3cret"); got != "-2" {
		t.Errorf("old password after passwd: rc %s", got)
	}
	if got := s.authRC("alice", `n "ew" #pw`); got != "1" {
		t.Errorf("new password: rc %s", got)
	}
	// passwd keeps the other columns of the row.
	s.mustCall("subscriber.passwd", "bob", "example.com", "bob2")
	if got := s.authRC("bob", "bob2"); got != "1" {
		t.Errorf("bob after passwd: rc %s", got)
	}
	show, _ := json.Marshal(s.mustCall("subscriber.show"))
	var rows []subscriberInfo
	_ = json.Unmarshal(show, &rows)
	if len(rows) != 2 || !reflect.DeepEqual(rows[0], subscriberInfo{Username: "alice", Domain: "example.com", HasPassword: false, HasHA1: true}) ||
		rows[1].Username != "bob" || rows[1].Columns["rpid"] != "+491" || strings.Contains(string(show), "bob2") {
		t.Errorf("subscriber.show: %s", show)
	}
	if _, code := s.call("subscriber.show", "nobody"); code != 404 {
		t.Errorf("show of an unknown user: code %d", code)
	}

	s.mustCall("subscriber.rm", "alice", "example.com")
	if got := s.authRC("alice", `n "ew" #pw`); got != "-3" {
		t.Errorf("alice after rm: rc %s", got)
	}
	if _, code := s.call("subscriber.rm", "alice", "example.com"); code != 404 {
		t.Errorf("rm twice: code %d, want 404", code)
	}
	for _, bad := range [][]any{{"alice"}, {"", "example.com", "pw"}, {"alice", "example.com", ""}, {"a\nb", "x", "pw"},
		{"alice", "example.com", "pw", "bad table"}, {"alice", "", "pw"}} {
		if _, code := s.call("subscriber.add", bad...); code != 400 {
			t.Errorf("add %q: code %d, want 400", bad, code)
		}
	}
	// A file broken by hand is not rewritten.
	if err := os.WriteFile(path, []byte("only-two fields\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, code := s.call("subscriber.add", "carol", "example.com", "pw"); code != 500 {
		t.Errorf("add to a broken file: code %d, want 500", code)
	}
	if data, _ := os.ReadFile(path); string(data) != "only-two fields\n" {
		t.Errorf("broken file rewritten: %q", data)
	}
}

func TestSubscriberRPCPostgres(t *testing.T) {
	url, _ := pgSubscribers(t)
	s := newHarness(t, map[string]any{"db_url": url}, "")
	s.mustCall("subscriber.add", "carol", "example.com", "pw1")
	if got := s.authRC("carol", "pw1"); got != "1" {
		t.Fatalf("carol after add: rc %s", got)
	}
	if _, code := s.call("subscriber.add", "carol", "example.com", "pw1"); code != 409 {
		t.Errorf("second add: code %d, want 409", code)
	}
	s.mustCall("subscriber.passwd", "carol", "", "pw2")
	if got := s.authRC("carol", "pw2"); got != "1" {
		t.Errorf("carol after passwd: rc %s", got)
	}
	// alice is in two domains.
	if _, code := s.call("subscriber.rm", "alice", ""); code != 409 {
		t.Errorf("rm of an ambiguous user: code %d, want 409", code)
	}
	show, _ := json.Marshal(s.mustCall("subscriber.show", "alice"))
	if strings.Count(string(show), `"username":"alice"`) != 2 {
		t.Errorf("show alice: %s", show)
	}
	s.mustCall("subscriber.rm", "carol", "")
	if got := s.authRC("carol", "pw2"); got != "-3" {
		t.Errorf("carol after rm: rc %s", got)
	}
	if _, code := s.call("subscriber.add", "dave", "example.com", "pw", "no_such_table"); code != 500 {
		t.Errorf("add to a missing table: code %d, want 500", code)
	}
}

// The embedded default names a subscriber file that does not exist yet:
// the first subscriber.add creates it (mode 0600).
func TestSubscriberRPCCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subscribers.txt")
	s := newHarness(t, map[string]any{"subscriber_file": path, "calculate_ha1": 1, "password_column": "password"}, "")
	s.mustCall("subscriber.add", "alice", "example.com", "s3cret")
	if got := s.authRC("alice", "s3cret"); got != "1" {
		t.Fatalf("alice after add to a missing file: rc %s", got)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("created file: %v %v, want mode 0600", st, err)
	}
}
