-- bridge.lua: a record-routing, transaction-stateful proxy for the transport
-- tests (test/e2e/tls_test.go, ws_test.go, dns_test.go): any of UDP, TCP,
-- TLS, WS and WSS in, any out, with in-dialog requests following the
-- (double) Record-Route.
--
-- Placeholders, replaced by the harness:
--   __ROUTES__   Lua table entries: user = "destination URI" (or "" for R-URI)
--
-- WebSocket clients write an unroutable Contact (host.invalid): as Kamailio's
-- WebSocket example does with nathelper, the Contact of their initial
-- requests is rewritten to the address they connect from, so requests
-- towards them reuse their connection.

local ROUTES = { __ROUTES__ }

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.is_WSX() then
		KSR.force_rport()
	end
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			relay()
		end
		return 1
	end
	if not KSR.is_ACK() and KSR.tm.t_check_trans() == 0 then
		return 1
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			relay()
			return 1
		end
		if KSR.is_ACK() then
			if KSR.tm.t_check_trans() > 0 then
				relay()
			end
			return 1
		end
		KSR.sl.sl_send_reply(404, "Not here")
		return 1
	end
	if KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(200, "OK")
		return 1
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(200, "Keepalive")
		return 1
	end
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	if KSR.is_WSX() then
		fix_ws_contact()
	end
	local user = KSR.pv.get("$rU") or ""
	local dst = ROUTES[user]
	if dst == nil then
		KSR.sl.sl_send_reply(404, "Not Found")
		return 1
	end
	if dst ~= "" then
		KSR.setdsturi(dst)
	end
	KSR.info("initial " .. KSR.pv.get("$rm") .. " over " .. KSR.pv.get("$proto") .. " from " ..
		KSR.pv.get("$si") .. ":" .. KSR.pv.get("$sp") .. " to " .. user .. "\n")
	relay()
	return 1
end

-- The Contact of a WebSocket client, pointed at its connection.
function fix_ws_contact()
	local ct = KSR.hdr.get("Contact")
	if ct == nil then
		return
	end
	local user = string.match(ct, "<sips?:([^@>]+)@") or "ws"
	KSR.hdr.remove("Contact")
	KSR.hdr.append("Contact: <sip:" .. user .. "@" .. KSR.pv.get("$si") .. ":" .. KSR.pv.get("$sp") ..
		";transport=ws>\r\n")
end

function relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end
