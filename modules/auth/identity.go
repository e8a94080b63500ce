package auth

import (
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// CheckIdentity is the identity check after a successful authentication
// (pv_auth_check with checks 1, auth_db's auth_check with flag 1): the user
// part of the auth username must be the To user for REGISTER and PUBLISH,
// the From user otherwise; for REGISTER and PUBLISH From and To must name
// the same user (and host with useDomain), and for PUBLISH the R-URI too.
// skipForward (auth_check flag 2) skips the auth-user comparison for INVITE,
// BYE, PRACK, UPDATE and MESSAGE, which may come with an anonymous From.
// It returns OK, UserMismatch or Error (From/To missing). User parts are
// compared exactly, hosts ignoring case.
func CheckIdentity(m *msg.Msg, cred *Credentials, useDomain, skipForward bool) int {
	if cred == nil {
		switch m.Method() {
		case "ACK", "CANCEL", "PRACK":
			return OK
		}
		return Error
	}
	from, to := m.SIP.From(), m.SIP.To()
	if from == nil || to == nil {
		return Error
	}
	meth := m.Method()
	regPub := meth == "REGISTER" || meth == "PUBLISH"
	user := from.Address.User
	if regPub {
		user = to.Address.User
	}
	skip := false
	if skipForward {
		switch meth {
		case "INVITE", "BYE", "PRACK", "UPDATE", "MESSAGE":
			skip = true
		}
	}
	if !skip && cred.User != user {
		return UserMismatch
	}
	if !regPub {
		return OK
	}
	if from.Address.User != to.Address.User {
		return UserMismatch
	}
	if useDomain && !strings.EqualFold(from.Address.Host, to.Address.Host) {
		return UserMismatch
	}
	if meth == "PUBLISH" {
		ru := m.RURI()
		if ru == nil {
			return Error
		}
		if from.Address.User != ru.User || useDomain && !strings.EqualFold(from.Address.Host, ru.Host) {
			return UserMismatch
		}
	}
	return OK
}
