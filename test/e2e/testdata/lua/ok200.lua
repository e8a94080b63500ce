-- Answers every request with 200 "OK" (sl only): for the bad-input and flood tests.
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "OK")
end
