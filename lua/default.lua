-- luasbc default routing script: an edge proxy on the embedded defaults.
-- It is a Kamailio app_lua (KEMI) script: the same file runs on Kamailio.
-- Blocks of modules that are not enabled in the config are skipped
-- (KSR.<module> is nil), so the script runs with any module set.

-- Thresholds and lists, in one place.
local MAX_FORWARDS = 10
local SCANNER_UA = { "friendly", "scanner", "sipcli", "sipvicious", "VaxSIPUserAgent", "pplsip" }
local BAN_TABLE = "ipban"          -- htable of banned source IPs; its autoexpire is the ban time
local AUTHFAIL_TABLE = "authfail"  -- htable counting failed authentications per source IP
local AUTHFAIL_LIMIT = 5           -- failed authentications (within its autoexpire) before a ban
local TRUSTED_GROUP = 1            -- permissions address group of peers that are never rate-limited

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

	-- CANCEL processing: relayed to the INVITE's branches, or 481.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
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

	-- Record-routing for dialog-creating requests.
	if KSR.rr and (KSR.is_INVITE() or KSR.is_SUBSCRIBE()) then
		KSR.rr.remove_record_route()
		KSR.rr.record_route()
	end

	-- Account only INVITEs.
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACC)
	end

	-- Without a location service or gateways there is nowhere to send
	-- initial requests: a domain of ours has no such user, and this is no
	-- open relay for the others. The registrar and dispatcher modules add
	-- their blocks here.
	if KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(404, "Not Found")
	else
		KSR.sl.sl_send_reply(403, "Not relaying")
	end
	return 1
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

	if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end

	if KSR.sanity.sanity_check(17895, 7) < 0 then
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
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr and KSR.rr.loose_route() > 0 then
		if KSR.is_BYE() then
			KSR.setflag(FLT_ACC) -- do accounting ...
			KSR.setflag(FLT_ACCFAILED) -- ... even if the transaction fails
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
	end
end

-- Manage failure routing cases.
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	return 1
end

-- Replies: drop malformed ones before they are relayed.
function ksr_reply_route()
	if KSR.sanity.sanity_check(17604, 6) < 0 then
		KSR.err("malformed SIP reply from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.drop()
	end
end
