// Package e2e holds the end-to-end tests of luasbc: they build the real
// cmd/sbc binary, start it on loopback ports (25000–25999) with a generated
// YAML config and a Lua script, and talk to it over real UDP and TCP sockets,
// with SIPp and with SIPVicious.
//
// Run with `go test ./test/e2e/` (or `make e2e`); `make deps` installs sipp
// and sipvicious.
package e2e
