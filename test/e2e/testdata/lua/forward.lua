-- Stateless forwarding: every request goes to the test's callee socket with
-- header edits; replies are relayed back by the core.
function ksr_request_route()
	KSR.hdr.remove("X-Remove-Me")
	KSR.hdr.append("X-Added: yes\r\n")
	local good = KSR.hdr.append("X-A: 1\r\nX-B: 2\r\n")
	local bad = KSR.hdr.append("X-A: 1\r\n\r\nINJECT")
	KSR.hdr.append("X-Inject-Result: " .. good .. "," .. bad .. "\r\n")
	KSR.setdsturi("__CALLEE__")
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(500, "Forward Failed")
	end
end
