-- Argo CD health check for hoist.dev/PromotionManifest and hoist.dev/SignatureReplication
-- (both write the same kstatus conditions).
--
-- Install it in argocd-cm (see README.md next to this file):
--   resource.customizations.health.hoist.dev_PromotionManifest: |
--     <this file>
--
-- Reads the kstatus conditions the controller writes (Ready, Reconciling, Stalled):
--   Suspended    spec.suspend is true
--   Progressing  no status yet, status.observedGeneration behind metadata.generation,
--                Reconciling=True (a run is going on), or Ready Unknown / False with an
--                in-progress reason
--   Degraded     Stalled=True (fix the spec, a Secret or a registry), or Ready=False with a
--                failure reason (also while the controller retries it with backoff)
--   Healthy      Ready=True for the current generation
-- Written for Argo CD's Lua 5.1 runtime (gopher-lua); tested with lua5.4 as well.
local hs = {}

local function condition(status, kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  elseif message ~= "" then
    return message
  elseif reason ~= "" then
    return reason
  end
  return fallback
end

-- Ready=False reasons that mean "not done yet" rather than "went wrong".
local inProgressReasons = {
  Progressing = true,
  Reconciling = true,
  Pending = true,
  Waiting = true,
  Initializing = true,
}

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended (spec.suspend: true)"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report status"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

-- A failed run that the controller retries with backoff keeps Reconciling=True
-- (ProgressingWithRetry) next to Ready=False: the failure is what people need to see.
local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "False" and ready.reason ~= nil and not inProgressReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
