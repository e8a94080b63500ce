-- Reload test: line 5 has a syntax error, so this version must never load.
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "Broken")
end
local x = = 1
