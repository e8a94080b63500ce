-- Runaway script: requests to user "loop" never end; lua.timeout_ms must stop them.
function ksr_request_route()
	if KSR.pv.get("$rU") == "loop" then
		while true do end
	end
	KSR.sl.sl_send_reply(200, "Alive")
end
