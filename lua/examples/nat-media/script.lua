-- nat-media: a record-routing proxy that anchors the media of every call in
-- rtpengine, so that two users behind NAT (who cannot reach each other's
-- private RTP addresses) talk through the relay. A Kamailio app_lua (KEMI)
-- script: the same file runs on Kamailio with the same modules loaded.
--
-- Media handling follows Kamailio's kamailio-basic-kemi natmanage route:
--   offer   on the INVITE (or UPDATE) with SDP        rtpengine_manage in the request route
--   answer  on 183/200 with SDP (or the ACK with SDP) rtpengine_manage in the reply route
--   delete  on BYE / CANCEL / a failed call           rtpengine_manage in-dialog and in the failure route
-- The SDP of the message is replaced by rtpengine's (its address and ports).
--
-- Modules: sl, tm, tmx, rr, maxfwd, sanity, siputils, kx, rtpengine; nathelper
-- when present (NAT detection and Contact fixing).

FLT_NATS = 5 -- the caller is behind NAT
FLB_NATB = 6 -- the callee is behind NAT

-- Where initial INVITEs go: a define (lua.defines: {UPSTREAM: ...}) or this default.
local function upstream()
	return KSR.kx.get_def("UPSTREAM") or "sip:127.0.0.1:5080"
end
-- rtpengine flags for offers and answers (Kamailio's usual set).
local RTP_FLAGS = "replace-origin replace-session-connection ICE=remove RTP/AVP"
-- rtpengine down or slow: false answers the INVITE 488 (fail cleanly); true
-- lets the call go on with the endpoints' own SDP (media may not flow through NAT).
local ANCHOR_OPTIONAL = false

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP message from " .. KSR.kx.get_srcip() .. "\n")
		return 1
	end
	ksr_route_natdetect()

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_media() -- delete the session of the call being cancelled
			ksr_route_relay()
		else
			KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
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
	KSR.hdr.remove("Route")
	if KSR.is_INVITE() or KSR.is_SUBSCRIBE() then
		KSR.rr.record_route()
	end
	if not KSR.is_INVITE() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		return 1
	end
	KSR.setdsturi(upstream())
	if ksr_route_media() < 0 then
		return 1 -- answered 488
	end
	ksr_route_relay()
	return 1
end

-- Requests within a dialog follow the route set; BYE ends the media session,
-- a re-INVITE or UPDATE with SDP is a new offer, an ACK with SDP an answer.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.is_method_in("IBUAE") then
			if ksr_route_media() < 0 and not KSR.is_BYE() and not KSR.is_ACK() then
				return KSR.x.exit()
			end
		end
		ksr_route_relay()
		KSR.x.exit()
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

-- NAT detection (nathelper): private Via/Contact address or a source that
-- differs from the Via; the Contact of a NATed caller is fixed so that
-- in-dialog requests reach it.
function ksr_route_natdetect()
	if not KSR.nathelper then
		return
	end
	if KSR.nathelper.nat_uac_test(19) > 0 then
		if KSR.siputils.is_first_hop() > 0 and KSR.siputils.has_totag() < 0 then
			KSR.nathelper.set_contact_alias()
		end
		KSR.setflag(FLT_NATS)
	end
end

-- Media anchoring for the current message: 1 anchored or nothing to do,
-- -1 the request was answered 488.
function ksr_route_media()
	if not KSR.rtpengine then
		return 1
	end
	local has_sdp = KSR.textops and KSR.textops.has_body_type("application/sdp") > 0
	if not has_sdp and not KSR.is_BYE() and not KSR.is_CANCEL() then
		-- INVITE without SDP: the offer comes in the 200 (handled in the reply route).
		if KSR.is_INVITE() then
			KSR.tm.t_on_reply("ksr_onreply_media")
		end
		return 1
	end
	if KSR.rtpengine.rtpengine_manage(RTP_FLAGS) < 0 then
		if KSR.is_method_in("IU") then
			if ANCHOR_OPTIONAL then
				KSR.warn("media not anchored: rtpengine failed, the call goes on with the original SDP\n")
			else
				KSR.sl.sl_send_reply(488, "Not Acceptable Here")
				return -1
			end
		end
	end
	if KSR.is_method_in("IU") then
		KSR.tm.t_on_reply("ksr_onreply_media")
		KSR.tm.t_on_failure("ksr_failure_media")
	end
	return 1
end

-- Replies: 183/200 with SDP become rtpengine's answer; a negative reply
-- to the INVITE deletes its session.
function ksr_onreply_media()
	if KSR.rtpengine then
		KSR.rtpengine.rtpengine_manage(RTP_FLAGS)
	end
	if KSR.nathelper and KSR.siputils.is_reply() > 0 and KSR.nathelper.nat_uac_test(1) > 0 then
		KSR.nathelper.set_contact_alias()
	end
end

-- The call failed (no 2xx from any branch): end the media session.
function ksr_failure_media()
	if KSR.rtpengine then
		KSR.rtpengine.rtpengine_manage("")
	end
end

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
