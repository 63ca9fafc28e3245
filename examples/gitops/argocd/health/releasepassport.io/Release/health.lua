-- Argo CD health check for Release (resource.customizations.health.releasepassport.io_Release):
-- the decision mirrored on the Release, but only once it was made for the Release's current
-- generation; until then, Progressing.
local hs = {}
if obj.status == nil or obj.status.decision == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for a decision"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for a decision on generation " .. obj.metadata.generation
  return hs
end
local decision = obj.status.decision
local passport = obj.status.passport or obj.metadata.name
if decision == "Allow" then
  hs.status = "Healthy"
elseif decision == "Block" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = decision .. " (see ReleasePassport " .. passport .. ")"
return hs
