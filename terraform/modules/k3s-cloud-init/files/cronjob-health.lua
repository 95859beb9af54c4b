-- Health of a CronJob from the outcome of its last finished run, so that a check that has never succeeded
-- (metrics-server broken from day one) turns Degraded after its first failed run. Argo CD's built-in
-- script reports Healthy whenever lastSuccessfulTime is nil. The CronJob controller sets lastScheduleTime
-- and adds the Job to `active` in one status update, drops it from `active` when it finishes, and sets
-- lastSuccessfulTime (the completion time) only when it succeeded. Timestamps are RFC 3339 in UTC, so
-- comparing them as strings compares the times (no string library here).
-- While a run is in progress the status cannot say how the previous one ended, so the check itself
-- (platform/metrics-server-check/check.py) annotates its CronJob with each finished run's verdict.
local RESULT = "stock-gitops/last-check"
local FINISHED = "stock-gitops/last-check-finished"
local REASON = "stock-gitops/last-check-reason"
local hs = { status = "Healthy", message = "" }

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "CronJob is suspended"
  return hs
end

local status = obj.status or {}
if status.lastScheduleTime == nil then
  -- Not run yet: nothing is known to be wrong, and an app's sync waves must not wait a whole schedule.
  hs.message = "CronJob has not been scheduled yet"
  return hs
end

local running = status.active ~= nil and #status.active > 0
if running then
  -- A failure recorded after the last success is the last finished run's verdict; one recorded before
  -- it (a later run succeeded but could not annotate) is stale.
  local annotations = (obj.metadata or {}).annotations or {}
  local finished = annotations[FINISHED]
  if annotations[RESULT] == "failed" and finished ~= nil
      and (status.lastSuccessfulTime == nil or finished > status.lastSuccessfulTime) then
    hs.status = "Degraded"
    local since = "no run has succeeded yet"
    if status.lastSuccessfulTime ~= nil then
      since = "the last success finished at " .. status.lastSuccessfulTime
    end
    hs.message = "a run is in progress, and the last finished run failed (at " .. finished .. ": "
      .. (annotations[REASON] or "no reason recorded") .. "); " .. since .. "; see the failed Job's log"
    return hs
  end
  if status.lastSuccessfulTime == nil then
    -- Its first run, or a later one after nothing but failures: not known to be healthy.
    hs.status = "Progressing"
    hs.message = "a run is in progress and no run has succeeded yet"
    return hs
  end
  -- No failure recorded since the last success (or no verdict at all, from a check before annotations).
  hs.message = "a run is in progress; the last successful run finished at " .. status.lastSuccessfulTime
  return hs
end

if status.lastSuccessfulTime == nil then
  hs.status = "Degraded"
  hs.message = "the last run (scheduled " .. status.lastScheduleTime .. ") failed, and no run has succeeded yet; see the failed Job's log"
  return hs
end

if status.lastSuccessfulTime < status.lastScheduleTime then
  hs.status = "Degraded"
  hs.message = "the last run (scheduled " .. status.lastScheduleTime .. ") failed; the last success finished at " .. status.lastSuccessfulTime .. "; see the failed Job's log"
  return hs
end

hs.message = "the last run succeeded at " .. status.lastSuccessfulTime
return hs
