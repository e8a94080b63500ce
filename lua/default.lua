-- luasbc default routing script: an edge proxy on the embedded defaults.
-- It is a Kamailio app_lua (KEMI) script: the same file runs on Kamailio.
-- Later modules (tm, rr, auth, registrar, dispatcher...) extend it; until a
-- module is enabled in the config its block is skipped (KSR.<module> is nil).

-- Thresholds and lists, in one place.
local MAX_FORWARDS = 10
local SCANNER_UA = { "friendly", "scanner", "sipcli", "sipvicious", "VaxSIPUserAgent", "pplsip" }

FLT_ACC = 1
FLT_ACCMISSED = 2
FLT_ACCFAILED = 3
FLT_NATS = 5
FLB_NATB = 6
FLB_NATSIPPING = 7

-- Main request routing logic.
function ksr_request_route()
	ksr_route_reqinit()

	-- Stateless edge: answer what is addressed to this server, refuse relaying.
	if KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(404, "Not Found")
		return 1
	end
	KSR.sl.sl_send_reply(403, "Not relaying")
	return 1
end

-- Per-request initial checks.
function ksr_route_reqinit()
	-- Replies go back only over the connection the request came in on.
	KSR.set_reply_no_connect()

	if not KSR.is_myself_srcip() then
		local srcip = KSR.kx.get_srcip()
		if KSR.htable and KSR.htable.sht_match_name("ipban", "eq", srcip) > 0 then
			-- ip is already blocked
			KSR.dbg("request from blocked IP - " .. KSR.kx.get_method() .. " from " .. KSR.kx.get_furi()
				.. " (IP:" .. srcip .. ":" .. KSR.kx.get_srcport() .. ")\n")
			KSR.x.exit()
		end
		if KSR.pike and KSR.pike.pike_check_req() < 0 then
			KSR.err("ALERT: pike blocking " .. KSR.kx.get_method() .. " from " .. KSR.kx.get_furi()
				.. " (IP:" .. srcip .. ":" .. KSR.kx.get_srcport() .. ")\n")
			if KSR.htable then
				KSR.htable.sht_seti("ipban", srcip, 1)
			end
			KSR.x.exit()
		end
	end

	local ua = KSR.kx.gete_ua()
	for _, s in ipairs(SCANNER_UA) do
		if string.find(ua, s, 1, true) then
			-- Scanners get a bland 200 and nothing else.
			KSR.sl.sl_send_reply(200, "OK")
			KSR.x.exit()
		end
	end

	if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0 then
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

-- Replies: drop malformed ones before they are relayed.
function ksr_reply_route()
	if KSR.sanity.sanity_check(17604, 6) < 0 then
		KSR.err("malformed SIP reply from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.drop()
	end
end
