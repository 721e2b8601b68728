// The official PocketBase JS SDK against Authgate: email verification, password reset and email
// change, with the links read from the local mailbox.
//
// Env: BASE_URL (the server), MAIL_DIR (the local mailbox's .eml directory), optional
// EMAIL_SUFFIX (keeps addresses unique between runs). Uses the default `users` collection.
// Exits non-zero on the first failed expectation, saying which.
import fs from 'node:fs';
import path from 'node:path';
import PocketBase from 'pocketbase';

const base = process.env.BASE_URL;
const mailDir = process.env.MAIL_DIR;
if (!base || !mailDir) throw new Error('BASE_URL and MAIL_DIR must be set');
const suffix = process.env.EMAIL_SUFFIX || `${Date.now()}-${Math.random().toString(36).slice(2)}`;
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

// Mail bodies are quoted-printable: drop soft line breaks, then decode =XX runs as UTF-8.
const decodeQuotedPrintable = (s) => s
  .replace(/=\r?\n/g, '')
  .replace(/(=[0-9A-F]{2})+/g, (m) => Buffer.from(m.replace(/=/g, ''), 'hex').toString('utf8'));

// The server answers before the mail leaves (requests queue it in the outbox; a background
// sender delivers it): mail readers poll for up to this long.
const MAIL_WAIT_MS = 5000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The token of the newest `…/{action}/{TOKEN}` link mailed to `email` (file names sort by time),
// or undefined if there is none yet.
function findToken(email, action) {
  const files = fs.existsSync(mailDir)
    ? fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort().reverse()
    : [];
  for (const f of files) {
    const raw = fs.readFileSync(path.join(mailDir, f), 'utf8');
    const headers = raw.slice(0, raw.indexOf('\r\n\r\n'));
    const to = /^To:(.*)$/im.exec(headers)?.[1] ?? '';
    if (!to.toLowerCase().includes(email.toLowerCase())) continue;
    const m = new RegExp(`/${action}/([A-Za-z0-9_\\-]+\\.[A-Za-z0-9_\\-]+\\.[A-Za-z0-9_\\-]+)`)
      .exec(decodeQuotedPrintable(raw));
    if (m) return m[1];
  }
  return undefined;
}

// findToken, polled until the mail arrives (at most MAIL_WAIT_MS).
async function tokenFromMail(email, action) {
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    const token = findToken(email, action);
    if (token) return token;
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  fail(`no mail to ${email} with a /${action}/ link in ${mailDir} after ${MAIL_WAIT_MS} ms`);
}

// Runs `fn`, which must fail with `status`; returns the error's response body.
async function rejects(fn, status, what) {
  try {
    await fn();
  } catch (e) {
    expect(e.status === status, `${what}: status ${e.status}, want ${status}: ${JSON.stringify(e.response)}`);
    return e.response;
  }
  fail(`${what}: succeeded, want ${status}`);
}

const client = () => {
  const pb = new PocketBase(base);
  pb.autoCancellation(false);
  return pb;
};
const password = '1234567890';
const signUp = (pb, email) => pb.collection('users').create({ email, password, passwordConfirm: password });

// --- verification --------------------------------------------------------------------------
{
  const pb = client();
  const email = `sdk-verify-${suffix}@example.com`;
  await signUp(pb, email);
  expect(await pb.collection('users').requestVerification(email) === true, 'requestVerification');
  const token = await tokenFromMail(email, 'confirm-verification');
  expect(await pb.collection('users').confirmVerification(token) === true, 'confirmVerification');
  const auth = await pb.collection('users').authWithPassword(email, password);
  expect(auth.record.verified === true, `verified after confirmVerification: ${JSON.stringify(auth.record)}`);
  // Unknown addresses get the same answer.
  expect(await pb.collection('users').requestVerification(`sdk-nobody-${suffix}@example.com`) === true,
    'requestVerification for an unknown address');
}

// --- password reset ------------------------------------------------------------------------
{
  const pb = client();
  const email = `sdk-reset-${suffix}@example.com`;
  await signUp(pb, email);
  const first = await pb.collection('users').authWithPassword(email, password);
  const oldToken = first.token;
  pb.authStore.clear();

  expect(await pb.collection('users').requestPasswordReset(email) === true, 'requestPasswordReset');
  const token = await tokenFromMail(email, 'confirm-password-reset');
  const newPassword = 'sdk-new-password-1';
  expect(await pb.collection('users').confirmPasswordReset(token, newPassword, newPassword) === true,
    'confirmPasswordReset');

  await rejects(() => pb.collection('users').authWithPassword(email, password), 400, 'old password');
  const auth = await pb.collection('users').authWithPassword(email, newPassword);
  expect(auth.record.verified === true, 'a completed reset verifies the address');

  const stale = client();
  stale.authStore.save(oldToken, first.record);
  await rejects(() => stale.collection('users').authRefresh(), 401, 'refresh with a token from before the reset');

  const reused = await rejects(
    () => pb.collection('users').confirmPasswordReset(token, 'sdk-new-password-2', 'sdk-new-password-2'),
    400, 'reused reset token');
  expect(reused?.data?.token?.code === 'validation_invalid_token', `reused token code: ${JSON.stringify(reused)}`);
}

// --- email change --------------------------------------------------------------------------
{
  const pb = client();
  const oldEmail = `sdk-change-${suffix}@example.com`;
  const newEmail = `sdk-changed-${suffix}@example.com`;
  await signUp(pb, oldEmail);
  const first = await pb.collection('users').authWithPassword(oldEmail, password);
  const oldToken = first.token;

  expect(await pb.collection('users').requestEmailChange(newEmail) === true, 'requestEmailChange');
  const token = await tokenFromMail(newEmail, 'confirm-email-change');

  const wrong = await rejects(() => pb.collection('users').confirmEmailChange(token, 'wrong-password'),
    400, 'confirmEmailChange with a wrong password');
  expect(wrong?.data?.password?.code === 'validation_invalid_password', `wrong password code: ${JSON.stringify(wrong)}`);

  expect(await pb.collection('users').confirmEmailChange(token, password) === true, 'confirmEmailChange');
  const auth = await pb.collection('users').authWithPassword(newEmail, password);
  expect(auth.record.email === newEmail && auth.record.id === first.record.id, `login with the new address: ${JSON.stringify(auth.record)}`);
  expect(auth.record.verified === true, 'the new address is verified');
  await rejects(() => client().collection('users').authWithPassword(oldEmail, password), 400, 'login with the old address');

  const stale = client();
  stale.authStore.save(oldToken, first.record);
  await rejects(() => stale.collection('users').authRefresh(), 401, 'refresh with a token from before the change');
}

console.log('sdk mail: ok');
