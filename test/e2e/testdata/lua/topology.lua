-- topology.lua: a record-routing, transaction-stateful proxy with topology
-- hiding (topos or topoh, chosen by the config) for test/e2e/topology_test.go.
-- A Kamailio KEMI script in the style of the shipped example; the hiding
-- itself needs nothing from the script but record_route() on initial requests
-- and loose_route() on in-dialog ones.
-- Modules: sl, tm, tmx, rr, maxfwd, sanity, siputils, kx, corex, textops, xlog,
-- and topos or topoh.
--
-- Placeholders, replaced by the harness:
--   __CALLEE_A__   sip:127.0.0.1:<port>   the callee (and first forked branch)
--   __CALLEE_B__   sip:127.0.0.1:<port>   the second forked branch
--
-- The callee is chosen by the R-URI user: callee -> A, fork -> A and B in
-- parallel. Any other user: 404.

local CALLEE_A = "__CALLEE_A__"
local CALLEE_B = "__CALLEE_B__"

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.x.exit()
	end

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		return 1
	end
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end

	-- Requests within a dialog follow the Route set topology hiding restored.
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			ksr_route_relay()
		end
		if KSR.is_ACK() then
			if KSR.tm.t_check_trans() > 0 then
				ksr_route_relay()
			end
			KSR.x.exit()
		end
		KSR.sl.sl_send_reply(404, "Not here")
		KSR.x.exit()
	end

	-- Initial requests: every one is record-routed (topos needs it for
	-- MESSAGE/OPTIONS too, to know our address on each side).
	KSR.hdr.remove("Route")
	if not KSR.is_REGISTER() then
		KSR.rr.record_route()
	end
	local user = KSR.kx.gete_ruser()
	if user == "fork" then
		if KSR.corex.append_branch_uri(CALLEE_B) < 0 then
			KSR.sl.sl_send_reply(500, "Fork Failed")
			return 1
		end
	elseif user ~= "callee" then
		KSR.sl.sl_send_reply(404, "Not Found")
		return 1
	end
	KSR.setdsturi(CALLEE_A)
	ksr_route_relay()
end

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- The seeds' event callback: log each event with where the message goes or
-- comes from. Dropping here would skip the hiding for that message.
function ksr_topos_event(evname)
	if evname == "topos:msg-outgoing" or evname == "topos:msg-sending"
		or evname == "topoh:msg-outgoing" or evname == "topoh:msg-sending" then
		KSR.dbg("topology event " .. evname .. " to " .. KSR.pv.get("$sndto(ip)") .. ":"
			.. KSR.pv.get("$sndto(port)") .. "\n")
	else
		KSR.dbg("topology event " .. evname .. " from " .. KSR.kx.get_srcip() .. ":"
			.. KSR.kx.get_srcport() .. "\n")
	end
	return 1
end
