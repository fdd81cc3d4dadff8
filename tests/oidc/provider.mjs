// A real OpenID Provider for the single sign-on tests: the certified `oidc-provider` package,
// listening on loopback at a port the system chooses, with the clients and people it is given.
//
//   node provider.mjs --clients '<json>' --accounts '<json>' --ready-file <path>
//
// --clients:  [{"client_id", "client_secret", "redirect_uris": [...]}, ...]
// --accounts: [{"login", "password", "sub", "email", "email_verified", "name", "groups"}, ...]
// --ready-file: once it listens, the provider writes {"issuer": "http://127.0.0.1:<port>"} there.
//
// Sign-in is a plain HTML form a test drives with HTTP alone: GET /interaction/<uid> shows it,
// POST /interaction/<uid>/login checks the login (or email) and password, GET
// /interaction/<uid>/abort refuses (the client gets error=access_denied). Consent is granted for
// the requested scopes (an organisation's own, admin-approved application), so a sign-in is:
// authorize -> login form -> redirect back with the code. PKCE (S256) is required of every client.
// Signing keys are made at start (RS256 and ES256), so no key outlives the process.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: process.env.OIDC_CLIENTS ?? '[]' },
    accounts: { type: 'string', default: process.env.OIDC_ACCOUNTS ?? '[]' },
    'ready-file': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});

const clients = JSON.parse(args.clients).map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));
const accounts = JSON.parse(args.accounts);
const bySub = new Map(accounts.map((a) => [a.sub, a]));

function signingKey(kind, alg) {
  const options = kind === 'rsa' ? { modulusLength: 2048 } : { namedCurve: 'P-256' };
  const { privateKey } = generateKeyPairSync(kind, options);
  const kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const safe = (s) => String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>
${error ? `<p class="error">${safe(error)}</p>` : ''}
<form method="post" action="/interaction/${safe(uid)}/login">
  <input name="login" autocomplete="username" required>
  <input name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<a href="/interaction/${safe(uid)}/abort">Cancel</a>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function findLogin(login) {
  const wanted = String(login ?? '').trim().toLowerCase();
  return accounts.find((a) => a.login === wanted || a.email?.toLowerCase() === wanted);
}

const server = createServer();
server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  const issuer = `http://${args.host}:${port}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey('rsa', 'RS256'), signingKey('ec', 'ES256')] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: {
      AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Grant: 3600,
      Session: 3600,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const account = bySub.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          const { login, password, ...claims } = account;
          return claims;
        },
      };
    },
    // The organisation approved its own application: the requested scopes are granted.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/.exec(ctx.path);
    if (!match) return next();
    const [, uid, action] = match;
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
    ctx.set('Cache-Control', 'no-store');
    if (!action && ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = loginPage(uid);
      return undefined;
    }
    let result;
    if (action === '/abort' && ctx.method === 'GET') {
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else if (action === '/login' && ctx.method === 'POST') {
      const form = await readForm(ctx.req);
      const account = findLogin(form.get('login'));
      if (!account || account.password !== form.get('password')) {
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(uid, 'Wrong login or password');
        return undefined;
      }
      result = { login: { accountId: account.sub } };
    } else {
      ctx.throw(405);
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    ctx.status = 303;
    ctx.redirect(to);
    return undefined;
  });

  const handle = provider.callback();
  server.on('request', handle);
  if (args['ready-file']) writeFileSync(args['ready-file'], JSON.stringify({ issuer }));
  console.log(`oidc-provider listening at ${issuer} with ${clients.length} client(s)`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
