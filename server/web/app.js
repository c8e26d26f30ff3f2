// Tessera web admin. Plain JavaScript, no framework and no build step: it
// calls the same documented /api/v1 endpoints as tessera-admin and the
// products (docs/protocol.md). The server decides what anyone may do; the
// page only hides controls a member could not use anyway.
'use strict';

const API = '/api/v1';
const POOL_ORDER = ['KSE node-locked', 'KSE floating', 'KRE node-locked', 'KRE floating'];

const state = {
  session: null,   // GET /web/session: user, orgs, csrf_token
  org: null,       // the selected org {id, name, role}
  page: null,      // the selected page name
  poolId: null,    // the selected pool tab
  usageDays: 7,    // the period of the Usage chart (usage.js)
};

const $ = (id) => document.getElementById(id);

// ---- DOM helpers: text only, never HTML from data ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmtTime(t) {
  if (!t) return '-';
  return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}
// A registered machine's component changes, newest first (server: the
// "machine.replace" audit records): which parts changed, never any digest.
function machineChanges(changes) {
  if (changes.length === 0) return '—';
  return el('ul', { class: 'changes', 'data-machine-changes': '' }, ...changes.map((c) => {
    const parts = [];
    if (c.changed) parts.push(`${c.changed.split(',').join(', ')} changed`);
    if (c.unread) parts.push(`${c.unread.split(',').join(', ')} not read`);
    return el('li', { text: `${fmtTime(c.at)}: ${parts.join('; ') || 'no change'} (was ${c.from})` });
  }));
}

function fmtDate(t) {
  return t ? new Date(t * 1000).toISOString().slice(0, 10) : '-';
}

function table(headers, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty', text: empty });
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) =>
      c instanceof Node ? el('td', {}, c) : el('td', { text: c === null || c === undefined ? '-' : String(c) }))))));
}

function errorBox(id) {
  return el('p', { class: 'error', id, role: 'alert', hidden: true });
}
function showError(box, err) {
  box.textContent = err ? err.message : '';
  box.hidden = !err;
}

function flash(message, bad) {
  const f = $('flash');
  f.textContent = message;
  f.className = bad ? 'bad' : '';
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { f.hidden = true; }, 6000);
}

// In-page confirmation (a real dialog element would do too; this one is
// styled and testable the same way in every browser).
function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    $('dialog-title').textContent = title;
    $('dialog-text').textContent = text;
    $('dialog-ok').textContent = okLabel;
    $('dialog').hidden = false;
    const done = (v) => {
      $('dialog').hidden = true;
      $('dialog-ok').onclick = null;
      $('dialog-cancel').onclick = null;
      resolve(v);
    };
    $('dialog-ok').onclick = () => done(true);
    $('dialog-cancel').onclick = () => done(false);
    $('dialog-ok').focus();
  });
}

// ---- API ----

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, raw) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // A cookie is sent by the browser on its own: every change also carries
  // the session's CSRF token, which only this page can read.
  if (method !== 'GET' && state.session && state.session.csrf_token)
    headers['X-CSRF-Token'] = state.session.csrf_token;
  const res = await fetch(API + path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let code = 'failed';
    let message = `${method} ${path}: HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j.error) { code = j.error.code; message = j.error.message; }
    } catch (e) { /* not JSON: keep the status line */ }
    if (res.status === 429) {
      const after = res.headers.get('Retry-After');
      if (after) message += ` (Retry-After: ${after} s)`;
    }
    const err = new ApiError(res.status, code, message);
    // A sign-in's own 401 is its answer; anywhere else it means the session ended.
    if (res.status === 401 && path !== '/web/login' && path !== '/web/accept-invite' && path !== '/web/session')
      signedOut('Your session has ended: sign in again.');
    throw err;
  }
  if (raw) return res;
  return res.status === 204 ? {} : res.json();
}

// ---- sign-in ----

function showOnly(view) {
  for (const v of ['login-view', 'invite-view', 'app-view']) $(v).hidden = v !== view;
  const signedIn = view === 'app-view';
  $('who').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  $('org-area').hidden = !signedIn || !state.session || state.session.orgs.length < 2;
}

function signedOut(message) {
  state.session = null;
  showOnly('login-view');
  if (message) flash(message, true);
}

async function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('invite-form').addEventListener('submit', onAcceptInvite);
  $('sign-out').addEventListener('click', onLogout);
  $('org-picker').addEventListener('change', () => {
    state.org = state.session.orgs.find((o) => o.id === $('org-picker').value);
    state.poolId = null;
    renderNav();
  });
  const m = /^#invite=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) {
    state.invite = m[1];
    history.replaceState(null, '', location.pathname); // the token leaves the address bar
    showOnly('invite-view');
    return;
  }
  try {
    state.session = await api('GET', '/web/session');
    enterApp();
  } catch (e) {
    showOnly('login-view');
  }
}

async function onLogin(ev) {
  ev.preventDefault();
  const box = $('login-error');
  showError(box, null);
  try {
    state.session = await api('POST', '/web/login', {
      email: $('login-email').value.trim(), password: $('login-password').value,
    });
    $('login-password').value = '';
    enterApp();
  } catch (e) {
    showError(box, e);
  }
}

async function onAcceptInvite(ev) {
  ev.preventDefault();
  try {
    state.session = await api('POST', '/web/accept-invite', {
      token: state.invite, password: $('invite-password').value,
    });
    $('invite-password').value = '';
    enterApp();
  } catch (e) {
    showError($('invite-error'), e);
  }
}

async function onLogout() {
  try { await api('POST', '/web/logout'); } catch (e) { /* signed out either way */ }
  state.session = null;
  state.org = null;
  showOnly('login-view');
}

function enterApp() {
  const s = state.session;
  $('who').textContent = s.user.email;
  const picker = $('org-picker');
  picker.replaceChildren(...s.orgs.map((o) => el('option', { value: o.id, text: `${o.name} (${o.role})` })));
  state.org = s.orgs.find((o) => state.org && o.id === state.org.id) || s.orgs[0] || null;
  if (state.org) picker.value = state.org.id;
  showOnly('app-view');
  renderNav();
}

const isAdmin = () => state.org && (state.org.role === 'owner' || state.org.role === 'admin');
const isOwner = () => state.org && state.org.role === 'owner';

// ---- navigation ----

const PAGES = {
  licenses: { title: 'License Management', admin: true, render: renderLicenses },
  summary: { title: 'Summary', admin: true, render: renderSummary },
  members: { title: 'Members', admin: true, render: renderMembers },
  audit: { title: 'Audit log', admin: true, render: renderAudit },
  mine: { title: 'My licenses', admin: false, render: renderMine },
  keys: { title: 'API keys', admin: false, render: renderKeys },
  account: { title: 'Account', admin: false, render: renderAccount },
};

function renderNav() {
  const names = Object.keys(PAGES).filter((n) => !PAGES[n].admin || isAdmin());
  if (!names.includes(state.page)) state.page = names[0];
  $('nav').replaceChildren(...names.map((n) => el('button', {
    type: 'button', role: 'tab', 'aria-selected': String(n === state.page), 'data-page': n,
    text: PAGES[n].title, onclick: () => { state.page = n; renderNav(); },
  })));
  // Each navigation renders into a view of its own: a slower page still
  // loading from an earlier click then fills a view no longer shown,
  // instead of overwriting the page the user moved to.
  const page = el('div', { class: 'view' }, el('p', { class: 'note', text: 'Loading…' }));
  stopRefresh();
  refresher.view = null;
  $('page').replaceChildren(page);
  if (!state.org && PAGES[state.page].admin) {
    page.replaceChildren(el('p', { class: 'empty', text: 'You belong to no organization yet.' }));
    return;
  }
  PAGES[state.page].render(page).catch((e) => {
    page.replaceChildren(el('p', { class: 'error', role: 'alert', text: e.message }));
  });
}

const orgPath = (rest) => `/orgs/${encodeURIComponent(state.org.id)}${rest}`;
const poolLabel = (p) => `${p.product} (${p.kind === 'floating' ? 'Floating' : 'Node-locked'})`;

// ---- License Management ----

async function renderLicenses(page) {
  const [{ pools }, { members }] = await Promise.all([
    api('GET', orgPath('/pools')), api('GET', orgPath('/members')),
  ]);
  pools.sort((a, b) => POOL_ORDER.indexOf(`${a.product} ${a.kind}`) - POOL_ORDER.indexOf(`${b.product} ${b.kind}`));
  const head = el('h1', { text: 'License Management' });
  if (pools.length === 0) {
    page.replaceChildren(head, el('p', { class: 'empty', text: 'This organization has no license pools.' }));
    return;
  }
  if (!pools.some((p) => p.id === state.poolId)) state.poolId = pools[0].id;
  const pool = pools.find((p) => p.id === state.poolId);
  const tabs = el('div', { class: 'tabs pooltabs', role: 'tablist', 'aria-label': 'License pools' },
    pools.map((p) => el('button', {
      type: 'button', role: 'tab', 'aria-selected': String(p.id === pool.id), text: poolLabel(p),
      onclick: () => { state.poolId = p.id; renderNav(); },
    })));
  const body = el('div', { id: 'pool-body' });
  page.replaceChildren(head, tabs, body);
  await renderPool(body, pool, members);
}

async function renderPool(body, pool, members) {
  const base = orgPath(`/pools/${encodeURIComponent(pool.id)}`);
  const nodeLocked = pool.kind === 'node-locked';
  const emailOf = new Map(members.map((m) => [m.user_id, m.email]));
  const who = (id) => emailOf.get(id) || id;
  const refresh = () => renderNav();

  // The forms are built once; the data around them (the stats and the
  // tables) is filled by fill(), which the auto-refresh calls again, so a
  // refresh never takes away what the user is typing or choosing.
  const stats = el('div', { class: 'stats' });
  const grantsBox = el('div', { 'data-section': 'grants' });
  const machinesBox = el('div', { 'data-section': 'machines' });
  const sessionsBox = el('div', { 'data-section': 'sessions' });
  const offlineBox = el('div', { 'data-section': 'offline' });
  const parts = [stats];

  // Licensed Users (node-locked: a grant per user, at most the quota).
  const grantBox = errorBox('grant-error');
  const pick = el('select', { id: 'grant-user', 'aria-label': 'Member to grant' });
  if (nodeLocked) {
    const grantBtn = el('button', {
      type: 'button', id: 'grant-button', text: 'Grant license',
      onclick: async () => {
        showError(grantBox, null);
        try {
          await api('POST', `${base}/grants`, { user_id: pick.value });
          flash('License granted.');
          refresh();
        } catch (e) { showError(grantBox, e); }
      },
    });
    parts.push(el('h2', { text: 'Licensed Users' }),
      el('div', { class: 'inline' }, el('label', {}, 'Member', pick), grantBtn), grantBox, grantsBox);
  }

  // Online Licenses: registered machines and live sessions.
  const onlineBox = errorBox('online-error');
  parts.push(el('h2', { text: 'Online Licenses' }), onlineBox,
    el('p', { class: 'note', text: 'Host name and OS are what the client says about itself: shown to tell machines apart, never checked.' }),
    el('h3', { text: 'Registered machines' }), machinesBox,
    el('h3', { text: 'Sessions' }), sessionsBox);

  // Offline Licenses: annual node-locked pools only (docs/protocol.md).
  const offBox = errorBox('offline-error');
  parts.push(el('h2', { text: 'Offline Licenses' }));
  if (nodeLocked && pool.billing === 'annual') {
    const input = el('input', { id: 'offline-machine', placeholder: 'XXXX-XXXX-XXXX-XXXX', autocomplete: 'off', 'aria-label': 'Machine ID' });
    const form = el('div', { class: 'inline', hidden: true, id: 'offline-form' },
      el('label', {}, 'Machine ID of the user\'s computer', input),
      el('button', {
        type: 'button', id: 'offline-create', text: 'Create',
        onclick: async () => {
          showError(offBox, null);
          const machine = input.value.trim();
          if (!machine) { showError(offBox, new Error('Enter the machine ID the user sent you.')); return; }
          const ok = await confirmDialog('Create Offline License',
            `An offline license binds one ${pool.product} license to machine ${machine} until it expires. ` +
            'This cannot be undone: it cannot be revoked or moved to another machine.', 'Create and download');
          if (!ok) return;
          try {
            const res = await api('POST', `${base}/offline`, { machine_id: machine }, true);
            const blob = await res.blob();
            const cd = res.headers.get('Content-Disposition') || '';
            const m = /filename="([^"]+)"/.exec(cd);
            const a = el('a', { href: URL.createObjectURL(blob), download: m ? m[1] : `${pool.product}_${machine}.lic` });
            document.body.append(a);
            a.click();
            a.remove();
            flash(`Created ${a.download}.`);
            refresh();
          } catch (e) { showError(offBox, e); }
        },
      }));
    parts.push(el('button', {
      type: 'button', id: 'offline-open', text: 'Create Offline License',
      onclick: () => { form.hidden = false; input.focus(); },
    }), form);
  } else {
    parts.push(el('p', { class: 'note', text: 'Offline licenses can be created only from annual node-locked pools.' }));
  }
  parts.push(offBox, offlineBox);
  parts.push(usageSection(pool, base)); // usage.js

  const fill = async () => {
    const [{ pools }, grants, machines, sessions, offline] = await Promise.all([
      api('GET', orgPath('/pools')),
      nodeLocked ? api('GET', `${base}/grants`) : Promise.resolve({ grants: [] }),
      api('GET', `${base}/machines`), api('GET', `${base}/sessions`), api('GET', `${base}/offline`),
    ]);
    const now = pools.find((p) => p.id === pool.id) || pool;
    fillPoolStats(stats, now, nodeLocked);
    if (nodeLocked) {
      const granted = new Set(grants.grants.map((g) => g.user_id));
      // The choice stays while the user is on it.
      if (document.activeElement !== pick) {
        const chosen = pick.value;
        pick.replaceChildren(...members.filter((m) => !granted.has(m.user_id))
          .map((m) => el('option', { value: m.user_id, text: m.email, selected: m.user_id === chosen })));
      }
      grantsBox.replaceChildren(table(['User', 'Granted', ''], grants.grants.map((g) => [g.email, fmtTime(g.granted_at),
        el('button', {
          type: 'button', class: 'small danger', 'data-revoke': g.email, text: 'Revoke',
          onclick: async () => {
            try { await api('DELETE', `${base}/grants/${encodeURIComponent(g.user_id)}`); flash(`Revoked ${g.email}.`); refresh(); }
            catch (e) { showError(grantBox, e); }
          },
        })]), 'No user is licensed yet.'));
    }
    machinesBox.replaceChildren(table(['Machine ID', 'Host name', 'OS', 'User', 'Registered', 'Last seen', 'Hardware changes', ''], machines.machines.map((m) => [
      el('span', { class: 'mono', text: m.machine_id }), clientText(m.hostname, 'hostname'), clientText(m.os, 'os'),
      who(m.user_id), fmtTime(m.registered_at), fmtTime(m.last_seen),
      machineChanges(m.changes || []),
      el('button', {
        type: 'button', class: 'small danger', 'data-remove-machine': m.machine_id, text: 'Remove machine',
        onclick: async () => {
          if (!await confirmDialog('Remove machine', `Remove machine ${m.machine_id}? Its running sessions end.`, 'Remove')) return;
          try { await api('DELETE', `${base}/machines/${encodeURIComponent(m.machine_id)}`); flash(`Removed machine ${m.machine_id}.`); refresh(); }
          catch (e) { showError(onlineBox, e); }
        },
      })]), 'No machine is registered.'));
    sessionsBox.replaceChildren(table(['User', 'Machine ID', 'Host name', 'OS', 'Started', 'Last heartbeat', 'Lease expires', ''], sessions.sessions.map((s) => [
      who(s.user_id), el('span', { class: 'mono', text: s.machine_id }), clientText(s.hostname, 'hostname'), clientText(s.os, 'os'),
      fmtTime(s.started_at), fmtTime(s.last_heartbeat), localIsoTime(s.lease_expires_at, 'lease'),
      el('button', {
        type: 'button', class: 'small danger', 'data-release': s.id, text: 'Force release',
        onclick: async () => {
          if (!await confirmDialog('Force release', `End the session of ${who(s.user_id)} on ${s.machine_id}?`, 'Release')) return;
          try { await api('DELETE', `${base}/sessions/${encodeURIComponent(s.id)}`); flash('Session released.'); refresh(); }
          catch (e) { showError(onlineBox, e); }
        },
      })]), 'No live session.'));
    offlineBox.replaceChildren(table(['Machine ID', 'Created', 'Expires', 'Created by'], offline.offline.map((o) => [
      el('span', { class: 'mono', text: o.machine_id }), fmtTime(o.created_at), fmtDate(o.expires_at), o.created_by ? who(o.created_by) : 'tessera-admin',
    ]), 'No offline license.'));
  };
  await fill();
  body.replaceChildren(...parts, refreshNote());
  autoRefresh(body, fill);
}

function fillPoolStats(stats, pool, nodeLocked) {
  const stat = (k, v, id) => el('div', { class: 'stat', 'data-stat': id }, el('div', { class: 'k', text: k }), el('div', { class: 'v', text: v }));
  stats.replaceChildren(
    stat('Quota', pool.quota, 'quota'),
    stat('In use (online)', pool.sessions, 'online'),
    stat('In use (offline)', pool.offline, 'offline'),
    nodeLocked ? stat('Licensed users', pool.granted, 'granted') : stat('Registered machines', pool.machines, 'machines'),
    stat('Subscription end', fmtDate(pool.subscription_end), 'end'),
    stat('Billing', pool.billing, 'billing'));
}

// What a client said about itself (docs/protocol.md, "Client
// information"): text only, as any other data, and marked as unchecked.
function clientText(v, what) {
  if (!v) return el('span', { class: 'empty', 'data-client': what, title: 'not sent by this client', text: '—' });
  return el('span', { 'data-client': what, title: 'as reported by the client, unchecked', text: v });
}

// A time in the browser's time zone, ISO 8601 with its offset (the lease
// is what a user on the same site reads against their own clock); UTC in
// the tooltip and the datetime attribute.
function localIsoTime(t, what) {
  if (!t) return '-';
  const d = new Date(t * 1000);
  const pad = (n) => String(Math.abs(n)).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${off < 0 ? '-' : '+'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
  const utc = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return el('time', { datetime: utc, title: utc, 'data-time': what, text });
}

// ---- Auto-refresh ----

// The data of the view on screen is fetched again every REFRESH_MS while
// the page is visible: nothing while hidden (a background tab costs the
// server nothing), at once when shown again. Only the one view on screen
// refreshes: renderNav() replaces the view, and a view no longer in the
// document stops its refresh.
const REFRESH_MS = 10000;
const refresher = { view: null, fill: null, timer: null, busy: false };

function refreshNote() {
  return el('p', { class: 'note', id: 'refresh-note', text: `This page refreshes itself every ${REFRESH_MS / 1000} s while it is shown.` });
}

function autoRefresh(view, fill) {
  if (!view.isConnected) return; // the user moved on while it loaded
  stopRefresh();
  refresher.view = view;
  refresher.fill = fill;
  if (document.visibilityState === 'visible') refresher.timer = setInterval(refreshNow, REFRESH_MS);
}

function stopRefresh() {
  if (refresher.timer !== null) clearInterval(refresher.timer);
  refresher.timer = null;
}

async function refreshNow() {
  if (!refresher.view || !refresher.view.isConnected) {
    stopRefresh();
    refresher.view = null;
    return;
  }
  // A dialog open, or a slow answer still awaited: skip this round.
  if (refresher.busy || !$('dialog').hidden) return;
  refresher.busy = true;
  const view = refresher.view;
  // Counted as it starts, before any answer: what the tests read.
  view.dataset.refreshes = String((Number(view.dataset.refreshes) || 0) + 1);
  try {
    await refresher.fill();
  } catch (e) {
    /* a signed-out session is handled by api(); the next round tries again */
  } finally {
    refresher.busy = false;
  }
}

document.addEventListener('visibilitychange', () => {
  if (!refresher.view) return;
  stopRefresh();
  if (document.visibilityState === 'visible') {
    refreshNow();
    refresher.timer = setInterval(refreshNow, REFRESH_MS);
  }
});

// ---- Summary ----

// Every pool of the organization at a glance; each row opens its pool's
// tab in License Management.
async function renderSummary(page) {
  const view = el('div', { id: 'summary-body' });
  const fill = async () => {
    const { pools } = await api('GET', orgPath('/pools'));
    pools.sort((a, b) => POOL_ORDER.indexOf(`${a.product} ${a.kind}`) - POOL_ORDER.indexOf(`${b.product} ${b.kind}`));
    view.replaceChildren(table(
      ['Pool', 'Kind', 'Quota', 'In use (online)', 'Machines registered / quota', 'Offline licenses', 'Licensed users', 'Subscription end'],
      pools.map((p) => [
        el('a', {
          href: '#', 'data-pool': p.id, text: poolLabel(p),
          onclick: (ev) => { ev.preventDefault(); state.poolId = p.id; state.page = 'licenses'; renderNav(); },
        }),
        p.kind, p.quota, p.sessions, `${p.machines} / ${p.quota}`, p.offline,
        p.kind === 'node-locked' ? p.granted : '-', fmtDate(p.subscription_end),
      ]), 'This organization has no license pools.'));
  };
  await fill();
  page.replaceChildren(el('h1', { text: 'Summary' }), view, refreshNote());
  autoRefresh(page, fill);
}

// ---- Members ----

async function renderMembers(page) {
  const { members } = await api('GET', orgPath('/members'));
  const box = errorBox('members-error');
  const roles = ['member', 'admin', 'owner'];
  const parts = [el('h1', { text: 'Members' }), box,
    table(['Email', 'Role', ''], members.map((m) => [m.email,
      el('select', {
        'aria-label': `Role of ${m.email}`,
        onchange: async (ev) => {
          try { await api('POST', orgPath('/members'), { email: m.email, role: ev.target.value }); flash(`${m.email} is now ${ev.target.value}.`); renderNav(); }
          catch (e) { showError(box, e); ev.target.value = m.role; }
        },
      }, roles.map((r) => el('option', { value: r, selected: r === m.role, text: r }))),
      m.user_id === state.session.user.id ? '' : el('button', {
        type: 'button', class: 'small danger', text: 'Remove',
        onclick: async () => {
          if (!await confirmDialog('Remove member', `Remove ${m.email}? Their grants and sessions end.`, 'Remove')) return;
          try { await api('DELETE', orgPath(`/members/${encodeURIComponent(m.user_id)}`)); renderNav(); }
          catch (e) { showError(box, e); }
        },
      })]), 'No members.')];
  if (isOwner()) {
    const email = el('input', { id: 'invite-email', type: 'email', 'aria-label': 'Email to invite' });
    const role = el('select', { id: 'invite-role', 'aria-label': 'Role' }, roles.map((r) => el('option', { value: r, text: r })));
    const out = el('div', { id: 'invite-result' });
    parts.push(el('h2', { text: 'Invite a member' }),
      el('p', { class: 'note', text: 'The invitation is a one-time link, valid 7 days, that lets them choose their password. Send it to them privately.' }),
      el('div', { class: 'inline' }, el('label', {}, 'Email', email), el('label', {}, 'Role', role),
        el('button', {
          type: 'button', text: 'Invite',
          onclick: async () => {
            showError(box, null);
            try {
              const r = await api('POST', orgPath('/invites'), { email: email.value.trim(), role: role.value });
              out.replaceChildren(el('p', { text: `Invitation link for ${r.email} (shown once):` }),
                el('div', { class: 'secret mono', text: location.origin + r.setup_path }));
            } catch (e) { showError(box, e); }
          },
        })), out);
  }
  page.replaceChildren(...parts);
}

// ---- Audit ----

// ISO 8601 to the second, in UTC: one unambiguous form to compare with
// tessera-admin's output and other logs.
function isoTime(t) {
  const iso = new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return el('time', { datetime: iso, text: iso });
}

// People by email (the ids stay in the API's answer and in a tooltip).
function person(id, email) {
  if (!id) return 'tessera-admin';
  return email ? el('span', { title: id, 'data-user-id': id, text: email }) : id;
}

async function renderAudit(page) {
  const [{ audit }, { members }] = await Promise.all([
    api('GET', orgPath('/audit')), api('GET', orgPath('/members')),
  ]);
  const emailOf = new Map(members.map((m) => [m.user_id, m.email]));
  page.replaceChildren(el('h1', { text: 'Audit log' }), auditSeatsNote(),
    table(['When (UTC)', 'Actor', 'Action', 'Target', 'Detail'],
      audit.map((a) => [isoTime(a.at), person(a.actor, a.actor_email), a.action,
        a.target_email ? person(a.target, a.target_email) : a.target, auditDetail(a, emailOf)]), 'Nothing yet.'));
}

// A force release's detail is the user whose session it ended: by email.
function auditDetail(a, emailOf) {
  if (a.action === 'session.force-release' && a.detail && emailOf.has(a.detail))
    return person(a.detail, emailOf.get(a.detail));
  return a.detail;
}

// Why products' own activations and releases are not in this log, and
// where to see them: one record per activation would make every seat
// taken a second write and the log mostly seats; administrators' actions
// on seats (force release, machine removal, grants) are recorded here.
function auditSeatsNote() {
  const go = (name, label) => el('a', {
    href: '#', 'data-goto': name, text: label,
    onclick: (ev) => { ev.preventDefault(); state.page = name; renderNav(); },
  });
  const usage = PAGES.usage ? [', and their history per hour in ', go('usage', PAGES.usage.title)] : [];
  return el('p', { class: 'note', id: 'audit-seats-note' },
    'Administrators\' actions are recorded here, force releases and machine removals included. ' +
    'Seat activations and releases by products are not: see the live sessions of each pool in ',
    go('licenses', 'License Management'), ' and ', go('summary', 'Summary'), ...usage, '.');
}

// ---- My licenses (any member) ----

async function renderMine(page) {
  const { grants, sessions } = await api('GET', '/web/my-licenses');
  page.replaceChildren(el('h1', { text: 'My licenses' }),
    el('h2', { text: 'Granted to me' }),
    table(['Organization', 'Product', 'Kind', 'Granted'], grants.map((g) => [g.org_id, g.product, g.kind, fmtTime(g.granted_at)]),
      'No node-locked license is granted to you (floating licenses need no grant).'),
    el('h2', { text: 'My sessions' }),
    table(['Organization', 'Product', 'Kind', 'Machine ID', 'Started', 'Last heartbeat'],
      sessions.map((s) => [s.org_id, s.product, s.kind, s.machine_id, fmtTime(s.started_at), fmtTime(s.last_heartbeat)]),
      'No live session.'));
}

// ---- API keys (your own) ----

async function renderKeys(page) {
  const { keys } = await api('GET', '/keys');
  const box = errorBox('keys-error');
  const label = el('input', { id: 'key-label', 'aria-label': 'Key label', placeholder: 'laptop' });
  const out = el('div', { id: 'key-result' });
  if (state.newKey) {
    out.replaceChildren(el('p', { text: 'Your new key (copy it now; it is not shown again):' }),
      el('div', { class: 'secret mono', id: 'new-key', text: state.newKey }));
    state.newKey = null;
  }
  page.replaceChildren(el('h1', { text: 'API keys' }),
    el('p', { class: 'note', text: 'Products use an API key to activate online licenses. A key is shown once, when it is created.' }),
    el('div', { class: 'inline' }, el('label', {}, 'Label', label),
      el('button', {
        type: 'button', id: 'key-create', text: 'Create key',
        onclick: async () => {
          showError(box, null);
          try {
            const r = await api('POST', '/keys', { label: label.value.trim() });
            // Shown by the redrawn list, and only this once.
            state.newKey = r.key;
            renderNav();
          } catch (e) { showError(box, e); }
        },
      })), box, out,
    table(['Label', 'Prefix', 'Created', 'Revoked', ''], keys.map((k) => [k.label, el('span', { class: 'mono', text: k.prefix + '…' }),
      fmtTime(k.created_at), fmtTime(k.revoked_at),
      k.revoked_at ? '' : el('button', {
        type: 'button', class: 'small danger', text: 'Revoke',
        onclick: async () => {
          try { await api('DELETE', `/keys/${encodeURIComponent(k.id)}`); renderNav(); } catch (e) { showError(box, e); }
        },
      })]), 'No API key yet.'));
}

// ---- Account ----

async function renderAccount(page) {
  const cur = el('input', { id: 'pw-current', type: 'password', autocomplete: 'current-password' });
  const next = el('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password' });
  const box = errorBox('pw-error');
  page.replaceChildren(el('h1', { text: 'Account' }),
    el('p', { text: `Signed in as ${state.session.user.email}.` }),
    el('h2', { text: 'Change password' }),
    el('div', { class: 'narrow' }, el('label', {}, 'Current password', cur), el('label', {}, 'New password (at least 10 characters)', next),
      el('button', {
        type: 'button', id: 'pw-change', text: 'Change password',
        onclick: async () => {
          showError(box, null);
          try {
            await api('POST', '/web/password', { current_password: cur.value, new_password: next.value });
            cur.value = ''; next.value = '';
            flash('Password changed. Your other sessions were signed out.');
          } catch (e) { showError(box, e); }
        },
      }), box));
}

document.addEventListener('DOMContentLoaded', start);
