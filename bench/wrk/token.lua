-- One GraphQL POST body for every request, with a bearer token per wrk thread.
-- Usage: wrk ... -s bench/wrk/token.lua URL -- <datafile>
-- datafile: line 1 the JSON body, then one access token a line; thread i uses token i
-- (cycling when there are fewer tokens than threads).
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local prepared

function init(args)
   local lines = common.read_lines(args[1])
   local body = lines[1]
   local ntokens = #lines - 1
   local headers = { ["Content-Type"] = "application/json" }
   if ntokens > 0 then
      headers["Authorization"] = "Bearer " .. lines[2 + (tid % ntokens)]
   end
   prepared = wrk.format("POST", "/graphql", headers, body)
   bad = 0
end

function request()
   return prepared
end
