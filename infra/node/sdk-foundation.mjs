// The official PocketBase JS SDK against Authgate: sign-up, auth methods,
// password login, refresh. Exits non-zero on the first failed expectation.
import PocketBase from 'pocketbase';

const base = process.env.BASE_URL;
if (!base) throw new Error('BASE_URL is not set');
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const pb = new PocketBase(base);
pb.autoCancellation(false);
const email = `sdk-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;

const rec = await pb.collection('users').create({ email, password: '1234567890', passwordConfirm: '1234567890', name: 'SDK' });
expect(typeof rec.id === 'string' && /^[a-z0-9]{15}$/.test(rec.id), `record id: ${JSON.stringify(rec)}`);
expect(rec.email === undefined, 'email hidden on create');

try {
  await pb.collection('users').create({ email: email.toUpperCase(), password: '1234567890', passwordConfirm: '1234567890' });
  fail('duplicate email accepted');
} catch (e) {
  expect(e.status === 400, `duplicate status ${e.status}`);
  expect(e.response?.data?.email?.code === 'validation_not_unique', `duplicate code ${JSON.stringify(e.response)}`);
}

const methods = await pb.collection('users').listAuthMethods();
expect(methods.password?.enabled === true, `auth methods: ${JSON.stringify(methods)}`);
expect(Array.isArray(methods.oauth2?.providers), 'oauth2 providers list');
expect(methods.mfa?.enabled === false && methods.otp?.enabled === false, 'mfa/otp off');

const auth = await pb.collection('users').authWithPassword(email, '1234567890');
expect(pb.authStore.isValid, 'authStore valid after login');
expect(auth.record.id === rec.id && pb.authStore.record?.id === rec.id, 'login record id');
expect(auth.record.email === email, 'own email visible');

const before = pb.authStore.token;
await new Promise((r) => setTimeout(r, 1100));
const refreshed = await pb.collection('users').authRefresh();
expect(pb.authStore.isValid && refreshed.token && refreshed.token !== before, 'refresh gives a new token');

try {
  await pb.collection('users').authWithPassword(email, 'wrong-password');
  fail('wrong password accepted');
} catch (e) {
  expect(e.status === 400, `wrong password status ${e.status}`);
}

pb.authStore.save('garbage', null);
try {
  await pb.collection('users').authRefresh();
  fail('garbage token refreshed');
} catch (e) {
  expect(e.status === 401, `garbage refresh status ${e.status}`);
}
console.log('sdk foundation: ok');
