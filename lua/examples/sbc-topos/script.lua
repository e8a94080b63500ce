-- The seeds' SBC: a Kamailio KEMI script (app_lua) for the border of an inner
-- network. topos strips the topology of every dialog (configured in sbc.yaml,
-- nothing to call for it but record_route/loose_route); calls from outside are
-- dispatched to the inner gateway(s), calls from the gateways go out to their
-- R-URI; every topos event is logged.
--
-- Modules: sl, maxfwd, sanity, siputils, textops, kx, xlog, corex, tm, tmx, rr,
-- dispatcher, topos (see sbc.yaml).

local GATEWAYS = 1 -- dispatcher set of the inner gateways
local ALG = 4      -- round robin

function ksr_request_route()
	ksr_route_reqinit()

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
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

	ksr_route_withindlg()

	-- Initial requests. topos needs the Record-Route of every one of them
	-- (it names our address on each side); REGISTER/PUBLISH end here.
	KSR.hdr.remove("Route")
	if KSR.is_REGISTER() or KSR.is_PUBLISH() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		return 1
	end
	KSR.rr.record_route()
	if KSR.dispatcher.ds_is_from_list(GATEWAYS) > 0 then
		-- From the inner network out: to the R-URI.
		KSR.xlog.xinfo("outbound $rm $ci to $ru\n")
		ksr_route_relay()
	end
	ksr_route_dispatch()
	return 1
end

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

-- In-dialog requests: topos has already put back the Route set and the
-- R-URI of the destination side; they follow it.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.dispatcher.ds_is_from_list(GATEWAYS) < 0 and not ksr_to_gateway() then
			-- From outside, in-dialog requests go to the inner gateways only:
			-- a To tag and our Route are easy to forge, and would otherwise
			-- reach any address of the inner network.
			KSR.sl.sl_send_reply(403, "Forbidden")
			KSR.x.exit()
		end
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

-- Whether the next hop ($du set by loose_route, else the R-URI) is an inner
-- gateway (mode 3: any port and transport — a gateway's Contact may name
-- others than its dispatcher entry).
function ksr_to_gateway()
	local next = KSR.pv.get("$du") or KSR.pv.get("$ru")
	return KSR.dispatcher.ds_is_from_list_uri(GATEWAYS, 3, next) > 0
end

-- From outside in: a gateway of set 1, with failover; none up: 503.
function ksr_route_dispatch()
	if KSR.dispatcher.ds_select_dst(GATEWAYS, ALG) < 0 then
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end
	KSR.xlog.xinfo("inbound $rm $ci to $ru via gateway $du\n")
	KSR.tm.t_on_failure("ksr_failure_gateway")
	ksr_route_relay()
end

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

function ksr_failure_gateway()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or
		(KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0) then
		if KSR.dispatcher.ds_next_dst() > 0 then
			KSR.tm.t_on_failure("ksr_failure_gateway")
			if KSR.tm.t_relay() < 0 then
				KSR.tm.t_reply(503, "Service Unavailable")
			end
		end
	end
	return 1
end

-- topos events (event_callback): logged, with where the message goes or
-- comes from. KSR.x.drop() here would send that one message unstripped, e.g.
-- for a trusted peer: if KSR.pv.get("$sndto(ip)") == "10.0.0.5" then KSR.x.drop() end
function ksr_topos_event(evname)
	if evname == "topos:msg-outgoing" or evname == "topos:msg-sending" then
		KSR.info(evname .. " to " .. KSR.pv.get("$sndto(proto)") .. ":" .. KSR.pv.get("$sndto(ip)") .. ":"
			.. KSR.pv.get("$sndto(port)") .. "\n")
	else
		KSR.info(evname .. " from " .. KSR.kx.get_proto() .. ":" .. KSR.kx.get_srcip() .. ":"
			.. KSR.kx.get_srcport() .. "\n")
	end
	return 1
end
