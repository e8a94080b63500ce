-- The Kamailio 101 PBX: a registrar and proxy for the users of one domain.
-- A Kamailio KEMI script (app_lua): the same file runs on Kamailio with the
-- modules of sbc.yaml loaded.
--
--   REGISTER                 digest-authenticated (401), then saved in the location service
--   INVITE from a user       digest-authenticated (407); the credentials are not passed on
--   INVITE to a user         its registered contacts; 480 when it has none, 404 for no such user
--   INVITE from a carrier    (address group CARRIER_GROUP of address.list) accepted without credentials
--   INVITE to a number       that is no user of ours: sent to CARRIER_HOST
--
-- Modules: sl, maxfwd, sanity, siputils, textops, kx, corex, tm, tmx, rr,
-- htable, permissions, auth, auth_db, usrloc, registrar (see sbc.yaml).

local CARRIER_GROUP = 200                -- permissions group of the carriers' addresses
local CARRIER_HOST = "127.0.0.1:5090"    -- where calls to numbers go (host[:port])
local NUMBER = "^%+?%d%d%d+$"            -- a R-URI user that is a telephone number
local SUBSCRIBERS = "subscriber"         -- auth_db table (the file store ignores the name)
local LOCATION = "location"              -- usrloc table

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP message from " .. KSR.kx.get_srcip() .. "\n")
		return 1
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		return 1
	end

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

	-- Initial requests.
	local caller = ksr_route_auth()
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	if KSR.is_REGISTER() then
		if KSR.registrar.save(LOCATION, 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		return 1
	end
	if not KSR.is_myself_ruri() then
		ksr_route_relay() -- a user of ours calling another domain
	end
	if KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		return 1
	end

	local rc = KSR.registrar.lookup(LOCATION)
	if rc > 0 then
		ksr_route_relay()
	end
	local subscriber = KSR.auth_db.is_subscriber(KSR.kx.get_ruri(), SUBSCRIBERS, 2) == 1
	if caller == "user" and not subscriber and string.find(KSR.kx.gete_ruser(), NUMBER) then
		-- rewritehost: the number goes to the carrier
		KSR.seturi("sip:" .. KSR.kx.gete_ruser() .. "@" .. CARRIER_HOST)
		KSR.htable.sht_sets("carriercalls", KSR.kx.get_callid(), "1") -- its re-INVITEs may go there too
		ksr_route_relay()
	end
	if subscriber then
		KSR.sl.sl_send_reply(480, "Temporarily Unavailable")
	else
		KSR.sl.sl_send_reply(404, "Not Found")
	end
	return 1
end

-- "carrier", "user" (authenticated) or "" (someone calling one of our
-- users). Users are challenged until they authenticate; nobody else may
-- reach another domain through us.
function ksr_route_auth()
	if not KSR.is_REGISTER() and KSR.permissions.allow_source_address(CARRIER_GROUP) > 0 then
		if not KSR.is_myself_ruri() then
			KSR.sl.sl_send_reply(403, "Not relaying")
			KSR.x.exit()
		end
		return "carrier"
	end
	if KSR.is_REGISTER() or KSR.is_myself_furi() then
		local realm = KSR.kx.gete_fhost()
		if KSR.auth_db.auth_check(realm, SUBSCRIBERS, 1) < 0 then
			KSR.auth.auth_challenge(realm, 0)
			KSR.x.exit()
		end
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
		return "user"
	end
	if not KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
	return ""
end

-- In-dialog requests follow the Record-Route set.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.is_INVITE() and ksr_to_carrier()
				and KSR.htable.sht_is_null("carriercalls", KSR.kx.get_callid()) ~= -2 then
			-- A To tag and our Route are easy to forge: only calls our users
			-- placed to the carrier may send it INVITEs (no toll fraud).
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

-- Whether the next hop (R-URI, or $du set by loose_route) is the carrier.
function ksr_to_carrier()
	local rhost = KSR.kx.get_rhost() .. ":" .. KSR.pv.get("$rp")
	if rhost == CARRIER_HOST or KSR.kx.get_rhost() == CARRIER_HOST then
		return true
	end
	return KSR.isdsturiset() and KSR.pv.get("$dd") .. ":" .. KSR.pv.get("$dp") == CARRIER_HOST
end

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
