// Test OpenID provider for the asio-oidc integration tests.
//
// A REAL OpenID provider: panva's oidc-provider (OpenID Certified) does all the protocol work
// (discovery, JWKS, authorization code + PKCE, refresh with rotation, client credentials,
// device flow, introspection, revocation, userinfo, RP-initiated logout, client
// authentication incl. private_key_jwt and tls_client_auth). This file only configures it,
// adds the grants it leaves to the deployer through provider.registerGrantType (password,
// token exchange, jwt-bearer: built from the library's own token models), a headless login
// page, and test hooks under /test/ (stats, failure and delay injection, key rotation, device
// approval). It listens on 127.0.0.1 only.
//
// Endpoints follow Keycloak's layout: issuer https://127.0.0.1:PORT/auth/realms/eat_realm, the
// others under .../protocol/openid-connect/. See README.md for the environment, the clients and
// the exact HTTP steps of the headless flows.
//
// Usage: node server.mjs --state DIR   (DIR/pki holds the test PKI of scripts/make-certs.sh;
// the server writes DIR/provider.env and DIR/provider.json once it listens)

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { parseArgs, promisify } from 'node:util';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

// ---------------------------------------------------------------------------------------------
// Settings (environment)

const { values: args } = parseArgs({
  options: {
    state: { type: 'string' },
  },
});
const STATE_DIR = path.resolve(args.state ?? process.env.OIDC_TEST_STATE_DIR ?? '.');
const PKI_DIR = process.env.OIDC_TEST_PKI_DIR ?? path.join(STATE_DIR, 'pki');

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}
function envBool(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return !/^(0|false|no|off)$/i.test(raw);
}

const HOST = '127.0.0.1';
const PREFIX = '/auth/realms/eat_realm'; // Keycloak-style realm path: part of the issuer
const AT_TTL = envInt('OIDC_TEST_AT_TTL', 300);
const RT_TTL = envInt('OIDC_TEST_RT_TTL', 1800);
const ID_TTL = envInt('OIDC_TEST_ID_TTL', 300);
const DEVICE_TTL = envInt('OIDC_TEST_DEVICE_TTL', 600);
const CODE_TTL = envInt('OIDC_TEST_CODE_TTL', 60);
const RT_ROTATION = envBool('OIDC_TEST_RT_ROTATION', true);
// When set, access tokens of the code / device / refresh grants are JWTs for the API even when
// the scope has openid (then they are not usable at userinfo, as oidc-provider enforces).
const ALWAYS_JWT = envBool('OIDC_TEST_ALWAYS_JWT', false);
// token_type as the token endpoint spells it ("bearer" for Keycloak's spelling).
const TOKEN_TYPE = process.env.OIDC_TEST_TOKEN_TYPE || '';
// The algorithm of the provider's signing keys, ID tokens and JWT access tokens.
const SIGNING_ALG = process.env.OIDC_TEST_SIGNING_ALG || 'RS256';
// Fixed ports (inputs; OIDC_TEST_PORT / OIDC_TEST_HTTP_PORT in provider.env are outputs).
const HTTPS_PORT = envInt('OIDC_TEST_LISTEN_PORT', 0);
const HTTP_PORT = envInt('OIDC_TEST_LISTEN_HTTP_PORT', 0);
const PKJWT_JWKS = process.env.OIDC_TEST_PKJWT_JWKS || path.join(STATE_DIR, 'pkjwt.jwks.json');
const PKJWT_KEY = process.env.OIDC_TEST_PKJWT_KEY || path.join(STATE_DIR, 'pkjwt.key');

// The API (resource server) every JWT access token is for.
const RESOURCE = 'urn:asio-oidc:eat-api';
const AUDIENCE = 'eat-api';
const API_SCOPES = ['api:read', 'api:write'];
// Audiences a token exchange may ask for.
const EXCHANGE_AUDIENCES = new Set([AUDIENCE, 'eat-backend']);

const GRANT_PASSWORD = 'password';
const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GRANT_DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';

// Keycloak-style endpoint paths (relative to the issuer).
const ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  userinfo: '/protocol/openid-connect/userinfo',
  jwks: '/protocol/openid-connect/certs',
  introspection: '/protocol/openid-connect/token/introspect',
  revocation: '/protocol/openid-connect/revoke',
  end_session: '/protocol/openid-connect/logout',
  device_authorization: '/protocol/openid-connect/auth/device',
  code_verification: '/device',
  pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
};
const DISCOVERY_PATH = '/.well-known/openid-configuration';
const INTERACTION_PATH = '/login-actions';

// ---------------------------------------------------------------------------------------------
// Users and clients

const USERS = [
  {
    sub: '6f1c2a8e-5d4b-4c1a-9f3e-2b7d8c9e0a11',
    username: 'alice',
    password: 'alice-Pa55word',
    email: 'alice@example.test',
    email_verified: true,
    name: 'Alice Liddell',
    given_name: 'Alice',
    family_name: 'Liddell',
    roles: ['USER', 'ADMIN'],
  },
  {
    // A password that needs form-encoding (RFC 6749 appendix B).
    sub: '0c9d7e3b-8a2f-4e6d-b1c5-3a4f5e6d7c82',
    username: 'bob',
    password: 'b0b+pa55 w/rd=%&',
    email: 'bob@example.test',
    email_verified: false,
    name: 'Bob Builder',
    given_name: 'Bob',
    family_name: 'Builder',
    roles: ['USER'],
  },
];
const userByName = new Map(USERS.map((u) => [u.username, u]));
const userBySub = new Map(USERS.map((u) => [u.sub, u]));

function constantTimeEqual(a, b) {
  const x = crypto.createHash('sha256').update(String(a)).digest();
  const y = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(x, y);
}

function checkPassword(username, password) {
  const user = userByName.get(username);
  if (!user || !constantTimeEqual(user.password, password)) return undefined;
  return user;
}

async function findAccount(ctx, sub) {
  const user = userBySub.get(sub);
  if (!user) return undefined;
  return {
    accountId: user.sub,
    async claims() {
      return {
        sub: user.sub,
        preferred_username: user.username,
        email: user.email,
        email_verified: user.email_verified,
        name: user.name,
        given_name: user.given_name,
        family_name: user.family_name,
      };
    },
  };
}

const CLIENTS = {
  public: { id: 'ea-api-edge' },
  // client_secret_basic: the secret has characters that must be form-encoded (RFC 6749 2.3.1).
  basic: { id: 'eat-service-basic', secret: 'a+b/c=d %:x&y' },
  post: { id: 'eat-service-post', secret: 'post-Secret-0123456789' },
  pkjwt: { id: 'eat-service-pkjwt' },
  mtls: { id: 'eat-service-mtls', subject: 'CN=client' },
  web: {
    id: 'eat-web',
    secret: 'web-Secret-9876543210',
    redirect: 'http://127.0.0.1/callback',
    postLogout: 'http://127.0.0.1/logged-out',
  },
  device: { id: 'eat-device' },
};

const SERVICE_GRANTS = [
  'client_credentials', GRANT_PASSWORD, 'refresh_token', GRANT_TOKEN_EXCHANGE, GRANT_JWT_BEARER,
];

function readPkjwtJwks() {
  try {
    const jwks = JSON.parse(fs.readFileSync(PKJWT_JWKS, 'utf8'));
    // Only public members go to the provider.
    return {
      keys: jwks.keys.map((k) => Object.fromEntries(Object.entries(k)
        .filter(([name]) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].includes(name)))),
    };
  } catch (err) {
    console.error(`private_key_jwt client disabled: cannot read ${PKJWT_JWKS}: ${err.message}`);
    return undefined;
  }
}

function clientList(pkjwtJwks) {
  const list = [
    {
      client_id: CLIENTS.public.id,
      token_endpoint_auth_method: 'none',
      grant_types: [GRANT_PASSWORD, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: CLIENTS.basic.id,
      client_secret: CLIENTS.basic.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: SERVICE_GRANTS,
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: CLIENTS.post.id,
      client_secret: CLIENTS.post.secret,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: SERVICE_GRANTS,
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: CLIENTS.mtls.id,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: CLIENTS.mtls.subject,
      grant_types: SERVICE_GRANTS,
      response_types: [],
      redirect_uris: [],
    },
    {
      // native: RFC 8252 loopback redirects (http://127.0.0.1 with any port) are allowed.
      client_id: CLIENTS.web.id,
      client_secret: CLIENTS.web.secret,
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_basic',
      require_auth_time: true,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [CLIENTS.web.redirect],
      post_logout_redirect_uris: [CLIENTS.web.postLogout],
    },
    {
      client_id: CLIENTS.device.id,
      token_endpoint_auth_method: 'none',
      grant_types: [GRANT_DEVICE, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
  ];
  if (pkjwtJwks) {
    list.push({
      client_id: CLIENTS.pkjwt.id,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: pkjwtJwks,
      grant_types: SERVICE_GRANTS,
      response_types: [],
      redirect_uris: [],
    });
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Storage: an in-memory adapter without the size cap of oidc-provider's development adapter
// (the session and benchmark tests issue thousands of tokens). One store per issuer, so the
// provider instance can be rebuilt (key rotation, new client keys) without losing state.

const stores = new Map();
const MAX_ENTRIES = 500_000;

class Store {
  map = new Map(); // key -> { value, expiresAt }

  get(key) {
    const entry = this.map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, ttlSeconds) {
    if (this.map.size >= MAX_ENTRIES) this.sweep();
    if (this.map.size >= MAX_ENTRIES) throw new Error('test provider storage is full');
    const expiresAt = typeof ttlSeconds === 'number' ? Date.now() + ttlSeconds * 1000 : Infinity;
    this.map.set(key, { value, expiresAt });
  }

  delete(key) { this.map.delete(key); }

  sweep() {
    const now = Date.now();
    for (const [key, entry] of this.map) if (entry.expiresAt <= now) this.map.delete(key);
  }
}

function adapterFor(inst) {
  const { issuer } = inst;
  if (!stores.has(issuer)) stores.set(issuer, new Store());
  const store = stores.get(issuer);
  const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
    'BackchannelAuthenticationRequest', 'ClientCredentials']);

  return class Adapter {
    constructor(model) { this.model = model; }

    key(id) { return `${this.model}:${id}`; }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      store.set(key, payload, expiresIn);
      if (grantable.has(this.model) && payload.grantId) {
        const gkey = `grant:${payload.grantId}`;
        const members = store.get(gkey) ?? new Set();
        members.add(key);
        store.set(gkey, members, Math.max(expiresIn ?? 0, RT_TTL, 3600) + 60);
      }
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, id, expiresIn);
      if (this.model === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, id, expiresIn);
    }

    async find(id) { return store.get(this.key(id)); }

    async findByUserCode(userCode) {
      const id = store.get(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUid(uid) {
      const id = store.get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id) {
      const payload = store.get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) { store.delete(this.key(id)); }

    async revokeByGrantId(grantId) {
      const gkey = `grant:${grantId}`;
      for (const key of store.get(gkey) ?? []) store.delete(key);
      store.delete(gkey);
    }
  };
}
setInterval(() => { for (const store of stores.values()) store.sweep(); }, 30_000).unref();

// ---------------------------------------------------------------------------------------------
// Signing keys

// Asynchronous (libuv thread pool): key generation neither blocks requests nor serialises
// the start of the two instances.
const generateKeyPair = promisify(crypto.generateKeyPair);

// The key type for each signing algorithm OIDC_TEST_SIGNING_ALG may name.
const KEY_PARAMS = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  ES384: ['ec', { namedCurve: 'P-384' }],
  ES512: ['ec', { namedCurve: 'P-521' }],
  EdDSA: ['ed25519', {}],
};
const SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'];
if (!KEY_PARAMS[SIGNING_ALG]) {
  throw new Error(`OIDC_TEST_SIGNING_ALG must be one of ${Object.keys(KEY_PARAMS).join(', ')}`);
}

async function newSigningKey() {
  const [type, options] = KEY_PARAMS[SIGNING_ALG];
  const { privateKey } = await generateKeyPair(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = `${SIGNING_ALG.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`;
  return { ...jwk, kid, use: 'sig', alg: SIGNING_ALG };
}

const publicJwk = ({ kty, n, e, crv, x, y, kid, use, alg }) => Object.fromEntries(
  Object.entries({ kty, n, e, crv, x, y, kid, use, alg }).filter(([, v]) => v !== undefined),
);

// Cookie signing keys: stable for the process, so sessions survive a provider rebuild.
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

// ---------------------------------------------------------------------------------------------
// Test hook state, one per listener (HTTPS and HTTP instances are independent).

function routeOf(p) {
  if (p === DISCOVERY_PATH) return 'discovery';
  for (const [name, route] of Object.entries(ROUTES)) if (p === route) return name;
  return undefined;
}

function newStats() {
  return { token: { total: 0, grant_types: {}, status: {} }, endpoints: {} };
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// ---------------------------------------------------------------------------------------------
// The provider: one instance per listener; rebuilt (same issuer and storage) on key rotation.

class Instance {
  constructor(scheme, port, key) {
    this.scheme = scheme;
    this.origin = `${scheme}://${HOST}:${port}`;
    this.issuer = `${this.origin}${PREFIX}`;
    this.keys = [key];
    this.stats = newStats();
    this.failures = new Map(); // route -> { status, count, error, close, body, contentType }
    this.delays = new Map(); // route -> ms
    this.headers = new Map(); // route -> Map(name -> value), added to its answers
    this.pkjwtMtime = 0;
    this.build();
  }

  publicJwks() { return { keys: this.keys.map(publicJwk) }; }

  // Rebuild when the private_key_jwt client's JWKS file changed (the tests may write a new one).
  maybeReloadClients() {
    let mtime = 0;
    try { mtime = fs.statSync(PKJWT_JWKS).mtimeMs; } catch { /* absent */ }
    if (mtime !== this.pkjwtMtime) this.build();
  }

  build() {
    try { this.pkjwtMtime = fs.statSync(PKJWT_JWKS).mtimeMs; } catch { this.pkjwtMtime = 0; }
    const provider = new Provider(this.issuer, configuration(this, readPkjwtJwks()));
    provider.on('server_error', (ctx, err) => console.error('server_error', err));
    registerGrants(provider, this);
    provider.use(testMiddleware(this));
    provider.use(interactionMiddleware(provider));
    this.provider = provider;
    this.callback = provider.callback();
  }

  // Request entry point for paths under PREFIX: mount oidc-provider at the realm path.
  handle(req, res) {
    this.maybeReloadClients();
    req.originalUrl = req.url;
    req.url = req.url.slice(PREFIX.length) || '/';
    this.callback(req, res);
  }
}

function configuration(inst, pkjwtJwks) {
  return {
    adapter: adapterFor(inst),
    clients: clientList(pkjwtJwks),
    // oidc-provider enables a short list by default; the tests may sign client assertions
    // with any of these, and OIDC_TEST_SIGNING_ALG may be any of the signing ones.
    enabledJWA: {
      clientAuthSigningAlgValues: ['HS256', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
        'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'],
      idTokenSigningAlgValues: SIGNING_ALGS,
      userinfoSigningAlgValues: SIGNING_ALGS,
      introspectionSigningAlgValues: SIGNING_ALGS,
      authorizationSigningAlgValues: SIGNING_ALGS,
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: SIGNING_ALG,
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    jwks: { keys: inst.keys },
    findAccount,
    cookies: { keys: COOKIE_KEYS },
    routes: ROUTES,
    scopes: ['openid', 'offline_access', 'profile', 'email', ...API_SCOPES],
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    clientAuthMethods: [
      'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none',
    ],
    pkce: { required: () => true }, // S256 is the only method oidc-provider accepts
    ttl: {
      AccessToken: AT_TTL,
      ClientCredentials: AT_TTL,
      AuthorizationCode: CODE_TTL,
      IdToken: ID_TTL,
      RefreshToken: RT_TTL,
      DeviceCode: DEVICE_TTL,
      Interaction: 600,
      Session: 3600,
      Grant: Math.max(RT_TTL, 3600) * 2,
    },
    // Keycloak issues a refresh token to every client allowed the refresh_token grant, without
    // asking for offline_access.
    issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Rotation: each use of a refresh token consumes it and issues a new one; a consumed one
    // is rejected (and its reuse revokes the grant, as oidc-provider does).
    rotateRefreshToken: () => RT_ROTATION,
    responseTypes: ['code'], // no implicit or hybrid flows
    interactions: {
      url: (ctx, interaction) => `${PREFIX}${INTERACTION_PATH}/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false }, // our own headless-friendly login below
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      pushedAuthorizationRequests: { enabled: true }, // RFC 9126, optional per request
      // RFC 9449: DPoP-bound tokens for clients that send proofs; every proof must carry a
      // server nonce, so a client meets the use_dpop_nonce challenge on its first request.
      dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      deviceFlow: {
        enabled: true, userCodeInputSource, userCodeConfirmSource, successSource,
      },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        getCertificate(ctx) {
          const cert = ctx.socket?.getPeerX509Certificate?.();
          return cert ?? undefined;
        },
        certificateAuthorized(ctx) { return ctx.socket?.authorized === true; },
        certificateSubjectMatches(ctx, property, expected) {
          const cert = ctx.socket?.getPeerX509Certificate?.();
          if (!cert || property !== 'tls_client_auth_subject_dn') return false;
          return cert.subject.split('\n').join(',') === expected;
        },
      },
      resourceIndicators: {
        enabled: true,
        // Every token is for the API unless a client asks otherwise.
        defaultResource: () => RESOURCE,
        useGrantedResource: (ctx, model) => ALWAYS_JWT || /password|jwt-bearer/.test(model.gty ?? ''),
        getResourceServerInfo(ctx, resource) {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: ['openid', 'profile', 'email', 'offline_access', ...API_SCOPES].join(' '),
            audience: AUDIENCE,
            accessTokenTTL: AT_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Keycloak's access tokens carry azp (the client) and typ "Bearer".
        // For a user, also the profile claims, realm roles and session_state, as in the
        // Keycloak token of the project's seed story.
        jwt(ctx, token, jwt) {
          jwt.payload.azp = token.clientId;
          jwt.payload.typ = 'Bearer';
          const user = token.accountId ? userBySub.get(token.accountId) : undefined;
          if (user) {
            Object.assign(jwt.payload, {
              preferred_username: user.username,
              email: user.email,
              email_verified: user.email_verified,
              name: user.name,
              given_name: user.given_name,
              family_name: user.family_name,
              realm_access: { roles: user.roles },
              ...(token.grantId ? { session_state: token.grantId } : {}),
            });
          }
          if (ctx?.oidcTestActor) jwt.payload.act = ctx.oidcTestActor;
        },
      },
    },
    // No stack traces or internals in error pages.
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

// The RP-initiated logout confirmation page. Headless clients read the xsrf value from the
// X-Test-Logout-Xsrf header (or the form) and POST it to .../logout/confirm with logout=yes.
async function logoutSource(ctx, form) {
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1];
  if (xsrf) ctx.set('X-Test-Logout-Xsrf', xsrf);
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><title>Logout</title></head><body>
${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
</body></html>`;
}

// Plain pages (the defaults load web fonts from the Internet) for the device verification and
// the end of a logout. The forms are oidc-provider's, with their xsrf fields.
function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>
<h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

async function userCodeInputSource(ctx, form, out, err) {
  const message = err ? 'The code is not valid: try again.' : 'Enter the code displayed on your device.';
  ctx.type = 'html';
  ctx.body = page('Device sign-in', `<p>${message}</p>
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

async function userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `<p>${escapeHtml(client.clientId)} shows the code <code>${escapeHtml(userCode)}</code>.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`);
}

async function successSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Sign-in success', '<p>You can close this page.</p>');
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<p>You are signed out.</p>');
}

// ---------------------------------------------------------------------------------------------
// Headless login (the interaction routes). GET shows a plain HTML form for a login prompt and
// grants consent automatically (like a Keycloak client without consent screen).

async function readBody(req, limit = 65536) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new errors.InvalidRequest('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readParams(req, url) {
  const params = Object.fromEntries(url.searchParams);
  if (req.method === 'POST') {
    const body = await readBody(req);
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('application/json') && body) {
      let json;
      try { json = JSON.parse(body); } catch { throw new errors.InvalidRequest('body is not valid JSON'); }
      if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new errors.InvalidRequest('body must be a JSON object');
      Object.assign(params, Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v)])));
    } else {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
    }
  }
  return params;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function interactionMiddleware(provider) {
  const pattern = new RegExp(`^${INTERACTION_PATH}/([A-Za-z0-9_-]+)(/login)?$`);
  return async (ctx, next) => {
    const match = pattern.exec(ctx.path);
    if (!match) return next();
    const [, uid, login] = match;
    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'interaction session not found or expired' };
      return undefined;
    }
    if (details.uid !== uid) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'interaction mismatch' };
      return undefined;
    }
    const { prompt, params, session } = details;

    if (login && ctx.method === 'POST') {
      const form = Object.fromEntries(new URLSearchParams(await readBody(ctx.req)));
      const user = checkPassword(form.username ?? '', form.password ?? '');
      if (!user) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage(uid, params.client_id, 'Invalid username or password.');
        return undefined;
      }
      ctx.respond = false;
      await provider.interactionFinished(ctx.req, ctx.res, {
        login: { accountId: user.sub, amr: ['pwd'] },
      }, { mergeWithLastSubmission: false });
      return undefined;
    }

    if (ctx.method !== 'GET') {
      ctx.status = 405;
      return undefined;
    }

    if (prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage(uid, params.client_id);
      return undefined;
    }

    if (prompt.name === 'consent') {
      const { details: missing } = prompt;
      let grant;
      if (details.grantId) {
        grant = await provider.Grant.find(details.grantId);
      } else {
        grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      }
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      ctx.respond = false;
      await provider.interactionFinished(ctx.req, ctx.res, {
        consent: details.grantId ? {} : { grantId },
      }, { mergeWithLastSubmission: true });
      return undefined;
    }

    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: `unsupported prompt ${prompt.name}` };
    return undefined;
  };
}

function loginPage(uid, clientId, message) {
  return `<!DOCTYPE html><html><head><title>Sign in</title></head><body>
<h1>Sign in to eat_realm</h1><p>Client: ${escapeHtml(clientId)}</p>
${message ? `<p class="error">${escapeHtml(message)}</p>` : ''}
<form id="login" method="post" action="${PREFIX}${INTERACTION_PATH}/${escapeHtml(uid)}/login">
<input name="username" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form></body></html>`;
}

// ---------------------------------------------------------------------------------------------
// Grants the library leaves to the deployer, built from its own token models.

function scopeSet(raw) {
  return new Set(String(raw ?? '').split(' ').filter(Boolean));
}

function resourceServer(provider, audience = AUDIENCE) {
  return new provider.ResourceServer(RESOURCE, {
    scope: ['openid', 'profile', 'email', 'offline_access', ...API_SCOPES].join(' '),
    audience,
    accessTokenTTL: AT_TTL,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: SIGNING_ALG } },
  });
}

// Checks the requested scopes against the provider's scopes and the client's allow-list.
function requestedScopes(provider, ctx, fallback) {
  const scopes = scopeSet(ctx.oidc.params.scope ?? fallback);
  const known = new Set(['openid', 'offline_access', 'profile', 'email', ...API_SCOPES]);
  const allowed = ctx.oidc.client.scope ? scopeSet(ctx.oidc.client.scope) : known;
  for (const s of scopes) {
    if (!known.has(s) || !allowed.has(s)) throw new errors.InvalidScope('requested scope is not allowed', s);
  }
  return scopes;
}

// Issues what Keycloak issues for a user: a JWT access token for the API, a refresh token
// (when the client may refresh), an ID token when the scope has openid.
async function issueUserTokens(provider, ctx, user, scopes, gty, { refresh = true } = {}) {
  const { client } = ctx.oidc;
  const scope = [...scopes].join(' ');
  const account = await findAccount(ctx, user.sub);
  ctx.oidc.entity('Account', account);

  const grant = new provider.Grant({ accountId: user.sub, clientId: client.clientId });
  const oidcScopes = [...scopes].filter((s) => ['openid', 'offline_access', 'profile', 'email'].includes(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  if (scopes.size) grant.addResourceScope(RESOURCE, scope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({ accountId: user.sub, client, grantId, gty, scope });
  at.resourceServer = resourceServer(provider);
  at.scope = scope || undefined;
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  const now = Math.floor(Date.now() / 1000);
  let refreshToken;
  if (refresh && client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: user.sub, client, grantId, gty, scope, resource: RESOURCE, rotations: 0,
      authTime: now, amr: ['pwd'],
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken;
  if (scopes.has('openid')) {
    const claims = await account.claims('id_token', scope, {}, []);
    const token = new provider.IdToken(claims, { ctx });
    token.scope = oidcScopes.join(' ');
    token.mask = {};
    token.rejected = [];
    token.set('auth_time', now);
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = Object.fromEntries(Object.entries({
    access_token: accessToken,
    expires_in: at.expiration,
    refresh_token: refreshToken,
    id_token: idToken,
    token_type: 'Bearer',
    'not-before-policy': 0, // Keycloak's extra members
    session_state: grantId,
    scope: scope || undefined,
  }).filter(([, v]) => v !== undefined));
}

// Verifies a JWT this provider signed (any of its current keys); returns the payload.
async function verifyOwnJwt(inst, value) {
  const keyset = jose.createLocalJWKSet(inst.publicJwks());
  const { payload } = await jose.jwtVerify(value, keyset, { issuer: inst.issuer, algorithms: [SIGNING_ALG] });
  return payload;
}

function registerGrants(provider, inst) {
  // Resource Owner Password Credentials (RFC 6749 4.3), as Keycloak's direct access grants.
  provider.registerGrantType(GRANT_PASSWORD, async (ctx) => {
    const { username, password } = ctx.oidc.params;
    if (!username || !password) {
      throw new errors.InvalidRequest("missing required parameter 'username' or 'password'");
    }
    const user = checkPassword(username, password);
    if (!user) throw new errors.InvalidGrant('invalid user credentials');
    const scopes = requestedScopes(provider, ctx, 'profile email');
    await issueUserTokens(provider, ctx, user, scopes, GRANT_PASSWORD);
  }, ['username', 'password', 'scope']);

  // An access token of this provider given to the token exchange (opaque or JWT) -> its
  // subject (the user, or the client of a client_credentials token) and scope.
  async function resolveExchangeToken(value, type, what) {
    if (type !== TT_ACCESS && type !== TT_JWT) throw new errors.InvalidRequest(`unsupported ${what}_type`);
    if (value.split('.').length === 3) {
      try {
        const payload = await verifyOwnJwt(inst, value);
        return { sub: payload.sub, scope: payload.scope };
      } catch {
        throw new errors.InvalidGrant(`${what} is invalid or expired`);
      }
    }
    const token = await provider.AccessToken.find(value) ?? await provider.ClientCredentials.find(value);
    if (!token || token.isExpired) throw new errors.InvalidGrant(`${what} is invalid or expired`);
    return { sub: token.accountId ?? token.clientId, scope: token.scope };
  }

  // Token exchange (RFC 8693): a subject access token of this provider for a JWT access token
  // for the requested audience (eat-api or eat-backend), at most the subject's scope, with an
  // act claim naming the actor (actor_token's subject, else the calling client).
  provider.registerGrantType(GRANT_TOKEN_EXCHANGE, async (ctx) => {
    const p = ctx.oidc.params;
    if (!p.subject_token || !p.subject_token_type) {
      throw new errors.InvalidRequest("missing required parameter 'subject_token' or 'subject_token_type'");
    }
    if (p.requested_token_type && p.requested_token_type !== TT_ACCESS && p.requested_token_type !== TT_JWT) {
      throw new errors.InvalidRequest('unsupported requested_token_type');
    }
    if (!p.actor_token !== !p.actor_token_type) {
      throw new errors.InvalidRequest('actor_token and actor_token_type go together');
    }
    const subject = await resolveExchangeToken(p.subject_token, p.subject_token_type, 'subject_token');
    const user = userBySub.get(subject.sub);
    if (!user) throw new errors.InvalidGrant('subject_token has no user subject');
    const actor = p.actor_token
      ? await resolveExchangeToken(p.actor_token, p.actor_token_type, 'actor_token')
      : { sub: ctx.oidc.client.clientId };
    const audience = p.audience ?? AUDIENCE;
    if (!EXCHANGE_AUDIENCES.has(audience)) throw new errors.InvalidTarget('audience not allowed');
    if (p.resource && p.resource !== RESOURCE) throw new errors.InvalidTarget();
    // The new token never has more scope than the subject token.
    const scopes = p.scope ? requestedScopes(provider, ctx) : scopeSet(subject.scope);
    for (const s of scopes) if (!scopeSet(subject.scope).has(s)) throw new errors.InvalidScope('scope exceeds the subject token', s);

    const { client } = ctx.oidc;
    const at = new provider.AccessToken({ accountId: user.sub, client, gty: 'token-exchange', scope: [...scopes].join(' ') || undefined });
    at.resourceServer = resourceServer(provider, audience);
    ctx.oidcTestActor = { sub: actor.sub };
    ctx.oidc.entity('AccessToken', at);
    const value = await at.save();
    ctx.body = {
      access_token: value,
      issued_token_type: TT_ACCESS,
      token_type: 'Bearer',
      expires_in: at.expiration,
      ...(at.scope ? { scope: at.scope } : {}),
    };
  }, ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
    'requested_token_type', 'audience', 'resource', 'scope']);

  // JWT bearer assertion grant (RFC 7523 2.1): the assertion is signed by a key of the
  // private_key_jwt client's JWKS (the "trusted assertion issuer" of these tests), iss is
  // the calling client's id, sub a user name or sub, aud the issuer or the token endpoint.
  provider.registerGrantType(GRANT_JWT_BEARER, async (ctx) => {
    const { assertion } = ctx.oidc.params;
    if (!assertion) throw new errors.InvalidRequest("missing required parameter 'assertion'");
    const jwks = readPkjwtJwks();
    if (!jwks) throw new errors.InvalidGrant('no trusted assertion keys');
    let payload;
    try {
      ({ payload } = await jose.jwtVerify(assertion, jose.createLocalJWKSet(jwks), {
        issuer: ctx.oidc.client.clientId,
        audience: [inst.issuer, `${inst.issuer}${ROUTES.token}`],
        requiredClaims: ['exp', 'sub'],
        algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
        maxTokenAge: '1h',
      }));
    } catch (err) {
      throw new errors.InvalidGrant(`assertion rejected: ${err.code ?? 'invalid'}`);
    }
    const user = userByName.get(payload.sub) ?? userBySub.get(payload.sub);
    if (!user) throw new errors.InvalidGrant('assertion subject unknown');
    const scopes = requestedScopes(provider, ctx, 'profile email');
    await issueUserTokens(provider, ctx, user, scopes, 'jwt-bearer', { refresh: false });
  }, ['assertion', 'scope']);
}

// ---------------------------------------------------------------------------------------------
// Test middleware inside oidc-provider: endpoint counters, failure and delay injection, and
// Keycloak's refresh_expires_in on token responses.

function testMiddleware(inst) {
  return async (ctx, next) => {
    const route = routeOf(ctx.path);
    if (route) inst.stats.endpoints[route] = (inst.stats.endpoints[route] ?? 0) + 1;
    const delay = inst.delays.get(route) ?? inst.delays.get('all');
    if (delay) await sleep(delay);

    const failure = inst.failures.get(route);
    if (failure && failure.count > 0) {
      failure.count -= 1;
      if (route === 'token') {
        let grantType = 'unknown';
        try { grantType = new URLSearchParams(await readBody(ctx.req)).get('grant_type') ?? 'unknown'; } catch { /* counted as unknown */ }
        countToken(inst, grantType, failure.close ? 'closed' : failure.status);
      }
      if (failure.close) {
        // The provider "goes down": the connection closes without an answer.
        ctx.respond = false;
        ctx.req.socket.destroy();
        return;
      }
      ctx.status = failure.status;
      ctx.set('Cache-Control', 'no-store');
      if (failure.status === 503) ctx.set('Retry-After', '1');
      if (failure.body !== undefined) {
        // A given raw body (malformed or oversized answers).
        ctx.type = failure.contentType;
        ctx.body = failure.body;
      } else {
        ctx.body = { error: failure.error, error_description: 'failure injected by the test provider' };
      }
      return;
    }

    await next();

    for (const r of [route, 'all']) for (const [name, value] of inst.headers.get(r) ?? []) ctx.set(name, value);

    if (route === 'token') {
      // Keycloak spells it "bearer" (token_type is case-insensitive, RFC 6749 7.1).
      if (TOKEN_TYPE && ctx.status === 200 && ctx.body?.token_type === 'Bearer') {
        ctx.body = { ...ctx.body, token_type: TOKEN_TYPE };
      }
      countToken(inst, ctx.oidc?.params?.grant_type ?? 'unknown', ctx.status);
      if (ctx.status === 200 && ctx.body?.refresh_token) {
        const rt = await ctx.oidc.provider.RefreshToken.find(ctx.body.refresh_token);
        if (rt?.exp) {
          ctx.body = { ...ctx.body, refresh_expires_in: Math.max(0, rt.exp - Math.floor(Date.now() / 1000)) };
        }
      } else if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        ctx.body = { ...ctx.body, refresh_expires_in: 0 };
      }
    }
  };
}

function countToken(inst, value, status) {
  // A duplicated grant_type parses as an array: counted as "invalid", as are odd values.
  const grantType = typeof value === 'string' && value.length <= 200 ? value : 'invalid';
  const t = inst.stats.token;
  t.total += 1;
  t.grant_types[grantType] = (t.grant_types[grantType] ?? 0) + 1;
  t.status[status] = (t.status[status] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------
// Test hooks under /test/ (outside the issuer path).

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), 'Cache-Control': 'no-store',
  });
  res.end(data);
}

const HOOK_ROUTES = new Set(['token', 'jwks', 'discovery', 'userinfo', 'introspection', 'revocation',
  'device_authorization', 'end_session', 'authorization', 'all']);

async function approveDevice(inst, params) {
  const { provider } = inst;
  const userCode = String(params.user_code ?? '').toUpperCase().replace(/\W/g, '');
  if (!userCode) return [400, { error: 'invalid_request', error_description: 'user_code is required' }];
  const code = await provider.DeviceCode.findByUserCode(userCode);
  if (!code) return [404, { error: 'not_found', error_description: 'unknown or expired user_code' }];
  if (code.accountId || code.error) return [409, { error: 'already_used', error_description: 'user_code already handled' }];
  if (/^(1|true|yes)$/i.test(params.deny ?? '')) {
    Object.assign(code, { error: 'access_denied', errorDescription: 'End-User denied the request' });
    await code.save();
    return [200, { denied: true }];
  }
  const user = userByName.get(params.username ?? 'alice');
  if (!user) return [400, { error: 'invalid_request', error_description: 'unknown username' }];
  const requested = scopeSet(code.params?.scope);
  const grant = new provider.Grant({ accountId: user.sub, clientId: code.clientId });
  const oidcScopes = [...requested].filter((s) => ['openid', 'offline_access', 'profile', 'email'].includes(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  if (requested.size) grant.addResourceScope(RESOURCE, [...requested].join(' '));
  const grantId = await grant.save();
  Object.assign(code, {
    accountId: user.sub,
    authTime: Math.floor(Date.now() / 1000),
    amr: ['pwd'],
    grantId,
    scope: [...requested].join(' '),
    resource: RESOURCE,
  });
  await code.save();
  return [200, { approved: true, username: user.username }];
}

async function handleTestHook(inst, req, res, url) {
  const params = await readParams(req, url);
  const p = url.pathname;
  const post = req.method === 'POST';
  const route = params.route ?? params.endpoint ?? 'token';
  if (!HOOK_ROUTES.has(route)) return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown route' });

  if (p === '/test/health') return sendJson(res, 200, { ok: true, issuer: inst.issuer });
  if (p === '/test/stats' && req.method === 'GET') return sendJson(res, 200, inst.stats);
  if (p === '/test/stats/reset' && post) {
    inst.stats = newStats();
    return sendJson(res, 200, inst.stats);
  }
  if (p === '/test/fail' && post) {
    // body=RAW or size=N: answer that raw body (N bytes of JSON padding) instead of an error.
    const size = params.size === undefined ? undefined : Number.parseInt(params.size, 10);
    const raw = params.body !== undefined || size !== undefined;
    const status = Number.parseInt(params.status ?? (raw ? '200' : '500'), 10);
    const count = Number.parseInt(params.count ?? '1', 10);
    if (!(status >= (raw ? 200 : 400) && status <= 599) || !(count >= 0 && count <= 1_000_000)
        || (size !== undefined && !(size >= 0 && size <= 64 * 1024 * 1024))) {
      return sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'status must be 400..599 (200..599 with body or size), count 0..1000000, size 0..64 MiB',
      });
    }
    const error = params.error ?? (status === 503 ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request');
    const close = /^(1|true|yes)$/i.test(params.close ?? '');
    let body;
    if (size !== undefined) {
      const head = '{"keys":[],"padding":"';
      body = Buffer.from(`${head}${'x'.repeat(Math.max(0, size - head.length - 2))}"}`.slice(0, Math.max(size, 0)));
    } else if (params.body !== undefined) {
      body = params.body;
    }
    const contentType = params.content_type ?? 'application/json';
    inst.failures.set(route, { status, count, error, close, body, contentType });
    return sendJson(res, 200, { route, status, count, error, close, ...(body !== undefined ? { body_bytes: Buffer.byteLength(body) } : {}) });
  }
  if (p === '/test/delay' && post) {
    const ms = Number.parseInt(params.ms ?? '0', 10);
    if (!(ms >= 0 && ms <= 60_000)) return sendJson(res, 400, { error: 'invalid_request', error_description: 'ms must be 0..60000' });
    if (ms === 0) inst.delays.delete(route); else inst.delays.set(route, ms);
    return sendJson(res, 200, { route, ms });
  }
  if (p === '/test/header' && post) {
    const name = params.name ?? '';
    const value = params.value ?? '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(value)) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'bad header name or value' });
    }
    if (!inst.headers.has(route)) inst.headers.set(route, new Map());
    if (value === '') inst.headers.get(route).delete(name); else inst.headers.get(route).set(name, value);
    return sendJson(res, 200, { route, headers: Object.fromEntries(inst.headers.get(route)) });
  }
  if (p === '/test/reset' && post) {
    inst.failures.clear();
    inst.delays.clear();
    inst.headers.clear();
    inst.stats = newStats();
    return sendJson(res, 200, { ok: true });
  }
  if (p === '/test/rotate-keys' && post) {
    // keep=1 (default): the new key signs, the old ones stay in the JWKS for verification.
    // keep=0: the old keys are dropped (tokens they signed no longer verify).
    const keep = !/^(0|false|no)$/i.test(params.keep ?? '1');
    const previous = inst.keys.map((k) => k.kid);
    const key = await newSigningKey();
    inst.keys = keep ? [key, ...inst.keys] : [key];
    inst.build();
    return sendJson(res, 200, { kid: key.kid, kids: inst.keys.map((k) => k.kid), dropped: keep ? [] : previous });
  }
  if (p === '/test/device/approve' && post) {
    const [status, body] = await approveDevice(inst, params);
    return sendJson(res, status, body);
  }
  return sendJson(res, 404, { error: 'not_found' });
}

// ---------------------------------------------------------------------------------------------
// Listeners

function requestHandler(getInstance) {
  return (req, res) => {
    const inst = getInstance();
    if (!inst) {
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
      return;
    }
    let url;
    try {
      url = new URL(req.url, inst.origin);
    } catch {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'malformed request target' });
      return;
    }
    if (url.pathname === PREFIX || url.pathname.startsWith(`${PREFIX}/`)) {
      inst.handle(req, res);
    } else if (url.pathname.startsWith('/test/')) {
      handleTestHook(inst, req, res, url).catch((err) => {
        sendJson(res, err.statusCode ?? 500, { error: err.error ?? 'server_error', error_description: err.error_description ?? err.message });
      });
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  };
}

function listen(server, port, host = HOST) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

// The same instance on [::1] and the same port, when the machine has IPv6 loopback and the
// port is free there too (the issuer stays the 127.0.0.1 one).
async function listenIpv6(handler, tls, port) {
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  try {
    await listen(server, port, '::1');
    return server;
  } catch {
    return undefined;
  }
}

// Writes the private_key_jwt client's JWKS from its PEM key when the JWKS file is absent.
function ensurePkjwtJwks() {
  if (fs.existsSync(PKJWT_JWKS) || !fs.existsSync(PKJWT_KEY)) return undefined;
  const pub = crypto.createPublicKey(fs.readFileSync(PKJWT_KEY)).export({ format: 'jwk' });
  const alg = pub.kty === 'EC' ? 'ES256' : 'RS256';
  const jwk = { ...pub, kid: 'pkjwt-default', use: 'sig', alg };
  fs.writeFileSync(PKJWT_JWKS, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  return jwk.kid;
}

function writeEnvFiles(httpsInst, httpInst, ipv6) {
  let kid;
  try { kid = JSON.parse(fs.readFileSync(PKJWT_JWKS, 'utf8')).keys[0]?.kid; } catch { /* none */ }
  const iss = httpsInst.issuer;
  const env = {
    OIDC_TEST_ISSUER: iss,
    OIDC_TEST_PORT: new URL(httpsInst.origin).port,
    OIDC_TEST_BASE_URL: httpsInst.origin,
    OIDC_TEST_HTTP_ISSUER: httpInst.issuer,
    OIDC_TEST_HTTP_PORT: new URL(httpInst.origin).port,
    OIDC_TEST_HTTP_BASE_URL: httpInst.origin,
    // Same listeners on [::1] (empty when IPv6 loopback is not available).
    OIDC_TEST_IPV6_BASE_URL: ipv6.https ? `https://[::1]:${new URL(httpsInst.origin).port}` : '',
    OIDC_TEST_IPV6_HTTP_BASE_URL: ipv6.http ? `http://[::1]:${new URL(httpInst.origin).port}` : '',
    OIDC_TEST_DISCOVERY_URL: `${iss}${DISCOVERY_PATH}`,
    OIDC_TEST_TOKEN_ENDPOINT: `${iss}${ROUTES.token}`,
    OIDC_TEST_JWKS_URI: `${iss}${ROUTES.jwks}`,
    OIDC_TEST_CA: path.join(PKI_DIR, 'ca.pem'),
    OIDC_TEST_CLIENT_CERT: path.join(PKI_DIR, 'client.pem'),
    OIDC_TEST_CLIENT_KEY: path.join(PKI_DIR, 'client.key'),
    OIDC_TEST_AUDIENCE: AUDIENCE,
    OIDC_TEST_RESOURCE: RESOURCE,
    OIDC_TEST_PUBLIC_CLIENT_ID: CLIENTS.public.id,
    OIDC_TEST_BASIC_CLIENT_ID: CLIENTS.basic.id,
    OIDC_TEST_BASIC_CLIENT_SECRET: CLIENTS.basic.secret,
    OIDC_TEST_POST_CLIENT_ID: CLIENTS.post.id,
    OIDC_TEST_POST_CLIENT_SECRET: CLIENTS.post.secret,
    OIDC_TEST_PKJWT_CLIENT_ID: CLIENTS.pkjwt.id,
    OIDC_TEST_PKJWT_JWKS: PKJWT_JWKS,
    OIDC_TEST_PKJWT_KEY: PKJWT_KEY,
    OIDC_TEST_PKJWT_KID: kid ?? '',
    OIDC_TEST_MTLS_CLIENT_ID: CLIENTS.mtls.id,
    OIDC_TEST_MTLS_SUBJECT_DN: CLIENTS.mtls.subject,
    OIDC_TEST_WEB_CLIENT_ID: CLIENTS.web.id,
    OIDC_TEST_WEB_CLIENT_SECRET: CLIENTS.web.secret,
    OIDC_TEST_WEB_REDIRECT_URI: CLIENTS.web.redirect,
    OIDC_TEST_WEB_POST_LOGOUT_URI: CLIENTS.web.postLogout,
    OIDC_TEST_DEVICE_CLIENT_ID: CLIENTS.device.id,
    OIDC_TEST_USER: USERS[0].username,
    OIDC_TEST_PASSWORD: USERS[0].password,
    OIDC_TEST_USER_SUB: USERS[0].sub,
    OIDC_TEST_USER_EMAIL: USERS[0].email,
    OIDC_TEST_USER_NAME: USERS[0].name,
    OIDC_TEST_USER2: USERS[1].username,
    OIDC_TEST_PASSWORD2: USERS[1].password,
    OIDC_TEST_USER2_SUB: USERS[1].sub,
    OIDC_TEST_AT_TTL: AT_TTL,
    OIDC_TEST_RT_TTL: RT_TTL,
    OIDC_TEST_ID_TTL: ID_TTL,
    OIDC_TEST_DEVICE_TTL: DEVICE_TTL,
    OIDC_TEST_RT_ROTATION: RT_ROTATION ? 1 : 0,
    OIDC_TEST_SIGNING_ALG: SIGNING_ALG,
    OIDC_TEST_PID: process.pid,
  };
  // KEY=VALUE lines, the value is everything after the first '=' (not shell-quoted).
  const text = `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
  const write = (name, data) => {
    const tmp = path.join(STATE_DIR, `.${name}.tmp`);
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, path.join(STATE_DIR, name));
  };
  write('provider.json', `${JSON.stringify(env, null, 2)}\n`);
  write('provider.env', text);
}

async function main() {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  ensurePkjwtJwks();
  const tls = {
    key: fs.readFileSync(path.join(PKI_DIR, 'server.key')),
    cert: fs.readFileSync(path.join(PKI_DIR, 'server.pem')),
    ca: fs.readFileSync(path.join(PKI_DIR, 'ca.pem')),
    // Ask for a client certificate (tls_client_auth) but let clients without one through;
    // oidc-provider checks socket.authorized for the mTLS client.
    requestCert: true,
    rejectUnauthorized: false,
  };
  let httpsInst;
  let httpInst;
  const httpsServer = https.createServer(tls, requestHandler(() => httpsInst));
  const httpServer = http.createServer(requestHandler(() => httpInst));
  for (const s of [httpsServer, httpServer]) {
    s.keepAliveTimeout = 30_000;
    s.headersTimeout = 20_000;
    s.requestTimeout = 30_000;
    s.maxConnections = 4096;
  }
  const [port, httpPort, key, httpKey] = await Promise.all([
    listen(httpsServer, HTTPS_PORT), listen(httpServer, HTTP_PORT), newSigningKey(), newSigningKey(),
  ]);
  httpsInst = new Instance('https', port, key);
  httpInst = new Instance('http', httpPort, httpKey);
  const httpsServer6 = await listenIpv6(requestHandler(() => httpsInst), tls, port);
  const httpServer6 = await listenIpv6(requestHandler(() => httpInst), undefined, httpPort);
  writeEnvFiles(httpsInst, httpInst, { https: !!httpsServer6, http: !!httpServer6 });
  console.log(`test provider: issuer ${httpsInst.issuer} and ${httpInst.issuer} (pid ${process.pid})`);

  const servers = [httpsServer, httpServer, httpsServer6, httpServer6].filter(Boolean);
  const stop = () => {
    for (const server of servers) {
      server.close();
      server.closeAllConnections?.();
    }
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// A test server that stays up: a bug in a handler is logged, not fatal to the other tests.
process.on('uncaughtException', (err) => console.error('uncaught exception:', err));
process.on('unhandledRejection', (err) => console.error('unhandled rejection:', err));

main().catch((err) => {
  console.error(`test provider failed to start: ${err.stack ?? err}`);
  process.exit(1);
});
