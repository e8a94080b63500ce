-- Answers every request 200; a request to user "slow" first keeps its worker
-- busy for a while (a bounded loop), so tests can fill the queue on purpose.
function ksr_request_route()
	if KSR.pv.get("$rU") == "slow" then
		local n = 0
		for i = 1, SLOW_LOOPS do
			n = n + i
		end
	end
	KSR.sl.sl_send_reply(200, "OK")
end
