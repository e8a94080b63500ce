-- proxy.lua: a transaction-stateful, record-routing proxy for the RFC 3665 session
-- flows of test/e2e/calls_test.go and test/kamailio/run-calls.sh.
--
-- A Kamailio KEMI script in the style of misc/examples/kemi/kamailio-basic-kemi-lua.lua:
-- the same file runs on Kamailio 5.6 (app_lua, test/kamailio/kamailio.cfg) and on luasbc.
-- Modules: sl, tm, tmx, rr, maxfwd, sanity, siputils, corex, kemix (kx), textops, xlog.
--
-- Placeholders, replaced by the harness before the script is loaded:
--   __CALLEE_A__     sip:127.0.0.1:<port>                 first callee (UDP)
--   __CALLEE_B__     sip:127.0.0.1:<port>                 second callee: serial failover
--                                                         backup and second forked branch
--   __CALLEE_TCP__   sip:127.0.0.1:<port>;transport=tcp   callee over TCP
--   __CALLEE_DEAD__  sip:127.0.0.1:<port>                 nothing listens there: 408
--
-- The callee is chosen by the R-URI user:
--   callee  -> A                       basic call, hang-ups, busy, CANCEL, re-INVITE, UPDATE
--   tcp     -> the TCP callee          UDP caller, TCP callee
--   dead    -> the dead address        no answer at all: tm answers 408 after fr_timer
--   serial  -> A, on 5xx/timeout B     serial forking from failure_route
--   fork    -> A and B in parallel     parallel forking (append_branch_uri)
-- Any other user: 404.

local CALLEE_A = "__CALLEE_A__"
local CALLEE_B = "__CALLEE_B__"
local CALLEE_TCP = "__CALLEE_TCP__"
local CALLEE_DEAD = "__CALLEE_DEAD__"

local ROUTES = {
	callee = CALLEE_A,
	tcp = CALLEE_TCP,
	dead = CALLEE_DEAD,
	serial = CALLEE_A,
	fork = CALLEE_A,
}

-- Main request routing logic.
function ksr_request_route()
	ksr_route_reqinit()

	-- CANCEL processing: relay when the INVITE transaction exists, else 481.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		return 1
	end

	-- Retransmissions of requests (ACKs are handled below).
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end

	-- Requests within a dialog.
	ksr_route_withindlg()

	-- Initial requests only from here on.
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	local user = KSR.kx.gete_ruser()
	local dst = ROUTES[user]
	if dst == nil then
		KSR.sl.sl_send_reply(404, "Not Found")
		return 1
	end
	if user == "fork" then
		-- Parallel forking: the R-URI (with $du = A) is the first branch, B the
		-- second. append_branch_uri copies the current $du into the new branch, so
		-- B is added before $du is set.
		if KSR.corex.append_branch_uri(CALLEE_B) < 0 then
			KSR.sl.sl_send_reply(500, "Fork Failed")
			return 1
		end
	elseif user == "serial" then
		KSR.tm.t_on_failure("ksr_failure_serial")
	end
	KSR.setdsturi(dst)
	KSR.info("initial " .. KSR.kx.get_method() .. " for " .. user .. " -> " .. dst .. "\n")
	ksr_route_relay()
	return 1
end

-- Per-request initial checks.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP message from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end
end

-- Handle requests within SIP dialogs.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	-- Sequential request within a dialog: take the path determined by Record-Route.
	if KSR.rr.loose_route() > 0 then
		ksr_route_relay()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- No loose route, but a stateful ACK (e.g. after a 487 or 486).
			ksr_route_relay()
		end
		-- ACK without matching transaction: discard.
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- Relay statefully; an error is answered from the internal error code.
function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- failure_route of the "serial" calls: on 5xx or timeout of callee A, try callee B.
function ksr_failure_serial()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or KSR.tm.t_branch_timeout() > 0 then
		KSR.info("serial failover after " .. KSR.tm.t_get_status_code() .. " -> " .. CALLEE_B .. "\n")
		-- Kamailio adds a new branch in failure_route only when the R-URI was set
		-- again ("no branches for forwarding" otherwise): set it to itself, then $du.
		KSR.seturi(KSR.kx.get_ruri())
		KSR.setdsturi(CALLEE_B)
		-- Only one failover step: no failure route on the second branch.
		KSR.tm.t_on_failure("")
		if KSR.tm.t_relay() < 0 then
			KSR.tm.t_reply(500, "Failover Failed")
		end
	end
	return 1
end
