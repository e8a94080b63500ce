-- Reload test: the reason phrase tells which version of the script answered.
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "__REASON__")
end
