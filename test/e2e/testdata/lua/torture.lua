-- RFC 4475 torture test: reply to the source address (the torture messages carry
-- TEST-NET Via addresses), run the REQINIT sanity checks, then answer 200 so no
-- relaying is needed.
function ksr_request_route()
	KSR.force_rport()
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(200, "Torture OK")
end
