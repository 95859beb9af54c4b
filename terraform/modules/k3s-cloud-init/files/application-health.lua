-- Health of an Argo CD Application seen as a resource of its parent (app of apps): the health Argo CD
-- computed for the child, with its message; a child that has none yet is still progressing.
local hs = { status = "Progressing", message = "" }
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
