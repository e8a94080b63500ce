-- dispatcher.lua: a transaction-stateful, record-routing proxy that spreads calls
-- over SIPp callees with the dispatcher, for test/e2e/dispatcher_test.go.
--
-- A Kamailio KEMI script: modules sl, tm, tmx, rr, maxfwd, sanity, siputils, corex,
-- kemix (kx), textops, xlog and dispatcher (flags 2: failover list kept).
--
-- The R-URI user says which destination set and algorithm: s<set>a<alg>, e.g.
-- sip:s1a9@proxy is set 1 with algorithm 9 (weight). Any other user: 404.
-- No destination (set down, all at maxload): 503. A 5xx or a timeout of the
-- destination tries the next one of the set from the failure route.

function ksr_request_route()
	ksr_route_reqinit()

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

	ksr_route_withindlg()

	KSR.hdr.remove("Route")
	if KSR.is_INVITE() then
		KSR.rr.record_route()
	end
	ksr_route_dispatch()
	return 1
end

-- Pick the destination: $du from the set and algorithm of the R-URI user.
function ksr_route_dispatch()
	local set, alg = string.match(KSR.kx.gete_ruser(), "^s(%d+)a(%d+)$")
	if set == nil then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	if KSR.dispatcher.ds_select_dst(tonumber(set), tonumber(alg)) < 0 then
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end
	-- A destination that does not answer the INVITE at all is left after 1 s
	-- (other transactions keep tm's fr_timer).
	KSR.tm.t_set_fr(10000, 1000)
	KSR.tm.t_on_failure("ksr_failure_dispatch")
	ksr_route_relay()
end

-- Per-request initial checks.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.x.exit()
	end
end

-- Requests within a dialog follow the Record-Route set; a BYE releases the
-- call's load (algorithm 10).
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.is_BYE() then
		KSR.dispatcher.ds_load_update()
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

function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- A 5xx or no answer at all: the next destination of the set, if any. A call
-- that ends here releases its load.
function ksr_failure_dispatch()
	if KSR.tm.t_is_canceled() > 0 then
		KSR.dispatcher.ds_load_unset()
		return 1
	end
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or
			(KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0) then
		if KSR.dispatcher.ds_next_dst() > 0 then
			KSR.tm.t_on_failure("ksr_failure_dispatch")
			KSR.tm.t_set_fr(10000, 1000)
			if KSR.tm.t_relay() < 0 then
				KSR.tm.t_reply(500, "Failover Failed")
			end
			return 1
		end
	end
	KSR.dispatcher.ds_load_unset()
	return 1
end
