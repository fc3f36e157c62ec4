// A real OpenID Connect provider (the certified `oidc-provider`) for tests/test_identity_oidc.py.
//
// Environment: OIDC_PORT (listen on 127.0.0.1), OIDC_CLIENTS (a JSON array of client
// metadata: client_id, client_secret, redirect_uris).
//
// Logging in needs no form: the interaction signs in the account named by the
// authorization request's `login_hint` (default "alice") and consent is granted at once,
// so a test follows the redirects with an HTTP client.
//
// Test controls (POST, JSON bodies):
//   /_test/accounts  {"<id>": {claims}}  the claims of accounts (sub is the id)
//   /_test/rotate    {}                  a new signing key (the old one is gone)
//   /_test/tamper    {aud?, exp?, nonce?, at_hash?}  the next ID token the token endpoint
//                                         issues is re-signed, with the provider's current
//                                         key, with these claims changed (exp: seconds from
//                                         now; at_hash "$correct": the access token's)
// Prints {"event": "ready"} once it listens.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');

let accounts = {};
let tamper = null;
let signing = null;
let provider = null;

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { jwk: { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' }, privateKey };
}

function claimsOf(id) {
  return {
    sub: id,
    email: `${id}@example.org`,
    email_verified: true,
    preferred_username: id,
    name: id,
    ...(accounts[id] || {}),
  };
}

function build() {
  const built = new Provider(issuer, {
    clients,
    jwks: { keys: [signing.jwk] },
    cookies: { keys: ['stridegraph-test-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
    },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  built.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && tamper && ctx.body?.id_token) {
      const changes = tamper;
      tamper = null;
      const payload = jose.decodeJwt(ctx.body.id_token);
      if (changes.aud !== undefined) payload.aud = changes.aud;
      if (changes.nonce !== undefined) payload.nonce = changes.nonce;
      if (changes.at_hash === '$correct') {
        const digest = createHash('sha256').update(ctx.body.access_token).digest();
        payload.at_hash = digest.subarray(0, 16).toString('base64url');
      } else if (changes.at_hash !== undefined) payload.at_hash = changes.at_hash;
      if (changes.exp !== undefined) {
        payload.exp = Math.floor(Date.now() / 1000) + changes.exp;
        payload.iat = payload.exp - 3600;
      }
      ctx.body = {
        ...ctx.body,
        id_token: await new jose.SignJWT(payload)
          .setProtectedHeader({ alg: 'RS256', kid: signing.jwk.kid, typ: 'JWT' })
          .sign(signing.privateKey),
      };
    }
  });
  return built;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try { resolve(body ? JSON.parse(body) : {}); } catch (err) { reject(err); }
    });
  });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const accountId = details.params.login_hint || 'alice';
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function control(req, res, path) {
  const body = await readJson(req);
  if (path === '/_test/accounts') accounts = { ...accounts, ...body };
  else if (path === '/_test/tamper') tamper = body;
  else if (path === '/_test/rotate') {
    signing = await newKey();
    provider = build();
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: signing.jwk.kid }));
}

signing = await newKey();
provider = build();

const server = http.createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  const handle = async () => {
    if (path.startsWith('/_test/') && req.method === 'POST') return control(req, res, path);
    if (path.startsWith('/interaction/')) return interaction(req, res);
    return provider.callback()(req, res);
  };
  handle().catch((err) => {
    console.error(err);
    if (!res.headersSent) res.writeHead(500).end(String(err));
  });
});
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ event: 'ready', issuer })));
