// The Lua scripts the broker runs in Redis. Each runs atomically, so a message's Stream entry
// and its PUBLISH happen at the same point of Redis's single order: live delivery and history
// agree on which message came first.
#pragma once

namespace wsx::redis {

// The Stream entry of a message holds its envelope ('m') and the position of the message
// before it ('p', "0-0" for the first). Trimming (MAXLEN, MINID) removes the oldest entries, so
// a recovery knows whether anything between a client's position and the oldest entry kept was
// lost: it was iff the first entry after the position does not name that position as its
// predecessor.

// KEYS: stream, channel. ARGV: envelope, max entries, max age in ms (0: none).
// Returns the entry id (the message's position).
inline constexpr const char* publish_with_history_script = R"lua(
local prev = '0-0'
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  prev = last[1][1]
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then prev = info[i + 1] end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'm', ARGV[1], 'p', prev)
local age = tonumber(ARGV[3])
if age > 0 then
  local now = redis.call('TIME')
  local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age
  if oldest > 0 then redis.call('XTRIM', KEYS[1], 'MINID', string.format('%.0f', oldest)) end
end
redis.call('PUBLISH', KEYS[2], id .. '\n' .. ARGV[1])
return id
)lua";

// KEYS: stream. ARGV: since. Returns {gap, entries}: entries as XRANGE gives them, after
// `since`; gap 1 when messages after `since` were trimmed away (or the stream is gone: nothing
// proves there was no message).
inline constexpr const char* recover_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, {}} end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local gap = 0
if #entries > 0 then
  local fields = entries[1][2]
  local prev = nil
  for i = 1, #fields, 2 do
    if fields[i] == 'p' then prev = fields[i + 1] end
  end
  if prev ~= ARGV[1] then gap = 1 end
else
  -- Nothing kept after `since`: lost if anything came after it at all.
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local last = '0-0'
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
  local lms, lseq = parse(last)
  local sms, sseq = parse(ARGV[1])
  if lms > sms or (lms == sms and lseq > sseq) then gap = 1 end
end
return {gap, entries}
)lua";

}  // namespace wsx::redis
