// The official PocketBase JS SDK against Authgate: account self-service ([10]). A user views,
// lists and edits its own record, fails to see another's, changes its password (old sessions
// end), lists and unlinks its OAuth2 provider, logs out everywhere and deletes its account (its
// tokens stop working, the email can sign up again). Exits non-zero on the first failed
// expectation.
//
// env: BASE_URL (Authgate), OAUTH2_URL (the mock), COLLECTION (with password auth and OAuth2
//      through the mock as provider `oidc`), REDIRECT_URL (on the collection's allow-list)
import PocketBase from 'pocketbase';

const base = process.env.BASE_URL;
const mock = process.env.OAUTH2_URL;
const collection = process.env.COLLECTION || 'users';
const redirect = process.env.REDIRECT_URL || 'https://app.example.test/oauth2-redirect';
if (!base || !mock) throw new Error('BASE_URL and OAUTH2_URL must be set');
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };
// The SDK error of `promise`, failing when it succeeds.
async function rejects(promise, what) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  fail(`${what} succeeded`);
}

const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
const email = `sdk-self-${tag}@example.test`;
const otherEmail = `sdk-self-other-${tag}@example.test`;
const pw = '1234567890';

const pb = new PocketBase(base);
pb.autoCancellation(false);
const users = () => pb.collection(collection);

await users().create({ email, password: pw, passwordConfirm: pw, name: 'Self' });
await users().create({ email: otherEmail, password: pw, passwordConfirm: pw });
const otherPb = new PocketBase(base);
const other = await otherPb.collection(collection).authWithPassword(otherEmail, pw);
const { record: me } = await users().authWithPassword(email, pw);

// View and list.
const own = await users().getOne(me.id);
expect(own.id === me.id && own.email === email && own.name === 'Self', `getOne own: ${JSON.stringify(own)}`);
let e = await rejects(users().getOne(other.record.id), "getOne of another user's record");
expect(e.status === 404, `another user's record: ${e.status} ${JSON.stringify(e.response)}`);
const list = await users().getFullList();
expect(list.length === 1 && list[0].id === me.id, `getFullList: ${JSON.stringify(list)}`);
const page = await users().getList(1, 10);
expect(page.totalItems === 1 && page.items[0].id === me.id, `getList: ${JSON.stringify(page)}`);

// Update.
const renamed = await users().update(me.id, { name: 'Renamed' });
expect(renamed.name === 'Renamed', `update: ${JSON.stringify(renamed)}`);
expect(pb.authStore.record?.name === 'Renamed', 'the SDK keeps its authStore record in step');
e = await rejects(users().update(me.id, { verified: true }), 'setting verified');
expect(e.status === 400 && e.response?.data?.verified?.code === 'validation_values_mismatch', `verified: ${JSON.stringify(e.response)}`);
e = await rejects(users().update(other.record.id, { name: 'pwned' }), "updating another user's record");
expect(e.status === 404, `another's update: ${e.status}`);

// Password change.
const newPw = 'brand-new-password';
e = await rejects(users().update(me.id, { oldPassword: 'wrong-password', password: newPw, passwordConfirm: newPw }), 'a wrong oldPassword');
expect(e.status === 400 && e.response?.data?.oldPassword?.code === 'validation_invalid_old_password', `wrong old: ${JSON.stringify(e.response)}`);
const oldToken = pb.authStore.token;
const changed = await users().update(me.id, { oldPassword: pw, password: newPw, passwordConfirm: newPw });
expect(changed.id === me.id, 'password change returns the record');
e = await rejects(users().authRefresh(), 'auth-refresh with the token from before the password change');
expect(e.status === 401, `old token after password change: ${e.status}`);
e = await rejects(users().authWithPassword(email, pw), 'login with the old password');
expect(e.status === 400, `old password: ${e.status}`);
await users().authWithPassword(email, newPw);
expect(pb.authStore.token !== oldToken, 'a new token');

// Linked providers: an OAuth2 account lists and unlinks its provider.
const oauthEmail = `sdk-self-oauth-${tag}@example.test`;
const oauthPb = new PocketBase(base);
oauthPb.autoCancellation(false);
const methods = await oauthPb.collection(collection).listAuthMethods();
const p = methods.oauth2.providers.find((x) => x.name === 'oidc');
expect(p, 'oidc provider listed');
const res = await fetch(`${p.authURL}${encodeURIComponent(redirect)}&login_hint=${encodeURIComponent(oauthEmail)}`, { redirect: 'manual' });
const code = new URL(res.headers.get('location')).searchParams.get('code');
const oauth = await oauthPb.collection(collection).authWithOAuth2Code('oidc', code, p.codeVerifier, redirect);
let links = await oauthPb.collection(collection).listExternalAuths(oauth.record.id);
expect(links.length === 1 && links[0].provider === 'oidc' && links[0].recordRef === oauth.record.id, `listExternalAuths: ${JSON.stringify(links)}`);
const theirs = await users().listExternalAuths(oauth.record.id);
expect(theirs.length === 0, `someone else's links are not listed: ${JSON.stringify(theirs)}`);
e = await rejects(users().unlinkExternalAuth(oauth.record.id, 'oidc'), "unlinking someone else's provider");
expect(e.status === 404, `someone else's unlink: ${e.status}`);
expect(await oauthPb.collection(collection).unlinkExternalAuth(oauth.record.id, 'oidc') === true, 'unlinkExternalAuth');
links = await oauthPb.collection(collection).listExternalAuths(oauth.record.id);
expect(links.length === 0, `after unlink: ${JSON.stringify(links)}`);
expect((await users().listExternalAuths(me.id)).length === 0, 'a password account has no links');

// Log out everywhere (Authgate addition): every earlier token stops working.
const before = pb.authStore.token;
await pb.send(`/api/collections/${collection}/auth-revoke`, { method: 'POST' });
e = await rejects(users().authRefresh(), 'auth-refresh after auth-revoke');
expect(e.status === 401, `after auth-revoke: ${e.status}`);
await users().authWithPassword(email, newPw);
expect(pb.authStore.token !== before, 'logged in again');

// Delete the account.
const lastToken = pb.authStore.token;
expect(await users().delete(me.id) === true, 'delete');
expect(!pb.authStore.isValid, 'the SDK clears its authStore after deleting its own record');
e = await rejects(users().authWithPassword(email, newPw), 'login after delete');
expect(e.status === 400, `login after delete: ${e.status}`);
pb.authStore.save(lastToken, null);
e = await rejects(users().authRefresh(), 'auth-refresh after delete');
expect(e.status === 401, `refresh after delete: ${e.status}`);
pb.authStore.clear();
const again = await users().create({ email, password: pw, passwordConfirm: pw });
expect(again.id !== me.id, 'the email signs up again as a new record');
e = await rejects(otherPb.collection(collection).delete(again.id), "deleting someone else's account");
expect(e.status === 404, `someone else's delete: ${e.status}`);
console.log('sdk self-service: ok');
