-- Media gateway routing: a Kamailio KEMI script (app_lua) for an SBC in front of
-- media gateways. Calls go round robin over dispatcher set 1; a gateway that
-- answers 5xx or does not answer at all is replaced by the next one of the set
-- from the failure route; with every gateway down the caller gets 503.
--
-- Modules: sl, maxfwd, sanity, siputils, textops, kx, xlog, corex, tm, tmx, rr,
-- dispatcher (see sbc.yaml).

local GATEWAYS = 1 -- dispatcher set of the media gateways
local ALG = 4      -- round robin

function ksr_request_route()
	ksr_route_reqinit()

	-- CANCEL: relay it when its INVITE is being handled here.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		return 1
	end

	-- Retransmissions are answered by the transaction.
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end

	ksr_route_withindlg()

	-- Initial requests: stay on the path, then pick a gateway.
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	if not KSR.is_INVITE() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		return 1
	end
	ksr_route_dispatch()
	return 1
end

-- Per-request checks.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP message from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end
end

-- In-dialog requests follow the Record-Route set.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
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

-- Pick a gateway ($du) and relay; no active gateway: 503.
function ksr_route_dispatch()
	if KSR.dispatcher.ds_select_dst(GATEWAYS, ALG) < 0 then
		KSR.warn("no media gateway available for " .. KSR.kx.get_ruri() .. "\n")
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end
	KSR.xlog.xinfo("call $ci to $ru via gateway $du\n")
	KSR.tm.t_on_failure("ksr_failure_gateway")
	ksr_route_relay()
end

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- The gateway refused (5xx) or never answered: try the next one. A gateway
-- that timed out counts one failure towards being taken out of the rotation
-- (ds_probing_threshold); the keepalives bring it back.
function ksr_failure_gateway()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	local timeout = KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or timeout then
		if timeout then
			KSR.dispatcher.ds_mark_dst_state("tp")
		end
		if KSR.dispatcher.ds_next_dst() > 0 then
			KSR.xlog.xinfo("call $ci: gateway failed ($T_reply_code), trying $du\n")
			KSR.tm.t_on_failure("ksr_failure_gateway")
			if KSR.tm.t_relay() < 0 then
				KSR.tm.t_reply(503, "Service Unavailable")
			end
			return 1
		end
	end
	-- No gateway left: the best failure goes back to the caller as it is.
	return 1
end

-- Gateways going down or coming back (event_callback).
function ksr_dispatcher_event(evname)
	KSR.info("media gateway " .. KSR.pv.get("$dsv(uri)") .. ": " .. evname ..
		" (keepalive answer " .. tostring(KSR.pv.get("$dsv(code)")) .. ")\n")
end
