// Browser tests of tessera-server's /admin/ pages, run by run.sh against the
// real server on 127.0.0.1 (see run.sh for the data it bootstraps).
// playwright-core drives Debian's Chromium, headless; every request the
// browser makes is intercepted and anything not for 127.0.0.1 is refused and
// fails the run. A failing test saves a screenshot in $TESSERA_WEB_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/web/run.sh`);
  return v;
};
const URL_BASE = env('TESSERA_URL');
const OUT = env('TESSERA_WEB_OUT');
const WORK = env('TESSERA_WORK');
const ORIGIN = new URL(URL_BASE).origin;
const PW = {
  owner: ['owner@acme.example', 'owner passphrase 1'],
  admin: ['admin@acme.example', 'admin passphrase 2'],
  member: ['mia@acme.example', 'member passphrase 3'],
};

let browser;
const offLoopback = []; // requests that tried to leave 127.0.0.1

before(async () => {
  browser = await chromium.launch({
    executablePath: env('TESSERA_CHROMIUM'),
    headless: true,
    // As root Chromium needs --no-sandbox; the rest keep it off the network
    // (this machine has none, and the tests must not try). launch() gives
    // Chromium a fresh, empty profile of its own (a temporary user-data dir).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

// A fresh context (no cookies) whose requests may only go to the server;
// @options: more of newContext()'s (a time zone).
async function newPage(options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, ...options });
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' && u.origin === ORIGIN) return route.continue();
    offLoopback.push(u.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  // A bound on waiting for an element, never a speed: a busy machine runs
  // Chromium slowly, and a wait that merely takes long must not fail.
  page.setDefaultTimeout(60000);
  return page;
}

// Runs @body with a fresh page; on failure saves a screenshot first.
function webTest(name, body, options) {
  test(name, async () => {
    const page = await newPage(options);
    try {
      await body(page);
    } catch (e) {
      const file = join(OUT, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      e.message += `\n(screenshot: ${file})`;
      throw e;
    } finally {
      await page.context().close();
    }
  });
}

async function signIn(page, who) {
  await page.goto(`${URL_BASE}/admin/`);
  await page.locator('#login-email').fill(PW[who][0]);
  await page.locator('#login-password').fill(PW[who][1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: PW[who][0] }).waitFor();
}

// fetch() from inside the page: same origin, the browser's own cookie.
function pageFetch(page, method, path, body, withCsrf) {
  return page.evaluate(async ([method, path, body, withCsrf]) => {
    const headers = { 'Content-Type': 'application/json' };
    if (withCsrf) {
      const s = await (await fetch('/api/v1/web/session')).json();
      headers['X-CSRF-Token'] = s.csrf_token;
    }
    const res = await fetch(path, { method, headers, body: body === null ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await res.json(); } catch (e) { /* no body */ }
    return { status: res.status, json, retryAfter: res.headers.get('Retry-After') };
  }, [method, path, body, withCsrf]);
}

async function openPool(page, label) {
  await page.getByRole('tab', { name: 'License Management' }).click();
  await page.getByRole('tablist', { name: 'License pools' }).getByRole('tab', { name: label }).click();
  await page.getByRole('tab', { name: label, selected: true }).waitFor();
}

// ---------------------------------------------------------------- tests

webTest('sign in: a wrong password is refused, the right one opens License Management', async (page) => {
  await page.goto(`${URL_BASE}/admin/`);
  await page.locator('#login-email').fill(PW.owner[0]);
  await page.locator('#login-password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#login-error').filter({ hasText: 'wrong email or password' }).waitFor();
  assert.equal(await page.locator('#app-view').isVisible(), false);

  await signIn(page, 'owner');
  await page.getByRole('heading', { name: 'License Management' }).waitFor();
  // One tab per pool, in the reference order.
  const tabs = await page.getByRole('tablist', { name: 'License pools' }).getByRole('tab').allTextContents();
  assert.deepEqual(tabs, ['KSE (Node-locked)', 'KSE (Floating)', 'KRE (Node-locked)', 'KRE (Floating)']);
  await openPool(page, 'KRE (Floating)');
  assert.equal(await page.locator('[data-stat="quota"] .v').textContent(), '3');
  assert.match(await page.locator('[data-stat="end"] .v').textContent(), /^\d{4}-\d{2}-\d{2}$/);

  // Signing out ends the session on the server too.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#login-view').waitFor();
  assert.equal((await pageFetch(page, 'GET', '/api/v1/web/session', null, false)).status, 401);
});

webTest('cookie flags: HttpOnly, SameSite=Strict, not readable by scripts', async (page) => {
  await signIn(page, 'owner');
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === 'tessera_session');
  assert.ok(c, 'a tessera_session cookie is set');
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(c.path, '/');
  assert.equal(c.secure, false); // plain HTTP on loopback; Secure under TLS
  assert.equal(await page.evaluate(() => document.cookie.includes('tessera_session')), false);
  // The pages are served with a strict CSP.
  const res = await page.request.get(`${URL_BASE}/admin/`);
  assert.match(res.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
});

webTest('CSRF: a state-changing fetch signed in by cookie needs the token', async (page) => {
  await signIn(page, 'owner');
  const without = await pageFetch(page, 'POST', '/api/v1/keys', { label: 'csrf' }, false);
  assert.equal(without.status, 403);
  assert.equal(without.json.error.code, 'permission-denied');
  assert.match(without.json.error.message, /X-CSRF-Token/);
  const del = await pageFetch(page, 'DELETE', '/api/v1/orgs/acme/members/' + env('TESSERA_MEMBER_ID'), null, false);
  assert.equal(del.status, 403);
  // Reads need no token; writes with the token work.
  assert.equal((await pageFetch(page, 'GET', '/api/v1/keys', null, false)).status, 200);
  assert.equal((await pageFetch(page, 'POST', '/api/v1/keys', { label: 'csrf' }, true)).status, 201);
});

webTest('Licensed Users: grant until the quota refuses, then revoke', async (page) => {
  await signIn(page, 'admin');
  await openPool(page, 'KSE (Node-locked)'); // quota 2
  const grant = async (email) => {
    await page.locator('#grant-user').selectOption({ label: email });
    await page.locator('#grant-button').click();
  };
  await grant('dev1@acme.example');
  await page.locator('td', { hasText: 'dev1@acme.example' }).waitFor();
  await grant('dev2@acme.example');
  await page.locator('td', { hasText: 'dev2@acme.example' }).waitFor();
  await grant('dev3@acme.example');
  const err = page.locator('#grant-error');
  await err.waitFor();
  assert.match(await err.textContent(), /quota|2 .*licen/i);
  assert.equal(await page.locator('[data-stat="granted"] .v').textContent(), '2');

  await page.locator('[data-revoke="dev1@acme.example"]').click();
  await page.locator('[data-revoke="dev1@acme.example"]').waitFor({ state: 'detached' });
  await grant('dev3@acme.example');
  await page.locator('td', { hasText: 'dev3@acme.example' }).waitFor();
  assert.equal(await page.locator('#grant-error').isVisible(), false);
});

webTest('Offline Licenses: create after a warning, the download verifies for that machine', async (page) => {
  await signIn(page, 'owner');
  // Not offered for a floating or a monthly pool.
  await openPool(page, 'KSE (Floating)');
  assert.equal(await page.locator('#offline-open').count(), 0);
  await openPool(page, 'KRE (Floating)');
  assert.equal(await page.locator('#offline-open').count(), 0);

  await openPool(page, 'KRE (Node-locked)');
  const machine = 'QD56-P8HQ-4NV2-SGXW';
  await page.getByRole('button', { name: 'Create Offline License' }).click();
  await page.locator('#offline-machine').fill(machine);
  await page.locator('#offline-create').click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /cannot be undone/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    dialog.getByRole('button', { name: 'Create and download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `KRE_${machine}.lic`);
  const file = join(WORK, download.suggestedFilename());
  await download.saveAs(file);
  assert.ok(existsSync(file));
  await page.locator('td', { hasText: machine }).first().waitFor();

  const tool = env('TESSERA_LICENSE');
  const key = env('TESSERA_TRUSTED_KEY');
  await run(tool, ['verify', file, '--trusted-key', key, '--machine-id', machine, '--product', 'KRE']);
  await assert.rejects(run(tool, ['verify', file, '--trusted-key', key, '--machine-id', '7QK2-M4RD-X9T1-0BHC']),
    (e) => e.code === 8);
});

webTest('Online Licenses: force-release a session started by an API client, remove its machine', async (page) => {
  const machine = 'W3BT-EST0-0000-0001';
  const bearer = { Authorization: `Bearer ${env('TESSERA_MEMBER_KEY')}`, 'Content-Type': 'application/json' };
  // The product's activation, from outside the browser: curl, as in the README.
  const { stdout } = await run('curl', ['-sS', '--fail-with-body', `${URL_BASE}/api/v1/activate`,
    '-H', `Authorization: Bearer ${env('TESSERA_MEMBER_KEY')}`, '-H', 'Content-Type: application/json',
    '-d', JSON.stringify({ product: 'KRE', machine_id: machine, nonce: 'web-test-0001', org_id: 'acme' })]);
  // Answer format 2: every field is in the signed payload (docs/protocol.md).
  const answer = JSON.parse(stdout);
  assert.equal(answer.format, 2);
  const session = JSON.parse(answer.payload);
  assert.equal(session.kind, 'floating');

  await signIn(page, 'owner');
  await openPool(page, 'KRE (Floating)');
  const row = page.locator('tr', { has: page.locator(`[data-release="${session.session_id}"]`) });
  await row.waitFor();
  assert.match(await row.textContent(), /mia@acme\.example/);
  assert.match(await row.textContent(), new RegExp(machine));
  // docs/admin-license-management.png is made here (TESSERA_DOCS_SCREENSHOT=PATH).
  if (process.env.TESSERA_DOCS_SCREENSHOT)
    await page.screenshot({ path: process.env.TESSERA_DOCS_SCREENSHOT, fullPage: true });
  await page.locator(`[data-release="${session.session_id}"]`).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Release' }).click();
  await row.waitFor({ state: 'detached' });
  const hb = await fetch(`${URL_BASE}/api/v1/heartbeat`, {
    method: 'POST', headers: bearer, body: JSON.stringify({ session_id: session.session_id }),
  });
  assert.equal(hb.status, 410);

  await page.locator(`[data-remove-machine="${machine}"]`).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.locator(`[data-remove-machine="${machine}"]`).waitFor({ state: 'detached' });
  const list = await pageFetch(page, 'GET', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KRE_FL')}/machines`, null, false);
  assert.equal(list.json.machines.some((m) => m.machine_id === machine), false);
});

webTest('Online Licenses: a machine whose network card was replaced keeps its registration and shows the change', async (page) => {
  const bearer = { Authorization: `Bearer ${env('TESSERA_MEMBER_KEY')}`, 'Content-Type': 'application/json' };
  // Scoped component digests as the testops plugin sends them (docs/protocol.md), made up here.
  const b64 = (v) => Buffer.alloc(16, v).toString('base64');
  const components = (nic) => ({ 'machine-id': b64(1), cpu: b64(3), nic: b64(nic), user: b64(5) });
  const before = 'W3BT-NIC0-0000-0001';
  const after = 'W3BT-NIC0-0000-0002';
  for (const [machine, nic, nonce] of [[before, 4, 'web-nic-0001'], [after, 40, 'web-nic-0002']]) {
    const r = await fetch(`${URL_BASE}/api/v1/activate`, {
      method: 'POST', headers: bearer,
      body: JSON.stringify({ product: 'KRE', machine_id: machine, nonce, org_id: 'acme', components: components(nic) }),
    });
    assert.equal(r.status, 200);
    const session = JSON.parse((await r.json()).payload);
    const rel = await fetch(`${URL_BASE}/api/v1/release`, {
      method: 'POST', headers: bearer, body: JSON.stringify({ session_id: session.session_id }),
    });
    assert.equal(rel.status, 200);
  }
  await signIn(page, 'owner');
  await openPool(page, 'KRE (Floating)');
  const row = page.locator('tr', { has: page.locator(`[data-remove-machine="${after}"]`) });
  await row.waitFor();
  assert.match(await row.locator('[data-machine-changes]').textContent(), new RegExp(`nic changed \\(was ${before}\\)`));
  assert.equal(await page.locator(`[data-remove-machine="${before}"]`).count(), 0);
  // Tidy up for the tests after this one.
  await page.locator(`[data-remove-machine="${after}"]`).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.locator(`[data-remove-machine="${after}"]`).waitFor({ state: 'detached' });
});

webTest('a member sees only their own licenses and keys; the API refuses admin calls', async (page) => {
  await signIn(page, 'member');
  const nav = await page.locator('#nav [role="tab"]').allTextContents();
  assert.deepEqual(nav, ['My licenses', 'API keys', 'Account']);
  await page.getByRole('heading', { name: 'My licenses' }).waitFor();
  assert.equal(await page.locator('#grant-button, #offline-open, [data-release], [data-remove-machine]').count(), 0);

  const pools = await pageFetch(page, 'GET', '/api/v1/orgs/acme/pools', null, false);
  assert.equal(pools.status, 403);
  const grant = await pageFetch(page, 'POST', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KSE_NL')}/grants`,
    { user_id: env('TESSERA_MEMBER_ID') }, true);
  assert.equal(grant.status, 403);
  assert.equal(grant.json.error.code, 'permission-denied');

  // Their own API key, shown once.
  await page.getByRole('tab', { name: 'API keys' }).click();
  await page.locator('#key-label').fill('web laptop');
  await page.locator('#key-create').click();
  await page.locator('#new-key').waitFor();
  assert.match(await page.locator('#new-key').textContent(), /^tsk_[A-Za-z0-9_-]{43}$/);
  await page.getByRole('tab', { name: 'Account' }).click();
  await page.getByRole('tab', { name: 'API keys' }).click();
  await page.locator('td', { hasText: 'web laptop' }).waitFor();
  assert.equal(await page.locator('#new-key').count(), 0);
});

webTest('an owner in two organizations picks one; invites a member who sets a password', async (page) => {
  await signIn(page, 'owner');
  const picker = page.locator('#org-picker');
  await picker.waitFor();
  assert.deepEqual(await picker.locator('option').allTextContents(), ['Acme Inc. (owner)', 'Beta GmbH (owner)']);
  await picker.selectOption('beta');
  await page.getByText('This organization has no license pools.').waitFor();
  await picker.selectOption('acme');

  await page.getByRole('tab', { name: 'Members' }).click();
  await page.locator('#invite-email').fill('newbie@acme.example');
  await page.locator('#invite-role').selectOption('member');
  await page.getByRole('button', { name: 'Invite' }).click();
  const link = (await page.locator('#invite-result .secret').textContent()).trim();
  assert.match(link, /\/admin\/#invite=twi_/);

  const other = await newPage();
  try {
    await other.goto(link);
    await other.locator('#invite-password').fill('a brand new passphrase');
    await other.getByRole('button', { name: 'Accept and sign in' }).click();
    await other.locator('#who').filter({ hasText: 'newbie@acme.example' }).waitFor();
    // The invitation works once.
    const again = await other.evaluate(async (token) => (await fetch('/api/v1/web/accept-invite', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, password: 'another passphrase' }),
    })).status, link.split('#invite=')[1]);
    assert.equal(again, 401);
  } finally {
    await other.context().close();
  }
});

webTest('a member changes their password; other sessions end', async (page) => {
  const other = await newPage();
  try {
    await signIn(other, 'member');
    await signIn(page, 'member');
    await page.getByRole('tab', { name: 'Account' }).click();
    await page.locator('#pw-current').fill('not my password');
    await page.locator('#pw-new').fill('member passphrase 4');
    await page.locator('#pw-change').click();
    await page.locator('#pw-error').filter({ hasText: 'current password is wrong' }).waitFor();
    await page.locator('#pw-current').fill(PW.member[1]);
    await page.locator('#pw-new').fill('member passphrase 4');
    await page.locator('#pw-change').click();
    await page.locator('#flash').filter({ hasText: 'Password changed' }).waitFor();
    PW.member[1] = 'member passphrase 4';
    // This page stays signed in; the other browser's session ended.
    assert.equal((await pageFetch(page, 'GET', '/api/v1/web/session', null, false)).status, 200);
    assert.equal((await pageFetch(other, 'GET', '/api/v1/web/session', null, false)).status, 401);
    await other.getByRole('tab', { name: 'API keys' }).click();
    await other.locator('#login-view').waitFor();
  } finally {
    await other.context().close();
  }
});

webTest('failed sign-ins are rate limited: 429 with Retry-After', async (page) => {
  await page.goto(`${URL_BASE}/admin/`);
  for (let i = 0; i < 5; i++) {
    const r = await pageFetch(page, 'POST', '/api/v1/web/login', { email: PW.admin[0], password: `wrong ${i}` }, false);
    assert.equal(r.status, 401);
  }
  // Now even the right password is refused for a while, and the page says why.
  await page.locator('#login-email').fill(PW.admin[0]);
  await page.locator('#login-password').fill(PW.admin[1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#login-error').filter({ hasText: 'too many failed sign-ins' }).waitFor();
  const r = await pageFetch(page, 'POST', '/api/v1/web/login', { email: PW.admin[0], password: PW.admin[1] }, false);
  assert.equal(r.status, 429);
  assert.ok(Number(r.retryAfter) > 0, `Retry-After: ${r.retryAfter}`);
});

webTest('the audit log shows people by email and times in ISO 8601, as the API has them', async (page) => {
  await signIn(page, 'owner');
  const { status, json } = await pageFetch(page, 'GET', '/api/v1/orgs/acme/audit', null, false);
  assert.equal(status, 200);
  // The tests above changed things as the owner and the member.
  const byPeople = json.audit.filter((a) => a.actor_email);
  assert.ok(byPeople.length > 0, 'no audit record with an actor email');
  assert.ok(byPeople.some((a) => a.actor_email === PW.owner[0]));

  await page.getByRole('tab', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  const rows = page.locator('#app-view table tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), json.audit.length);
  const cells = await rows.evaluateAll((trs) => trs.map((tr) => {
    const td = tr.querySelectorAll('td');
    return { when: td[0].textContent, datetime: td[0].querySelector('time')?.getAttribute('datetime'),
      actor: td[1].textContent, target: td[3].textContent };
  }));
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  json.audit.forEach((a, i) => {
    const c = cells[i];
    const iso = new Date(a.at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.match(c.when, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(c.when, iso);
    assert.equal(c.datetime, iso);
    assert.equal(c.actor, a.actor_email ?? (a.actor ? a.actor : 'tessera-admin'));
    if (a.actor_email) assert.doesNotMatch(c.actor, uuid);
    if (a.target_email) assert.equal(c.target, a.target_email);
  });
  assert.ok(cells.some((c) => c.actor === PW.owner[0]));
});

// ---------------------------------------------------------------- what the pages left out (issue 19)

// An activation as a product makes it, from outside the browser; @extra:
// more members of the body (hostname, os). Returns the signed payload.
async function apiActivate(product, machine, nonce, extra = {}) {
  const r = await fetch(`${URL_BASE}/api/v1/activate`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${env('TESSERA_MEMBER_KEY')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ product, machine_id: machine, nonce, org_id: 'acme', ...extra }),
  });
  const json = await r.json();
  assert.equal(r.status, 200, JSON.stringify(json));
  return JSON.parse(json.payload);
}

async function apiRelease(sessionId) {
  const r = await fetch(`${URL_BASE}/api/v1/release`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${env('TESSERA_MEMBER_KEY')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ session_id: sessionId }),
  });
  assert.equal(r.status, 200);
}

// The admin's own removal of what a test registered.
async function removeMachine(page, pool, machine) {
  const r = await pageFetch(page, 'DELETE', `/api/v1/orgs/acme/pools/${pool}/machines/${machine}`, null, true);
  assert.equal(r.status, 200);
}

webTest('sessions and machines show the client\'s host name and OS, and the lease expiry in local time', async (page) => {
  // The OS carries markup, as a hostile client may send: the page shows it
  // as text, builds no element from it and runs nothing.
  const hostileOs = 'Debian <b>GNU</b>/Linux 13 <img src=x onerror="window.__pwned=1">';
  const told = await apiActivate('KSE', 'W3BT-HOST-0000-0001', 'web-host-0001',
    { hostname: 'ci-runner-7.acme.example', os: hostileOs });
  const silent = await apiActivate('KSE', 'W3BT-HOST-0000-0002', 'web-host-0002'); // an older client
  await signIn(page, 'owner');
  await openPool(page, 'KSE (Floating)');
  const sessions = page.locator('[data-section="sessions"] table');
  await sessions.waitFor();
  const heads = await sessions.locator('th').allTextContents();
  for (const h of ['Host name', 'OS', 'Lease expires']) assert.ok(heads.includes(h), `${h} in ${heads}`);
  const machineHeads = await page.locator('[data-section="machines"] th').allTextContents();
  for (const h of ['Host name', 'OS']) assert.ok(machineHeads.includes(h), `${h} in ${machineHeads}`);

  const row = sessions.locator('tr', { has: page.locator(`[data-release="${told.session_id}"]`) });
  assert.equal(await row.locator('[data-client="hostname"]').textContent(), 'ci-runner-7.acme.example');
  assert.equal(await row.locator('[data-client="os"]').textContent(), hostileOs);
  assert.equal(await row.locator('[data-client="os"] *').count(), 0);
  const mrow = page.locator('[data-section="machines"] tr', { has: page.locator('[data-remove-machine="W3BT-HOST-0000-0001"]') });
  assert.equal(await mrow.locator('[data-client="hostname"]').textContent(), 'ci-runner-7.acme.example');
  assert.equal(await mrow.locator('[data-client="os"]').textContent(), hostileOs);
  assert.equal(await mrow.locator('[data-client="os"] *').count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  const srow = sessions.locator('tr', { has: page.locator(`[data-release="${silent.session_id}"]`) });
  assert.equal(await srow.locator('[data-client="hostname"]').textContent(), '—');

  // The lease as the API has it, in the browser's zone (Asia/Kolkata: +05:30).
  const list = await pageFetch(page, 'GET', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KSE_FL')}/sessions`, null, false);
  const lease = list.json.sessions.find((s) => s.id === told.session_id).lease_expires_at;
  const time = row.locator('[data-time="lease"]');
  const local = new Date((lease + 5.5 * 3600) * 1000).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' +05:30');
  assert.equal(await time.textContent(), local);
  assert.equal(await time.getAttribute('datetime'), new Date(lease * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));

  for (const s of [told, silent]) await apiRelease(s.session_id);
  for (const m of ['W3BT-HOST-0000-0001', 'W3BT-HOST-0000-0002']) await removeMachine(page, env('TESSERA_POOL_KSE_FL'), m);
}, { timezoneId: 'Asia/Kolkata' });

webTest('a pool tab refreshes itself every 10 s while shown, keeping the user\'s place', async (page) => {
  // The page's timers run on Playwright's clock: the interval is driven,
  // not waited for. The pool's view counts the refreshes it starts
  // (data-refreshes), synchronously in the timer, so the count read after
  // the clock moved is final.
  await page.clock.install();
  const refreshes = () => page.evaluate(() => Number(document.getElementById('pool-body').dataset.refreshes || 0));
  await signIn(page, 'owner');
  // Mia's KRE activations go to the node-locked pool once she holds a grant there.
  const grant = await pageFetch(page, 'POST', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KRE_NL')}/grants`,
    { user_id: env('TESSERA_MEMBER_ID') }, true);
  assert.equal(grant.status, 201, JSON.stringify(grant.json));
  await openPool(page, 'KRE (Node-locked)');
  await page.evaluate(() => { window.notReloaded = true; });

  // The user's place: a form half typed in, the page scrolled down to it.
  await page.locator('#offline-open').click();
  await page.locator('#offline-machine').pressSequentially('QD56-');
  await page.locator('#offline-machine').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  const scrolled = await page.evaluate(() => window.scrollY);

  const s = await apiActivate('KRE', 'W3BT-AUTO-0000-0001', 'web-auto-0001', { hostname: 'auto-refresh' });
  assert.equal(s.kind, 'node-locked');
  const row = page.locator(`[data-release="${s.session_id}"]`);
  assert.equal(await row.count(), 0);
  await page.clock.runFor(10000);
  await row.waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  assert.equal(await page.locator('#offline-machine').inputValue(), 'QD56-');
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'offline-machine');
  assert.equal(await page.locator('#offline-form').isVisible(), true);
  await page.getByRole('tab', { name: 'KRE (Node-locked)', selected: true }).waitFor();
  assert.ok(await page.evaluate(() => window.scrollY) > 0, `scrolled to ${scrolled}, now at the top`);
  assert.equal(await page.locator('[data-stat="online"] .v').textContent(), '1');

  // Hidden: no refresh at all, however long; shown again: one at once.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const whileShown = await refreshes();
  assert.ok(whileShown >= 1);
  await apiRelease(s.session_id);
  await page.clock.runFor(60000);
  assert.equal(await refreshes(), whileShown);
  assert.equal(await row.count(), 1);
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  assert.equal(await refreshes(), whileShown + 1);
  await row.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#offline-machine').inputValue(), 'QD56-');

  const revoke = await pageFetch(page, 'DELETE', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KRE_NL')}/grants/${env('TESSERA_MEMBER_ID')}`, null, true);
  assert.equal(revoke.status, 200); // its machine registration goes with it
});

webTest('the summary page shows every pool as the API counts it and opens its tab', async (page) => {
  // Something in use: a session and its machine in KSE (Floating).
  const s = await apiActivate('KSE', 'W3BT-SUMM-0000-0001', 'web-summary-0001');
  await signIn(page, 'owner');
  await page.getByRole('tab', { name: 'Summary' }).click();
  await page.getByRole('heading', { name: 'Summary' }).waitFor();
  const { json } = await pageFetch(page, 'GET', '/api/v1/orgs/acme/pools', null, false);
  const rows = page.locator('#summary-body tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), json.pools.length);
  const cells = await rows.evaluateAll((trs) => trs.map((tr) => ({
    pool: tr.querySelector('[data-pool]').getAttribute('data-pool'),
    td: [...tr.querySelectorAll('td')].map((td) => td.textContent),
  })));
  for (const p of json.pools) {
    const c = cells.find((x) => x.pool === p.id);
    assert.ok(c, `pool ${p.id} is listed`);
    const [, kind, quota, online, machines, offline, granted] = c.td;
    assert.equal(kind, p.kind);
    assert.equal(quota, String(p.quota));
    assert.equal(online, String(p.sessions));
    assert.equal(machines, `${p.machines} / ${p.quota}`);
    assert.equal(offline, String(p.offline));
    assert.equal(granted, p.kind === 'node-locked' ? String(p.granted) : '-');
  }
  const kse = json.pools.find((p) => p.id === env('TESSERA_POOL_KSE_FL'));
  assert.equal(kse.sessions, 1);
  assert.ok(json.pools.some((p) => p.offline > 0), 'the offline license made above is counted');

  await page.locator(`[data-pool="${env('TESSERA_POOL_KSE_FL')}"]`).click();
  await page.getByRole('tab', { name: 'KSE (Floating)', selected: true }).waitFor();
  await page.locator(`[data-release="${s.session_id}"]`).waitFor();
  await apiRelease(s.session_id);
  await removeMachine(page, env('TESSERA_POOL_KSE_FL'), 'W3BT-SUMM-0000-0001');
});

webTest('the audit log has force releases by email and links seat activations to the sessions', async (page) => {
  await signIn(page, 'owner');
  await page.getByRole('tab', { name: 'Audit log' }).click();
  const note = page.locator('#audit-seats-note');
  await note.waitFor();
  assert.match(await note.textContent(), /Seat activations and releases by products are not/);
  // The force release made above, with the user whose session it ended.
  const { json } = await pageFetch(page, 'GET', '/api/v1/orgs/acme/audit', null, false);
  assert.ok(json.audit.some((a) => a.action === 'session.force-release' && a.detail === env('TESSERA_MEMBER_ID')));
  const row = page.locator('#app-view table tbody tr', { hasText: 'session.force-release' }).first();
  assert.equal(await row.locator('td').nth(4).textContent(), PW.member[0]);
  await note.locator('[data-goto="licenses"]').click();
  await page.getByRole('heading', { name: 'License Management' }).waitFor();
});

webTest('usage: the chart draws the history the API has, refusals marked, with a CSV download', async (page) => {
  // The history is made here: mia takes both seats of the KSE floating pool
  // (quota 2), then is refused once for a seat and once for a machine.
  const bearer = { Authorization: `Bearer ${env('TESSERA_MEMBER_KEY')}`, 'Content-Type': 'application/json' };
  const activate = async (machine, nonce, status, code) => {
    const r = await fetch(`${URL_BASE}/api/v1/activate`, {
      method: 'POST', headers: bearer,
      body: JSON.stringify({ product: 'KSE', machine_id: machine, nonce, org_id: 'acme' }),
    });
    const body = await r.json();
    assert.equal(r.status, status, JSON.stringify(body));
    if (code) assert.equal(body.error.code, code);
  };
  // Other tests use this pool too: what they left in its history first.
  await signIn(page, 'owner');
  const usagePath = `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KSE_FL')}/usage`;
  const sum = (hours, f) => hours.reduce((n, h) => n + f(h), 0);
  const refusedOf = (h) => h.refused.quota + h.refused.machine_quota + h.refused.expired;
  const before = (await pageFetch(page, 'GET', usagePath, null, false)).json.hours;
  await activate('USAG-E000-0000-0001', 'web-usage-0001', 200);
  await activate('USAG-E000-0000-0002', 'web-usage-0002', 200);
  await activate('USAG-E000-0000-0001', 'web-usage-0003', 409, 'quota-exceeded');
  await activate('USAG-E000-0000-0003', 'web-usage-0004', 409, 'machine-quota-exceeded');

  await openPool(page, 'KSE (Floating)');
  const chart = page.locator('#usage-chart');
  await chart.waitFor();
  assert.equal(await page.getByRole('tablist', { name: 'Usage period' }).getByRole('tab', { selected: true }).textContent(), '7 days');
  // Accessible: a title and a description name it; the numbers are also a table.
  assert.match(await chart.getAttribute('aria-labelledby'), /usage-chart-title/);
  assert.match(await page.locator('#usage-chart-title').textContent(), /KSE \(Floating\): seats in use/);
  const allRefused = sum(before, refusedOf) + 2;
  assert.match(await page.locator('#usage-chart-desc').textContent(), new RegExp(`Highest: 2 of 2 seats\\..* ${allRefused} refused activations`));

  // Each bar and mark is the API's hour for the same period.
  const since = await chart.getAttribute('data-since');
  const until = await chart.getAttribute('data-until');
  assert.equal(await chart.getAttribute('data-buckets'), String(7 * 24));
  const api = await pageFetch(page, 'GET', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KSE_FL')}/usage?since=${since}&until=${until}`, null, false);
  assert.equal(api.status, 200);
  assert.ok(api.json.hours.length >= 1);
  const bars = await page.locator('#usage-chart rect.usage-bar').evaluateAll((rs) => rs.map((r) => ({
    start: Number(r.dataset.start), peak: Number(r.dataset.peak), quota: Number(r.dataset.quota),
    activations: Number(r.dataset.activations), refused: Number(r.dataset.refused) })));
  assert.deepEqual(bars, api.json.hours.map((h) => ({ start: h.hour, peak: h.peak, quota: h.quota,
    activations: h.activations, refused: h.refused.quota + h.refused.machine_quota + h.refused.expired })));
  // This test's history: what the API adds up now, less what was there.
  const added = (f) => sum(api.json.hours, f) - sum(before, f);
  assert.equal(Math.max(...api.json.hours.map((h) => h.peak)), 2);
  assert.equal(added((h) => h.refused.quota), 1);
  assert.equal(added((h) => h.refused.machine_quota), 1);
  assert.equal(added((h) => h.activations), 2);
  const marks = await page.locator('#usage-chart .usage-refusal').evaluateAll((ms) => ms.map((m) => ({
    start: Number(m.dataset.start), refused: Number(m.dataset.refused) })));
  assert.deepEqual(marks, api.json.hours.filter((h) => h.refused.quota + h.refused.machine_quota + h.refused.expired > 0)
    .map((h) => ({ start: h.hour, refused: h.refused.quota + h.refused.machine_quota + h.refused.expired })));
  assert.equal(await page.locator('#usage-table tbody tr').count(), api.json.hours.length);

  // The screenshot: in the test output, and docs/usage-chart.png when asked.
  const section = page.locator('#usage');
  await section.scrollIntoViewIfNeeded();
  await section.screenshot({ path: join(OUT, 'usage-chart.png') });

  // The CSV link: our own API, the same hours.
  const href = await page.locator('#usage-csv').getAttribute('href');
  assert.ok(href.startsWith(`/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KSE_FL')}/usage?`), href);
  const csv = await page.evaluate(async (u) => { const r = await fetch(u); return { status: r.status, type: r.headers.get('Content-Type'), text: await r.text() }; }, href);
  assert.equal(csv.status, 200);
  assert.match(csv.type, /^text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines[0], 'hour,peak,quota,activations,refused_quota,refused_machine_quota,refused_expired,users,machines');
  assert.equal(lines.length, api.json.hours.length + 1);

  // A year is drawn per day, the same numbers added up.
  await page.getByRole('tablist', { name: 'Usage period' }).getByRole('tab', { name: '365 days' }).click();
  await page.locator('#usage-chart[data-buckets="365"]').waitFor();
  const days = await page.locator('#usage-chart rect.usage-bar').evaluateAll((rs) => rs.map((r) => ({
    peak: Number(r.dataset.peak), refused: Number(r.dataset.refused) })));
  assert.ok(days.length >= 1 && days.length <= 2, JSON.stringify(days)); // today (and yesterday near midnight)
  assert.equal(Math.max(...days.map((d) => d.peak)), 2);
  assert.equal(days.reduce((n, d) => n + d.refused, 0), allRefused);
});

webTest('usage: a month of a busy pool, drawn hour by hour as the API has it', async (page) => {
  // run.sh wrote 30 days of KRE node-locked history (quota 3) as the
  // servers' flushes would have: weekdays at the quota with refusals.
  await signIn(page, 'owner');
  await openPool(page, 'KRE (Node-locked)');
  await page.locator('#usage-chart').waitFor();
  await page.getByRole('tablist', { name: 'Usage period' }).getByRole('tab', { name: '30 days' }).click();
  const chart = page.locator('#usage-chart[data-buckets="720"]');
  await chart.waitFor();
  const since = await chart.getAttribute('data-since');
  const until = await chart.getAttribute('data-until');
  const api = await pageFetch(page, 'GET', `/api/v1/orgs/acme/pools/${env('TESSERA_POOL_KRE_NL')}/usage?since=${since}&until=${until}`, null, false);
  assert.equal(api.status, 200);
  assert.ok(api.json.hours.length > 200, `${api.json.hours.length} hours of history`);
  const refusedOf = (h) => h.refused.quota + h.refused.machine_quota + h.refused.expired;
  const bars = await page.locator('#usage-chart rect.usage-bar').evaluateAll((rs) => rs.map((r) => ({
    start: Number(r.dataset.start), peak: Number(r.dataset.peak), refused: Number(r.dataset.refused) })));
  assert.deepEqual(bars, api.json.hours.map((h) => ({ start: h.hour, peak: h.peak, refused: refusedOf(h) })));
  const marks = await page.locator('#usage-chart .usage-refusal').count();
  assert.equal(marks, api.json.hours.filter((h) => refusedOf(h) > 0).length);
  assert.ok(marks > 10);
  assert.equal(Math.max(...bars.map((b) => b.peak)), 3);

  const section = page.locator('#usage');
  await section.scrollIntoViewIfNeeded();
  await section.screenshot({ path: join(OUT, 'usage-chart-month.png') });
  if (process.env.TESSERA_USAGE_SCREENSHOT)
    await section.screenshot({ path: process.env.TESSERA_USAGE_SCREENSHOT });
});

test('no request left 127.0.0.1', () => {
  assert.deepEqual(offLoopback, []);
});
