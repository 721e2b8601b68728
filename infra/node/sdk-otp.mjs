// The official PocketBase JS SDK against Authgate: OTP login and MFA (password + OTP).
//
// Env: BASE_URL (the server), MAIL_DIR (the local mailbox's .eml directory), optional
// EMAIL_SUFFIX (keeps addresses unique between runs). Expects two auth collections with OTP on:
// `otpusers` (MFA off) and `mfausers` (MFA on), both with a 60 s OTP duration and a mail template
// containing {OTP} and {OTP_ID}. Exits non-zero on the first failed expectation, saying which.
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

// The code from the newest .eml to `email` that carries `otpId` (file names sort by time), or
// undefined if there is none yet.
function findOtpCode(email, otpId) {
  const files = fs.existsSync(mailDir)
    ? fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort().reverse()
    : [];
  for (const f of files) {
    const raw = fs.readFileSync(path.join(mailDir, f), 'utf8');
    const headers = raw.slice(0, raw.indexOf('\r\n\r\n'));
    const to = /^To:(.*)$/im.exec(headers)?.[1] ?? '';
    if (!to.toLowerCase().includes(email.toLowerCase())) continue;
    const text = decodeQuotedPrintable(raw);
    if (!text.includes(otpId)) continue;
    const m = /one-time password is:\s*(?:<strong>)?\s*(\d{4,32})/i.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

// findOtpCode, polled until the mail arrives (at most MAIL_WAIT_MS).
async function otpCode(email, otpId) {
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    const code = findOtpCode(email, otpId);
    if (code) return code;
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  fail(`no OTP mail to ${email} with otpId ${otpId} in ${mailDir} after ${MAIL_WAIT_MS} ms`);
}

const password = '1234567890';
const signUp = (pb, collection, email) =>
  pb.collection(collection).create({ email, password, passwordConfirm: password });

// --- OTP login (MFA off) -------------------------------------------------------------------
{
  const pb = new PocketBase(base);
  pb.autoCancellation(false);
  const email = `sdk-otp-${suffix}@example.com`;
  const rec = await signUp(pb, 'otpusers', email);

  const methods = await pb.collection('otpusers').listAuthMethods();
  expect(methods.otp?.enabled === true && methods.otp?.duration === 60, `otp in auth methods: ${JSON.stringify(methods.otp)}`);
  expect(methods.mfa?.enabled === false, `mfa off: ${JSON.stringify(methods.mfa)}`);

  const { otpId } = await pb.collection('otpusers').requestOTP(email);
  expect(/^[a-z0-9]{15}$/.test(otpId ?? ''), `otpId shape: ${otpId}`);
  const code = await otpCode(email, otpId);

  const auth = await pb.collection('otpusers').authWithOTP(otpId, code);
  expect(pb.authStore.isValid, 'authStore valid after authWithOTP');
  expect(auth.record.id === rec.id && auth.record.email === email, `OTP login record: ${JSON.stringify(auth.record)}`);
  expect(auth.record.verified === true, 'an OTP login verifies the address');

  pb.authStore.clear();
  try {
    await pb.collection('otpusers').authWithOTP(otpId, code);
    fail('the same OTP was accepted twice');
  } catch (e) {
    expect(e.status === 400, `reused OTP status ${e.status}`);
    expect(e.response?.message === 'Invalid or expired OTP.', `reused OTP message ${JSON.stringify(e.response)}`);
  }
  expect(!pb.authStore.isValid, 'no auth after a rejected OTP');

  // An unknown address gets an id of the same shape and no mail.
  const unknown = await pb.collection('otpusers').requestOTP(`sdk-nobody-${suffix}@example.com`);
  expect(/^[a-z0-9]{15}$/.test(unknown.otpId ?? ''), `fake otpId shape: ${JSON.stringify(unknown)}`);
}

// --- MFA: password first, OTP second ------------------------------------------------------
{
  const pb = new PocketBase(base);
  pb.autoCancellation(false);
  const email = `sdk-mfa-${suffix}@example.com`;
  const rec = await signUp(pb, 'mfausers', email);

  const methods = await pb.collection('mfausers').listAuthMethods();
  expect(methods.mfa?.enabled === true && methods.mfa?.duration === 600, `mfa in auth methods: ${JSON.stringify(methods.mfa)}`);

  let mfaId;
  try {
    await pb.collection('mfausers').authWithPassword(email, password);
    fail('password alone logged in on an MFA collection');
  } catch (e) {
    expect(e.status === 401, `first factor status ${e.status}`);
    mfaId = e.response?.mfaId;
    expect(typeof mfaId === 'string' && mfaId.length > 0, `first factor body ${JSON.stringify(e.response)}`);
  }
  expect(!pb.authStore.isValid, 'no auth after the first factor');

  const { otpId } = await pb.collection('mfausers').requestOTP(email);
  const code = await otpCode(email, otpId);
  const auth = await pb.collection('mfausers').authWithOTP(otpId, code, { mfaId });
  expect(pb.authStore.isValid, 'authStore valid after the second factor');
  expect(auth.record.id === rec.id, 'second factor record id');

  // The MFA session is used up.
  pb.authStore.clear();
  try {
    await pb.collection('mfausers').authWithPassword(email, password, { mfaId });
    fail('a used MFA session was accepted');
  } catch (e) {
    expect(e.status === 400, `used MFA session status ${e.status}`);
    expect(e.response?.message === 'Invalid or expired MFA session.', `used MFA session message ${JSON.stringify(e.response)}`);
  }
}

console.log('sdk otp/mfa: ok');
