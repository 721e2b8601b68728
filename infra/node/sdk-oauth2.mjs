// The official PocketBase JS SDK against Authgate: the OAuth2 "manual code" flow
// (listAuthMethods → provider authURL → code → authWithOAuth2Code) with the mock provider
// (infra/node/oauth2-mock.mjs). The script plays the browser: it visits the authorize URL without
// following the redirect and reads the code from Location. Exits non-zero on the first failed
// expectation.
//
// env: BASE_URL (Authgate), OAUTH2_URL (the mock), COLLECTION (default users),
//      REDIRECT_URL (must be on the collection's redirectURLs allow-list)
import PocketBase from 'pocketbase';

const base = process.env.BASE_URL;
const mock = process.env.OAUTH2_URL;
const collection = process.env.COLLECTION || 'users';
const redirect = process.env.REDIRECT_URL || 'https://app.example.test/oauth2-redirect';
if (!base || !mock) throw new Error('BASE_URL and OAUTH2_URL must be set');
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const pb = new PocketBase(base);
pb.autoCancellation(false);
const email = `sdk-oauth2-${Date.now()}-${Math.random().toString(36).slice(2)}@example.test`;

// One "browser" round trip: fresh auth methods, visit the provider, return what the app keeps.
async function authorize() {
  const methods = await pb.collection(collection).listAuthMethods();
  expect(methods.oauth2?.enabled === true, `oauth2 enabled: ${JSON.stringify(methods.oauth2)}`);
  const p = methods.oauth2.providers.find((x) => x.name === 'oidc');
  expect(p, `oidc provider listed: ${JSON.stringify(methods.oauth2.providers)}`);
  expect(p.codeChallengeMethod === 'S256' && p.codeVerifier.length === 43, 'PKCE S256 verifier');
  expect(p.authURL.startsWith(`${mock}/authorize?`) && p.authURL.endsWith('&redirect_uri='), `authURL ${p.authURL}`);
  const url = `${p.authURL}${encodeURIComponent(redirect)}&login_hint=${encodeURIComponent(email)}&mock_name=SDK%20Provider`;
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status === 302, `authorize status ${res.status}`);
  const back = new URL(res.headers.get('location'));
  expect(`${back.origin}${back.pathname}` === redirect, `redirected to ${back}`);
  expect(back.searchParams.get('state') === p.state, 'state round trip');
  return { code: back.searchParams.get('code'), verifier: p.codeVerifier };
}

let { code, verifier } = await authorize();
const first = await pb.collection(collection).authWithOAuth2Code('oidc', code, verifier, redirect, { name: 'SDK User' });
expect(pb.authStore.isValid && pb.authStore.record?.id === first.record.id, 'authStore holds the OAuth2 login');
expect(first.record.email === email && first.record.verified === true, `record ${JSON.stringify(first.record)}`);
expect(first.record.name === 'SDK User', 'createData applied on creation');
expect(first.meta?.isNew === true && first.meta?.email === email, `meta ${JSON.stringify(first.meta)}`);
expect(typeof first.meta?.accessToken === 'string' && first.meta.accessToken.length > 0, 'meta.accessToken');
expect(first.meta?.rawUser?.sub === `sub-${email}`, 'meta.rawUser');

({ code, verifier } = await authorize());
const second = await pb.collection(collection).authWithOAuth2Code('oidc', code, verifier, redirect, { name: 'Ignored' });
expect(second.meta?.isNew === false && second.record.id === first.record.id, 'second login finds the record');
expect(second.record.name === 'SDK User', 'createData ignored for an existing record');

const refreshed = await pb.collection(collection).authRefresh();
expect(refreshed.record.id === first.record.id, 'the OAuth2 token refreshes');

({ code } = await authorize());
try {
  await pb.collection(collection).authWithOAuth2Code('oidc', code, 'x'.repeat(43), redirect);
  fail('a wrong code verifier was accepted');
} catch (e) {
  expect(e.status === 400 && e.response?.message === 'Failed to fetch OAuth2 token.', `wrong verifier: ${e.status} ${JSON.stringify(e.response)}`);
}

({ code, verifier } = await authorize());
try {
  await pb.collection(collection).authWithOAuth2Code('oidc', code, verifier, 'https://evil.example/cb');
  fail('a redirect URL off the allow-list was accepted');
} catch (e) {
  expect(e.status === 400 && e.response?.data?.redirectURL?.code === 'validation_invalid_redirect_url', `bad redirect: ${JSON.stringify(e.response)}`);
}
console.log('sdk oauth2: ok');
