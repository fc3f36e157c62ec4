-- login on distinct accounts: each wrk thread cycles through its own slice of usernames, so
-- no two requests of one run sign in the same account until a thread's slice wraps.
-- Usage: wrk ... -s bench/wrk/login.lua URL -- <datafile>
-- datafile: line 1 the JSON body with %USER% where the username goes, then usernames.
-- A response without an access token counts as "bad" (a refused login is a 200 too).
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local template
local mine = {}
local next_index = 1
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   local lines = common.read_lines(args[1])
   template = lines[1]
   local nthreads = tonumber(args[2]) or 1
   for i = 2, #lines do
      if (i - 2) % nthreads == tid then table.insert(mine, lines[i]) end
   end
   if #mine == 0 then mine = { lines[2] } end
   bad = 0
end

function request()
   local user = mine[next_index]
   next_index = next_index % #mine + 1
   local body = template:gsub("%%USER%%", user)
   return wrk.format("POST", "/graphql", headers, body)
end

function response(status, headers, body)
   if not body:find('"accessToken":"sga_', 1, true) then
      bad = bad + 1
   end
end
