// OAuth2/OIDC provider stand-in for the Authgate tests (oauth2-mock-server 8.2.3).
//
// Usage: node infra/node/oauth2-mock.mjs PORT      (listens on 127.0.0.1:PORT only)
//
// Endpoints (issuer = http://127.0.0.1:PORT): /.well-known/openid-configuration, /authorize,
// /token, /userinfo, /jwks. /authorize shows no login page: it redirects straight back to
// redirect_uri with ?code=…&state=… (PKCE S256/plain is checked at /token).
//
// Choosing the user (per authorization code, so parallel tests don't interfere): add query
// parameters to the authorize URL before "visiting" it:
//   login_hint=<email>        the user's email (default johndoe@example.com)
//   mock_sub=<id>             the provider's user id (default "sub-" + email)
//   mock_name=<name>          display name (default: local part of the email)
//   mock_email_verified=false report the email as unverified (default true)
//   mock_no_email=1           send no email claim at all
// Userinfo returns {sub, email, email_verified, name, preferred_username, picture}; the id_token
// and access token carry the same claims. `picture` points at GET /avatar/… (a 1x1 PNG).
//
// Stricter than the plain library (like real providers): a code is single-use and must have been
// issued here; the token request's redirect_uri (and client_id, when the authorize request had
// one) must match the authorize request, and a code_verifier is required when the authorize
// request sent a code_challenge; else 400 {"error":"invalid_grant","error_description":…}.
// /userinfo answers 401 without an "Authorization: Bearer <access token issued here>" header.
//
// Counters: GET /__mock/stats[?login_hint=<email>] ->
//   {"authorize":n,"token":n,"tokenOk":n,"userinfo":n,"userinfoOk":n}
// for that email's codes/tokens only (use a unique email per test), or for all requests without
// the parameter. token = every POST /token naming that email's code (rejected ones included),
// tokenOk = tokens issued, userinfo/userinfoOk likewise (401s with no/unknown bearer count only
// globally). POST /__mock/reset clears everything (avoid it in parallel tests).
import { createServer } from 'node:http';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

const codes = new Map(); // code -> { user, key, redirectUri, clientId, pkce, used }
const tokens = new Map(); // access token -> user
const stats = new Map(); // email ('*' = all requests) -> counters
const zero = () => ({ authorize: 0, token: 0, tokenOk: 0, userinfo: 0, userinfoOk: 0 });
const bump = (email, key) => {
  for (const k of email === undefined ? ['*'] : ['*', email]) {
    const s = stats.get(k) ?? zero();
    s[key] += 1;
    stats.set(k, s);
  }
};

service.on('beforeAuthorizeRedirect', ({ url }, req) => {
  const q = new URL(req.url, 'http://x').searchParams;
  const code = url.searchParams.get('code');
  const email = q.get('login_hint') || 'johndoe@example.com';
  const user = {
    sub: q.get('mock_sub') || `sub-${email}`,
    email: q.get('mock_no_email') ? undefined : email,
    email_verified: q.get('mock_email_verified') !== 'false',
    name: q.get('mock_name') || email.split('@')[0],
    preferred_username: email.split('@')[0],
    picture: `${issuer.url}/avatar/${encodeURIComponent(email)}.png`,
  };
  bump(email, 'authorize');
  if (code) {
    codes.set(code, {
      user,
      key: email,
      redirectUri: q.get('redirect_uri'),
      clientId: q.get('client_id'),
      pkce: Boolean(q.get('code_challenge')),
      used: false,
    });
  }
});

// Claims of the chosen user go into both the access token and the id_token.
service.on('beforeTokenSigning', (token, req) => {
  const entry = codes.get(req.body?.code);
  if (entry) Object.assign(token.payload, entry.user);
});

service.on('beforeResponse', (response, req) => {
  const entry = codes.get(req.body?.code);
  if (entry && response.statusCode === 200) {
    tokens.set(response.body.access_token, entry);
    bump(entry.key, 'tokenOk');
  }
});

service.on('beforeUserinfo', (response, req) => {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const entry = m ? tokens.get(m[1]) : undefined;
  bump(entry?.key, 'userinfo');
  if (!entry) {
    response.statusCode = 401;
    response.body = { error: 'invalid_token', error_description: 'missing or unknown bearer token' };
    return;
  }
  bump(entry.key, 'userinfoOk');
  response.body = { ...entry.user };
});

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body === undefined ? '' : JSON.stringify(body));
};

// POST /token: the form body is read here (so that every request is counted, even ones the
// library rejects, and codes can be checked), then handed to the library as req.body (its body
// parsers skip an already-consumed request).
const token = async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString();
  const body = /json/i.test(req.headers['content-type'] ?? '')
    ? JSON.parse(raw || '{}')
    : Object.fromEntries(new URLSearchParams(raw));
  req.body = body;
  const entry = codes.get(body.code);
  bump(entry?.key, 'token');
  if (body.grant_type === 'authorization_code') {
    const auth = req.headers.authorization ?? '';
    const basicId = /^Basic /i.test(auth)
      ? decodeURIComponent(Buffer.from(auth.slice(6), 'base64').toString().split(':')[0])
      : undefined;
    const clientId = basicId ?? body.client_id;
    const why = !entry
      ? 'unknown code'
      : entry.used
        ? 'code already used'
        : body.redirect_uri !== entry.redirectUri
          ? 'redirect_uri mismatch'
          : entry.clientId && clientId !== entry.clientId
            ? 'client_id mismatch'
            : entry.pkce && !body.code_verifier
              ? 'code_verifier required'
              : undefined;
    if (entry) entry.used = true;
    if (why) return json(res, 400, { error: 'invalid_grant', error_description: why });
  }
  return handler(req, res);
};

const PNG_1X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
const handler = service.requestHandler;
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/__mock/stats' && req.method === 'GET') {
    return json(res, 200, stats.get(url.searchParams.get('login_hint') ?? '*') ?? zero());
  }
  if (url.pathname === '/__mock/reset' && req.method === 'POST') {
    codes.clear();
    tokens.clear();
    stats.clear();
    return json(res, 204);
  }
  if (url.pathname.startsWith('/avatar/') && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'image/png' });
    return res.end(PNG_1X1);
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    return token(req, res).catch((e) => json(res, 400, { error: 'invalid_request', error_description: String(e) }));
  }
  return handler(req, res);
});
server.listen(port, '127.0.0.1', () => {
  issuer.url = `http://127.0.0.1:${server.address().port}`;
  console.log(`oauth2-mock: listening on ${issuer.url}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
