-- Sandbox test: report in a reply header what the script can reach.
local function t(v) return type(v) end

function ksr_request_route()
	local r = {}
	r[#r + 1] = "os=" .. t(os)
	r[#r + 1] = "io=" .. t(io)
	r[#r + 1] = "dofile=" .. t(dofile)
	r[#r + 1] = "loadfile=" .. t(loadfile)
	r[#r + 1] = "collectgarbage=" .. t(collectgarbage)
	r[#r + 1] = "debug=" .. t(debug)
	r[#r + 1] = "require=" .. t(require)
	r[#r + 1] = "package=" .. t(package)
	r[#r + 1] = "string=" .. t(string)
	r[#r + 1] = "table=" .. t(table)
	r[#r + 1] = "math=" .. t(math)
	-- Calling what is gone is an error, caught here.
	local ok = pcall(function() return os.execute("true") end)
	r[#r + 1] = "os.execute=" .. tostring(ok)
	ok = pcall(function() return io.open("/etc/passwd") end)
	r[#r + 1] = "io.open=" .. tostring(ok)
	ok = pcall(function() return dofile("/etc/passwd") end)
	r[#r + 1] = "dofile()=" .. tostring(ok)
	ok = pcall(function() return collectgarbage("collect") end)
	r[#r + 1] = "collectgarbage()=" .. tostring(ok)
	KSR.hdr.append_to_reply("X-Sandbox: " .. table.concat(r, ";") .. "\r\n")
	KSR.sl.sl_send_reply(200, "Sandbox")
end
