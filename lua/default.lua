-- luasbc default routing script: an edge proxy and registrar on the embedded
-- defaults. It is a Kamailio app_lua (KEMI) script: the same file runs on
-- Kamailio. It needs sl and kx; blocks of other modules that are not enabled
-- in the config are skipped (KSR.<module> is nil).
--
-- With auth/auth_db, registrar and usrloc (the embedded default) it is the
-- registrar of the Kamailio 101 PBX: REGISTER and requests from local users
-- are digest-authenticated, registered users call each other through the
-- location service, carriers (permissions group CARRIER_GROUP) call in
-- without credentials, and local users' calls to numbers that are no local
-- user go to CARRIER_HOST. Nothing else is relayed.

-- Thresholds and lists, in one place.
local MAX_FORWARDS = 10
local SCANNER_UA = { "friendly", "scanner", "sipcli", "sipvicious", "VaxSIPUserAgent", "pplsip" }
local BAN_TABLE = "ipban"          -- htable of banned source IPs; its autoexpire is the ban time
local AUTHFAIL_TABLE = "authfail"  -- htable counting failed authentications per source IP
local AUTHFAIL_LIMIT = 5           -- failed authentications (within its autoexpire) before a ban
local TRUSTED_GROUP = 1            -- permissions address group of peers that are never rate-limited
local CARRIER_GROUP = 200          -- permissions address group of carriers: their calls need no credentials
local CARRIER_HOST = ""            -- host[:port] of the carrier for non-local numbers; "" = none (404)
local NUMBER = "^%+?%d%d%d+$"      -- a R-URI user that is a telephone number (may go to the carrier)
local CARRIER_CALLS = "carriercalls" -- htable of Call-IDs of our users' calls to the carrier
local SUBSCRIBER_TABLE = "subscriber"
local LOCATION_TABLE = "location"
local NAT_TESTS = 19               -- nat_uac_test: private Contact (1), Via host (2) or port (16) not the source
local RTP_FLAGS = "replace-origin replace-session-connection ICE=remove RTP/AVP"

FLT_ACC = 1
FLT_ACCMISSED = 2
FLT_ACCFAILED = 3
FLT_NATS = 5
FLB_NATB = 6
FLB_NATSIPPING = 7

-- Main request routing logic.
function ksr_request_route()
	ksr_route_reqinit()

	if not KSR.tm then
		-- Stateless edge: answer what is addressed to this server.
		ksr_route_stateless()
		return 1
	end

	ksr_route_natdetect()

	-- CANCEL processing: relayed to the INVITE's branches, or 481.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_media_delete()
			ksr_route_relay()
		else
			KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		end
		return 1
	end

	-- Retransmissions are answered from their transaction.
	if not KSR.is_ACK() then
		if KSR.tmx and KSR.tmx.t_precheck_trans() > 0 then
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

	-- Carriers, local users (authenticated) or calls to a local domain.
	local caller = ksr_route_auth()

	-- Record-routing for dialog-creating requests; a preloaded route set
	-- is not followed.
	KSR.hdr.remove("Route")
	if KSR.rr and (KSR.is_INVITE() or KSR.is_SUBSCRIBE()) then
		KSR.rr.remove_record_route()
		KSR.rr.record_route()
	end

	-- Account only INVITEs: answered, missed and failed calls.
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACC)
		if KSR.acc then
			KSR.setflag(FLT_ACCMISSED)
			KSR.setflag(FLT_ACCFAILED)
		end
	end

	-- Other domains: only local users reach them (ksr_route_auth refused
	-- everyone else).
	if not KSR.is_myself_ruri() then
		ksr_route_media_offer()
		ksr_route_relay()
	end

	ksr_route_registrar()

	if not ksr_has_ruri_user() then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		return 1
	end

	ksr_route_location(caller)
	return 1
end

-- Who sends this initial request: "carrier" (address group CARRIER_GROUP),
-- "local" (an authenticated subscriber) or "" (anyone, calling a local
-- user). A request that fails authentication is challenged; one from
-- nobody of ours to another domain is refused, so this is no open relay.
function ksr_route_auth()
	if KSR.permissions and not KSR.is_REGISTER()
			and KSR.permissions.allow_source_address(CARRIER_GROUP) > 0 then
		if not KSR.is_myself_ruri() then
			-- carriers reach our users, not other carriers through us
			KSR.sl.sl_send_reply(403, "Not relaying")
			KSR.x.exit()
		end
		return "carrier"
	end

	local caller = ""
	if KSR.auth and KSR.auth_db and (KSR.is_REGISTER() or KSR.is_myself_furi()) then
		local realm = KSR.kx.gete_fhost()
		local rc = KSR.auth_db.auth_check(realm, SUBSCRIBER_TABLE, 1)
		if rc < 0 then
			if rc == -2 or rc == -3 then
				-- wrong password or unknown user: counts towards a ban
				ksr_auth_failed()
			end
			KSR.auth.auth_challenge(realm, 0)
			KSR.x.exit()
		end
		-- the credentials are ours, not the next hop's
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
		caller = "local"
	end

	if caller ~= "local" and not KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
	return caller
end

-- REGISTER: saved in the location service (after ksr_route_auth).
function ksr_route_registrar()
	if not KSR.is_REGISTER() then
		return
	end
	if not KSR.registrar then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	if KSR.isflagset(FLT_NATS) then
		-- the contact is behind NAT: mark it, and keep its binding open
		-- with SIP keepalives (nathelper's sipping_bflag)
		KSR.setbflag(FLB_NATB)
		KSR.setbflag(FLB_NATSIPPING)
	end
	if KSR.registrar.save(LOCATION_TABLE, 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- Requests to a user of ours: its registered contacts; else a local user
-- calling a number goes to the carrier; else 480 for a subscriber not
-- registered now, 404 for anyone else.
function ksr_route_location(caller)
	if KSR.registrar then
		local rc = KSR.registrar.lookup(LOCATION_TABLE)
		if rc > 0 then
			ksr_route_media_offer()
			ksr_route_relay()
		elseif rc == -2 then
			KSR.sl.sl_send_reply(405, "Method Not Allowed")
			KSR.x.exit()
		end
	end
	local user = KSR.kx.gete_ruser()
	local subscriber = ksr_is_subscriber()
	if caller == "local" and CARRIER_HOST ~= "" and not subscriber and string.find(user, NUMBER) then
		KSR.seturi("sip:" .. user .. "@" .. CARRIER_HOST)
		if KSR.htable then
			-- re-INVITEs of this call may go to the carrier (ksr_route_withindlg)
			KSR.htable.sht_sets(CARRIER_CALLS, KSR.kx.get_callid(), KSR.kx.gete_au())
		end
		ksr_route_media_offer()
		ksr_route_relay()
	end
	if KSR.registrar and subscriber then
		KSR.sl.sl_send_reply(480, "Temporarily Unavailable")
	else
		KSR.sl.sl_send_reply(404, "Not Found")
	end
	KSR.x.exit()
end

-- Whether the R-URI names a subscriber (false without auth_db).
-- The tests of corex and siputils, or the core's PVs without them.
function ksr_has_ruri_user()
	if KSR.corex then
		return KSR.corex.has_ruri_user() > 0
	end
	return KSR.pv.get("$rU") ~= nil
end

function ksr_has_totag()
	if KSR.siputils then
		return KSR.siputils.has_totag() > 0
	end
	return KSR.pv.get("$tt") ~= nil
end

-- Whether the request goes to the carrier next: CARRIER_HOST or an address
-- of the carrier group, as R-URI or as next hop ($du after loose_route).
function ksr_to_carrier()
	if CARRIER_HOST == "" and not KSR.permissions then
		return false
	end
	local hops = { { KSR.kx.get_rhost(), KSR.pv.get("$rp") } }
	if KSR.isdsturiset() then
		hops[2] = { KSR.pv.get("$dd"), KSR.pv.get("$dp") }
	end
	for _, hop in ipairs(hops) do
		local host, port = hop[1] or "", tonumber(hop[2]) or 5060
		if host ~= "" and (CARRIER_HOST == host or CARRIER_HOST == host .. ":" .. port) then
			return true
		end
		if KSR.permissions and host ~= "" and KSR.permissions.allow_address(CARRIER_GROUP, host, port) > 0 then
			return true
		end
	end
	return false
end

-- Whether the Call-ID is a call one of our users placed to the carrier
-- (recorded in CARRIER_CALLS by ksr_route_location). Without that table
-- nothing is known: in-dialog INVITEs to the carrier are refused.
function ksr_carrier_call_known()
	return KSR.htable ~= nil and KSR.htable.sht_is_null(CARRIER_CALLS, KSR.kx.get_callid()) == -2
end

function ksr_is_subscriber()
	return KSR.auth_db ~= nil and KSR.auth_db.is_subscriber(KSR.kx.get_ruri(), SUBSCRIBER_TABLE, 2) == 1
end

-- Caller NAT detection: the binding of a NATed REGISTER is its source
-- address; a NATed caller's Contact gets that address as an alias, so
-- requests within the dialog reach it.
function ksr_route_natdetect()
	if not KSR.nathelper then
		return
	end
	if KSR.nathelper.nat_uac_test(NAT_TESTS) > 0 then
		if KSR.is_REGISTER() then
			KSR.nathelper.fix_nated_register()
		elseif KSR.siputils and KSR.siputils.is_first_hop() > 0 then
			KSR.nathelper.add_contact_alias()
		end
		KSR.setflag(FLT_NATS)
	end
end

-- Media anchoring of an initial INVITE with SDP (rtpengine offer); when
-- rtpengine cannot take the call it is answered 488.
function ksr_route_media_offer()
	if not KSR.rtpengine or not KSR.is_INVITE() or not ksr_has_sdp() then
		return
	end
	if KSR.rtpengine.rtpengine_manage(RTP_FLAGS) < 0 then
		KSR.err("rtpengine offer failed for " .. KSR.kx.get_ruri() .. "\n")
		KSR.sl.sl_send_reply(488, "Not Acceptable Here")
		KSR.x.exit()
	end
end

-- The media session of a call that ends (BYE, CANCEL) or failed.
function ksr_route_media_delete()
	if KSR.rtpengine then
		KSR.rtpengine.rtpengine_manage("")
	end
end

function ksr_has_sdp()
	if KSR.textops then
		return KSR.textops.has_body_type("application/sdp") > 0
	end
	return true
end

-- Stateful relay with failure handling.
function ksr_route_relay()
	if KSR.is_method_in("IBSU") then
		if KSR.tm.t_is_set("branch_route") < 0 then
			KSR.tm.t_on_branch("ksr_branch_manage")
		end
	end
	if KSR.is_method_in("ISU") then
		if KSR.tm.t_is_set("onreply_route") < 0 then
			KSR.tm.t_on_reply("ksr_onreply_manage")
		end
	end
	if KSR.is_INVITE() then
		if KSR.tm.t_is_set("failure_route") < 0 then
			KSR.tm.t_on_failure("ksr_failure_manage")
		end
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- Ban a source: it is ignored until the ban expires (the ipban table's
-- autoexpire), on every node sharing that table. The log line has a stable
-- format for fail2ban (deploy/fail2ban).
function ksr_ban(ip, reason)
	if KSR.htable then
		KSR.htable.sht_sets(BAN_TABLE, ip, reason)
	end
	KSR.notice("luasbc-ban: ip=" .. ip .. " reason=" .. reason .. "\n")
end

-- Count a failed authentication of the source (called by the auth blocks);
-- AUTHFAIL_LIMIT of them ban it.
function ksr_auth_failed()
	if not KSR.htable then
		return
	end
	local srcip = KSR.kx.get_srcip()
	if KSR.htable.sht_inc(AUTHFAIL_TABLE, srcip) >= AUTHFAIL_LIMIT then
		ksr_ban(srcip, "authfail")
		KSR.htable.sht_rm(AUTHFAIL_TABLE, srcip)
	end
end

-- Per-request initial checks.
function ksr_route_reqinit()
	-- Replies go back only over the connection the request came in on.
	KSR.set_reply_no_connect()

	local srcip = KSR.kx.get_srcip()
	if not KSR.is_myself_srcip() then
		if KSR.htable and KSR.htable.sht_match_name(BAN_TABLE, "eq", srcip) > 0 then
			-- ip is already blocked
			KSR.dbg("request from blocked IP - " .. KSR.kx.get_method() .. " from " .. KSR.kx.get_furi()
				.. " (IP:" .. srcip .. ":" .. KSR.kx.get_srcport() .. ")\n")
			KSR.x.exit()
		end
		local trusted = KSR.permissions and KSR.permissions.allow_source_address(TRUSTED_GROUP) > 0
		if not trusted then
			if KSR.pike and KSR.pike.pike_check_req() < 0 then
				KSR.err("ALERT: pike blocking " .. KSR.kx.get_method() .. " from " .. KSR.kx.get_furi()
					.. " (IP:" .. srcip .. ":" .. KSR.kx.get_srcport() .. ")\n")
				ksr_ban(srcip, "flood")
				KSR.x.exit()
			end
			if KSR.secfilter and KSR.secfilter.secf_check_ip() == -2 then
				ksr_ban(srcip, "blocklist")
				KSR.x.exit()
			end
		end
	end

	local ua = KSR.kx.gete_ua()
	local scanner = KSR.secfilter and KSR.secfilter.secf_check_ua() == -2
	for _, s in ipairs(SCANNER_UA) do
		if scanner or string.find(ua, s, 1, true) then
			-- Scanners get a bland 200, then nothing at all.
			KSR.sl.sl_send_reply(200, "OK")
			if not KSR.is_myself_srcip() then
				ksr_ban(srcip, "scanner")
			end
			KSR.x.exit()
		end
	end

	if KSR.maxfwd and KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and not ksr_has_ruri_user() then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end

	if KSR.sanity and KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP message from " .. srcip .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end

	if KSR.secfilter and KSR.secfilter.secf_check_sqli_all() == 0 then
		KSR.sl.sl_send_reply(403, "Forbidden")
		KSR.x.exit()
	end
end

-- Without tm: nothing is relayed.
function ksr_route_stateless()
	if KSR.is_ACK() then
		return
	end
	if KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(404, "Not Found")
	else
		KSR.sl.sl_send_reply(403, "Not relaying")
	end
end

-- Handle requests within SIP dialogs.
function ksr_route_withindlg()
	if not ksr_has_totag() then
		return
	end
	if KSR.rr and KSR.rr.loose_route() > 0 then
		if KSR.nathelper and not KSR.isdsturiset() then
			-- a NATed peer's Contact carries its public address as an alias
			KSR.nathelper.handle_ruri_alias()
		end
		if KSR.is_INVITE() and ksr_to_carrier() and not ksr_carrier_call_known() then
			-- Anyone can send a request with a To tag and our Route: only a
			-- call one of our users placed may send INVITEs to the carrier,
			-- which trusts our address (no toll fraud by forged re-INVITEs).
			KSR.warn("in-dialog INVITE to the carrier for an unknown call from "
				.. KSR.kx.get_srcip() .. " refused\n")
			KSR.sl.sl_send_reply(403, "Forbidden")
			KSR.x.exit()
		end
		if KSR.rtpengine and KSR.is_method_in("IUA") and ksr_has_sdp() then
			-- a re-INVITE or UPDATE offer, or an ACK's answer, of an anchored call
			KSR.rtpengine.rtpengine_manage(RTP_FLAGS)
		end
		if KSR.is_BYE() then
			KSR.setflag(FLT_ACC) -- do accounting ...
			KSR.setflag(FLT_ACCFAILED) -- ... even if the transaction fails
			ksr_route_media_delete()
		elseif KSR.is_ACK() then
			-- ACK is forwarded statelessly
		elseif KSR.is_NOTIFY() then
			-- Add Record-Route for in-dialog NOTIFY as per RFC 6665.
			KSR.rr.record_route()
		end
		ksr_route_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- no loose-route, but stateful ACK; must be an ACK after a 487
			-- or e.g. 404 from upstream server
			ksr_route_relay()
		end
		-- ACK without matching transaction: discarded
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- Manage outgoing branches.
function ksr_branch_manage()
	KSR.dbg("new branch [" .. KSR.pv.get("$T_branch_idx") .. "] to " .. KSR.kx.get_ruri() .. "\n")
end

-- Manage incoming replies of transactions.
function ksr_onreply_manage()
	local scode = KSR.kx.get_status()
	if scode > 100 and scode <= 299 then
		KSR.dbg("incoming reply " .. scode .. "\n")
		if KSR.nathelper and KSR.isbflagset(FLB_NATB) then
			-- the callee is behind NAT: the caller's in-dialog requests
			-- must reach its public address
			KSR.nathelper.set_contact_alias()
		end
		if KSR.rtpengine and ksr_has_sdp() then
			KSR.rtpengine.rtpengine_manage(RTP_FLAGS)
		end
	end
end

-- Manage failure routing cases.
function ksr_failure_manage()
	ksr_route_media_delete()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	return 1
end

-- Replies: drop malformed ones before they are relayed.
function ksr_reply_route()
	if KSR.sanity and KSR.sanity.sanity_check(17604, 6) < 0 then
		KSR.err("malformed SIP reply from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.drop()
	end
end
