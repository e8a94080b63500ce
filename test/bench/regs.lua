-- regs.lua: the routing script of the REGISTER benchmark (test/bench/regs.sh).
--
-- A registrar in the style of Kamailio's kamailio-basic-kemi-lua.lua, cut down to
-- REGISTER: REQINIT checks, digest authentication against the subscriber table
-- (auth_db, password column, qop=auth challenges), then the contact saved in the
-- location table (usrloc in memory on both servers). The same file runs unchanged
-- on luasbc (luasbc-regs.yaml) and on stock Kamailio 5.6 with app_lua
-- (kamailio-regs.cfg).
--
-- Modules: sl, maxfwd, auth, auth_db, usrloc, registrar. No logging on the
-- success path: the benchmark runs at log level warn.

-- The realm of the challenges and the domain of the subscribers regs.sh creates
-- (REALM there must match).
local REALM = "bench.test"

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	if not KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		return 1
	end

	-- flags 1: the authentication user must be the To user.
	if KSR.auth_db.auth_check(REALM, "subscriber", 1) < 0 then
		-- flags 1: qop=auth in the challenge.
		KSR.auth.auth_challenge(REALM, 1)
		return 1
	end
	KSR.auth.consume_credentials()

	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	return 1
end
