-- calls.lua: the routing script of the call benchmark (test/bench/calls.sh).
--
-- A transaction-stateful, record-routing edge proxy in the style of Kamailio's
-- misc/examples/kemi/kamailio-basic-kemi-lua.lua, cut down to what an edge in
-- front of one core (a PBX, an SBC pool behind a dispatcher) does: REQINIT
-- checks, CANCEL and retransmissions through tm, in-dialog requests along the
-- Record-Route, initial requests record-routed and relayed to the core with a
-- failure route. The same file runs unchanged on luasbc (luasbc-calls.yaml) and on
-- stock Kamailio 5.6 with app_lua (kamailio-calls.cfg).
--
-- Modules: sl, tm, tmx, rr, maxfwd, sanity, siputils, kx (kemix), corex, textops,
-- xlog. No logging on the success path: the benchmark runs at log level warn.

-- The core every initial request goes to: the SIPp callee calls.sh starts
-- (UAS_PORT there must match).
local CORE = "sip:127.0.0.1:35400"
local MAX_FORWARDS = 10

-- Main request routing logic.
function ksr_request_route()
	ksr_route_reqinit()

	-- CANCEL processing: relayed to the INVITE's branches, or 481.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		return 1
	end

	-- Retransmissions are answered from their transaction (ACKs below).
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			-- the original is still being routed by another worker
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end

	-- Requests within a dialog follow its route set.
	ksr_route_withindlg()

	-- Only initial requests (no To tag) from here on.

	-- Preloaded Route headers are not honoured at the edge.
	KSR.hdr.remove("Route")

	-- Record-routing for dialog-creating requests.
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	-- Everything goes to the core.
	KSR.setdsturi(CORE)
	ksr_route_relay()
	return 1
end

-- Per-request initial checks.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- Keepalives addressed to this proxy are answered here.
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
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
	if KSR.rr.loose_route() > 0 then
		-- ACKs of a 2xx are forwarded statelessly by t_relay, the rest statefully.
		ksr_route_relay()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- no loose route, but a stateful ACK (after a 487, a 486...)
			ksr_route_relay()
		end
		-- ACK without matching transaction: discarded
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- Relay statefully; an error is answered from the internal error code.
function ksr_route_relay()
	if KSR.is_INVITE() then
		KSR.tm.t_on_failure("ksr_failure_manage")
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- The core did not answer, or answered 5xx: logged (the reply goes upstream).
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	if KSR.tm.t_branch_timeout() > 0 or KSR.tm.t_check_status("5[0-9][0-9]") > 0 then
		KSR.warn("core " .. CORE .. " failed the call " .. KSR.kx.get_callid() .. ": "
			.. KSR.tm.t_get_status_code() .. "\n")
	end
	return 1
end
