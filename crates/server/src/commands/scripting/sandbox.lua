local P, G, env, run = ...
local raw_error, raw_type, raw_tostring, raw_select = error, type, tostring, select
local raw_setmetatable, raw_getmetatable, raw_rawset = setmetatable, getmetatable, rawset
local raw_pcall, raw_loadstring, raw_setfenv, raw_unpack = pcall, loadstring, setfenv, unpack
local protected = raw_setmetatable({}, {__mode = 'k'})
local function ro_newindex() raw_error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local proxy = {}
  local meta = {__index = t, __newindex = ro_newindex}
  local public = {}
  protected[public] = true
  raw_setmetatable(public, {__index = meta, __newindex = ro_newindex, __metatable = false})
  meta.__metatable = public
  raw_setmetatable(proxy, meta)
  protected[proxy] = true
  return proxy
end
local globals = {}
local allowed = {'xpcall', 'tostring', 'getfenv', 'next', 'assert', 'tonumber',
  'rawequal', 'collectgarbage', 'getmetatable', 'coroutine', 'type', 'select',
  'unpack', 'gcinfo', 'pairs', 'rawget', 'ipairs', '_VERSION', 'setfenv', 'load',
  'error', 'newproxy'}
for _, name in ipairs(allowed) do globals[name] = G[name] end
globals.setmetatable = function(t, m)
  if protected[t] then raw_error('Attempt to modify a readonly table', 2) end
  return raw_setmetatable(t, m)
end
globals.rawset = function(t, k, v)
  if protected[t] then raw_error('Attempt to modify a readonly table', 2) end
  return raw_rawset(t, k, v)
end
globals.loadstring = function(code, name)
  if raw_type(code) == 'string' and code:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = raw_loadstring(code, name)
  if f then raw_setfenv(f, env) end
  return f, e
end
-- Redis's pcall: an error table becomes its message.
globals.pcall = function(f, ...)
  local result = {raw_pcall(f, ...)}
  if not result[1] then
    if raw_type(result[2]) == 'table' and raw_type(result[2].err) == 'string' then
      result[2] = result[2].err
    elseif raw_type(result[2]) == 'userdata' then
      result[2] = P.error_message(result[2])
    end
  end
  return raw_unpack(result, 1, table.maxn(result))
end
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
local math_copy = copy(G.math)
math_copy.random = P.random
math_copy.randomseed = P.randomseed
globals.math = readonly(math_copy)
globals.string = readonly(copy(G.string))
globals.table = readonly(copy(G.table))
globals.bit = readonly(P.bit)
globals.cjson = readonly(P.cjson)
globals.cmsgpack = readonly(P.cmsgpack)
local function raise(text) raw_error({err = text}) end
local redis = {}
-- redis.call and redis.pcall are set by keel for each run (Rust
-- functions, so that the script's frame stays on the stack for errors).
P.redis = redis
redis.sha1hex = function(...)
  if raw_select('#', ...) ~= 1 then raise('ERR wrong number of arguments') end
  return P.sha1hex((...))
end
redis.error_reply = function(...)
  local text = ...
  if raw_select('#', ...) ~= 1 or raw_type(text) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {err = P.error_text(text)}
end
redis.status_reply = function(...)
  local text = ...
  if raw_select('#', ...) ~= 1 or raw_type(text) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = text}
end
redis.log = function(...)
  local failure = P.log(...)
  if failure then raise(failure) end
end
redis.setresp = function(...)
  local failure = P.setresp(...)
  if failure then raise(failure) end
end
redis.set_repl = function(...)
  if raw_select('#', ...) ~= 1 then raise('ERR redis.set_repl() requires one argument.') end
  local flags = ...
  if raw_type(flags) ~= 'number' or flags < 0 or flags > 3 or flags % 1 ~= 0 then
    raise("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
end
redis.register_function = function(...)
  local registry = P.registry
  if not registry then raise('ERR redis.register_function can only be called on FUNCTION LOAD command') end
  local count = raw_select('#', ...)
  local name, callback, flags, description
  local first = ...
  if count == 1 and raw_type(first) == 'table' then
    for key in pairs(first) do
      if key ~= 'function_name' and key ~= 'callback' and key ~= 'flags' and key ~= 'description' then
        raise('ERR unknown argument given to redis.register_function')
      end
    end
    name, callback, flags, description = first.function_name, first.callback, first.flags, first.description
  elseif count == 2 then
    name, callback = ...
  else
    raise('ERR wrong number of arguments to redis.register_function')
  end
  if raw_type(name) ~= 'string' then raise('ERR function_name argument given to redis.register_function must be a string') end
  if raw_type(callback) ~= 'function' then raise('ERR callback argument given to redis.register_function must be a function') end
  local flag_list = {}
  if flags ~= nil then
    if raw_type(flags) ~= 'table' then raise('ERR flags argument to redis.register_function must be a table representing function flags') end
    for _, flag in ipairs(flags) do
      if raw_type(flag) ~= 'string' then raise('ERR unknown flag given') end
      flag_list[#flag_list + 1] = flag
    end
  end
  if description ~= nil and raw_type(description) ~= 'string' then
    raise('ERR description argument given to redis.register_function must be a string')
  end
  registry[#registry + 1] = {name, callback, flag_list, description}
end
P.invoke = function(f, handler, keys, argv)
  return xpcall(function() return f(keys, argv) end, handler)
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if raw_select('#', ...) < 1 then raise('ERR Please specify at least one argument for this redis lib call') end
  if not P.known_command(...) then
    raise('ERR Invalid command passed to redis.acl_check_cmd()')
  end
  return P.acl_allowed(...)
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = P.version, P.version_number
globals.redis = readonly(redis)
local env_meta = {}
env_meta.__index = function(_, k)
  if k == '_G' then return env end
  local v = run[k]
  if v ~= nil then return v end
  v = globals[k]
  if v ~= nil then return v end
  raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(k) .. "'", 2)
end
env_meta.__newindex = ro_newindex
local public_meta = {}
protected[public_meta] = true
raw_setmetatable(public_meta, {__index = env_meta, __newindex = ro_newindex, __metatable = false})
env_meta.__metatable = public_meta
raw_setmetatable(env, env_meta)
protected[env] = true
