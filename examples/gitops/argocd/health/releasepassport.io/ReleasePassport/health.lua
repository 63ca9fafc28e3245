-- Argo CD health check for ReleasePassport (resource.customizations.health.releasepassport.io_ReleasePassport).
-- Allow -> Healthy, Hold -> Progressing, Block -> Degraded; no decision yet -> Progressing.
local hs = {}
if obj.status == nil or obj.status.decision == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for a decision"
  return hs
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
local why = ""
if obj.status.reasons ~= nil and #obj.status.reasons > 0 then
  why = ": " .. obj.status.reasons[1]
elseif ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  why = ": " .. ready.message
end
local decision = obj.status.decision
if decision == "Allow" then
  hs.status = "Healthy"
  hs.message = "Allow" .. why
elseif decision == "Block" then
  hs.status = "Degraded"
  hs.message = "Block" .. why
else
  hs.status = "Progressing"
  hs.message = "Hold" .. why
end
return hs
