-- Is a page of the visitor still open? The twin of core/policy.py:page_present().
-- A web worker holding a live page connection vouches for it; otherwise the last batch
-- must be recent, and a page that said goodbye (pagehide) gets only a short grace for the
-- next page of the same visit to arrive.
local function page_present(now, last, left, socket_seen, live_ms, grace_ms, socket_ms)
  if socket_seen and socket_seen >= now - socket_ms then return true end
  if left then return left >= now - grace_ms end
  return last ~= nil and last >= now - live_ms
end
