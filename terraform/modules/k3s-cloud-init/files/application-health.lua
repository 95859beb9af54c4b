-- Health of an Argo CD Application seen as a resource of its parent (app of apps). The parent's sync waves
-- wait on this, so for a child that syncs automatically it says Healthy only when the child has really
-- arrived: Argo CD computed it Healthy, every resource is applied as Git has it (Synced; health alone
-- skips resources that are missing), and no sync of the current revision is running or has failed.
-- Argo CD runs this with base, table and a safe os library only: no string functions.
local hs = { status = "Progressing", message = "" }

-- The root manages itself (clusters/<cluster> includes root-app.yaml), so its own sync waits for the health
-- of everything it applies, itself included; while that sync runs, the checks below would say Progressing
-- and the root would wait for itself forever (seen on the live cluster, tests/live). Argo CD leaves a
-- self-managed app out of its own health for the same reason. Its tracking annotation names its manager.
local metadata = obj.metadata or {}
local name = metadata.name or ""
local self_id = name .. ":argoproj.io/Application:" .. (metadata.namespace or "") .. "/" .. name
if metadata.annotations ~= nil and metadata.annotations["argocd.argoproj.io/tracking-id"] == self_id then
  hs.status = "Healthy"
  hs.message = "manages itself: its own sync does not wait for itself"
  return hs
end

local status = obj.status
if status == nil then
  hs.message = "waiting for Argo CD to assess the child Application"
  return hs
end

-- Conditions Argo CD sets when it cannot even compare or sync the child (bad path, unreachable repo, a
-- manifest that does not render): health would keep its last value, so they decide first.
local errors = { ComparisonError = true, InvalidSpecError = true, SyncError = true, UnknownError = true }
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if errors[condition.type] then
      hs.status = "Degraded"
      hs.message = condition.type .. ": " .. (condition.message or "")
      return hs
    end
  end
end

if status.health == nil or status.health.status == nil then
  hs.message = "waiting for Argo CD to assess the child Application"
  return hs
end

-- A child without automated sync (the load test) is synced by hand: OutOfSync is where it rests, and its
-- syncs' results are for the person who pressed Sync. Its own health is all the parent may wait for, or
-- the parent's last wave, and with it every later sync of the parent, would wait for a click.
local automated = nil
if obj.spec ~= nil and obj.spec.syncPolicy ~= nil then
  automated = obj.spec.syncPolicy.automated
end
if automated == nil or automated.enabled == false then
  hs.status = status.health.status
  hs.message = status.health.message or ""
  return hs
end

local sync = status.sync or {}
local operation = status.operationState
if operation ~= nil then
  local result = operation.syncResult or {}
  -- A failure no longer matters once the child is Synced at another revision (the bad commit was
  -- reverted and nothing needed applying), or when it failed before syncing anything (no result, say an
  -- unreachable repository) and the child is Synced anyway: nothing new would start, so it would stick.
  local stale = sync.status == "Synced"
    and (result.revision == nil or (sync.revision ~= nil and result.revision ~= sync.revision))
  if (operation.phase == "Failed" or operation.phase == "Error") and not stale then
    hs.status = "Degraded"
    hs.message = "last sync " .. operation.phase .. ": " .. (operation.message or "")
    return hs
  end
  if operation.phase == "Running" or operation.phase == "Terminating" then
    hs.message = "sync " .. operation.phase .. ": " .. (operation.message or "")
    return hs
  end
end

if status.health.status ~= "Healthy" then
  hs.status = status.health.status
  hs.message = status.health.message or ""
  return hs
end

if sync.status ~= "Synced" then
  hs.message = "health is Healthy but sync status is " .. (sync.status or "unknown") .. ": waiting for the child to sync"
  return hs
end

hs.status = "Healthy"
hs.message = status.health.message or ""
return hs
