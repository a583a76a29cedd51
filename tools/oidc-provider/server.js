// A real OpenID Connect provider on loopback for the gateway's browser tests.
//
// panva's oidc-provider (OpenID Certified) configured with the test clients and users that
// the test fixture writes to a JSON file: authorization code flow with PKCE (S256 required
// for every client), client_secret_basic at the token endpoint, ES256-signed ID tokens, and
// two custom claims released under the `gateway` scope: `roles` (professional /
// privacy-officer) and `practitioner_id` (uzi:...). The login page is a plain Dutch form;
// consent is granted automatically because the gateway is a first-party client of its
// organisation's IdP. Test data only: never run this as anyone's real IdP.
//
// Usage: node server.js CONFIG.json
//   {"port": 9000, "issuer": "http://127.0.0.1:9000",
//    "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//    "users": [{"username": "...", "password": "...", "name": "...", "roles": ["professional"],
//               "practitioner_id": "uzi:900000303"}]}

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const users = new Map(config.users.map((u) => [u.username, u]));

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris || [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  })),
  jwks: { keys: [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'gateway'],
  claims: { openid: ['sub'], profile: ['name'], gateway: ['roles', 'practitioner_id'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 300, IdToken: 300, AuthorizationCode: 60 },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: user.name, roles: user.roles, practitioner_id: user.practitioner_id };
      },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
const oidc = provider.callback();

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, uid, error) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    // no form-action: the login POST ends in a redirect to the client, which form-action would block
    'Content-Security-Policy': "default-src 'self'; script-src 'none'; frame-ancestors 'none'",
    'Cache-Control': 'no-store',
  });
  res.end(`<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Inloggen - test-IdP</title></head>
<body><main><h1>Inloggen bij de test-IdP</h1>
<p>Dit is een testomgeving met testgebruikers.</p>
${error ? `<div role="alert" id="fout"><p>${esc(error)}</p></div>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<p><label for="username">Gebruikersnaam</label><br><input id="username" name="username" autocomplete="username" required></p>
<p><label for="password">Wachtwoord</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Inloggen</button></p>
</form></main></body></html>`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 10000) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function samePassword(given, expected) {
  const a = crypto.createHash('sha256').update(String(given)).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return crypto.timingSafeEqual(a, b);
}

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (req.method === 'GET') return page(res, 200, uid);
    if (req.method === 'POST' && url.pathname.endsWith('/login')) {
      const form = await readForm(req);
      const user = users.get(form.get('username') || '');
      if (!user || !samePassword(form.get('password') || '', user.password)) {
        return page(res, 401, uid, 'Onbekende gebruikersnaam of onjuist wachtwoord.');
      }
      return provider.interactionFinished(req, res, { login: { accountId: user.username } },
        { mergeWithLastSubmission: false });
    }
  }
  if (prompt.name === 'consent') {
    // first-party client of this organisation: grant what it asked for, no consent screen
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('unexpected interaction');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, config.issuer);
  if (url.pathname.startsWith('/interaction/')) {
    interaction(req, res, url).catch((err) => {
      console.error('interaction error', err);
      if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Deze inlogpoging is verlopen of ongeldig. Begin opnieuw bij de toepassing.');
    });
    return;
  }
  oidc(req, res);
});
server.listen(config.port, '127.0.0.1', () => console.log(`oidc-provider listening on ${config.issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
