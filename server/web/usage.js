// Tessera web admin: the Usage view of a pool (GET …/pools/{pool}/usage,
// docs/protocol.md). A file of its own, loaded after app.js, whose helpers
// (el, api, orgPath, state) it uses. The chart is drawn here as inline SVG:
// no chart library, nothing fetched but our own API.
'use strict';

const USAGE_RANGES = [7, 30, 365]; // days; 365 is drawn per day, the others per hour
const SVG_NS = 'http://www.w3.org/2000/svg';
const USAGE_W = 960;
const USAGE_H = 260;
const USAGE_PAD = { left: 44, right: 12, top: 18, bottom: 28 };

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}

const usageIso = (t) => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const usageRefused = (r) => r.quota + r.machine_quota + r.expired;

// The period of the last @days, in whole buckets ending with the current one.
function usagePeriod(days, now) {
  const step = days === 365 ? 86400 : 3600;
  const count = days === 365 ? 365 : days * 24;
  const last = now - (now % step);
  return { step, count, since: last - (count - 1) * step, until: now };
}

// The API's hours (only those with usage) in the period's buckets: a day
// keeps the peak of its hours and adds up their counts.
function usageBuckets(data, period) {
  const buckets = Array.from({ length: period.count }, (_, i) => ({
    start: period.since + i * period.step, peak: 0, quota: null, activations: 0,
    refused: { quota: 0, machine_quota: 0, expired: 0 }, users: 0, machines: 0, hours: 0,
  }));
  for (const h of data.hours) {
    const i = Math.floor((h.hour - period.since) / period.step);
    if (i < 0 || i >= buckets.length) continue;
    const b = buckets[i];
    b.hours++;
    b.peak = Math.max(b.peak, h.peak);
    b.quota = Math.max(b.quota ?? 0, h.quota);
    b.activations += h.activations;
    for (const k of Object.keys(b.refused)) b.refused[k] += h.refused[k];
    b.users = Math.max(b.users, h.users);
    b.machines = Math.max(b.machines, h.machines);
  }
  // Hours without usage still had the quota of their time: the nearest known.
  let quota = null;
  for (const b of buckets) quota = b.quota = b.quota ?? quota;
  quota = data.quota;
  for (let i = buckets.length - 1; i >= 0; i--) quota = buckets[i].quota = buckets[i].quota ?? quota;
  return buckets;
}

function usageChart(pool, days, period, buckets) {
  const innerW = USAGE_W - USAGE_PAD.left - USAGE_PAD.right;
  const innerH = USAGE_H - USAGE_PAD.top - USAGE_PAD.bottom;
  const top = Math.max(1, ...buckets.map((b) => Math.max(b.peak, b.quota)));
  const bw = innerW / buckets.length;
  const x = (i) => USAGE_PAD.left + i * bw;
  const y = (v) => USAGE_PAD.top + innerH - (v / top) * innerH;
  const unit = period.step === 3600 ? 'hour' : 'day';
  const peak = Math.max(0, ...buckets.map((b) => b.peak));
  const refused = buckets.reduce((n, b) => n + usageRefused(b.refused), 0);
  const full = buckets.filter((b) => b.peak >= b.quota && b.quota > 0).length;
  const title = `${poolLabel(pool)}: seats in use (peak per ${unit}) against the quota, last ${days} days`;
  const desc = `Highest: ${peak} of ${pool.quota} seats. ${full} ${unit}${full === 1 ? '' : 's'} with every seat in use. ` +
    `${refused} refused activation${refused === 1 ? '' : 's'}, marked in red above the ${unit}s they happened in.`;

  const grid = [0, Math.round(top / 2), top].filter((v, i, a) => a.indexOf(v) === i).map((v) => svgEl('g', { class: 'usage-grid' },
    svgEl('line', { x1: USAGE_PAD.left, x2: USAGE_W - USAGE_PAD.right, y1: y(v), y2: y(v) }),
    svgEl('text', { x: USAGE_PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', text: v })));
  const labels = [0, Math.floor(buckets.length / 2), buckets.length - 1].map((i, n) => svgEl('text', {
    class: 'usage-axis', x: n === 0 ? x(i) : n === 1 ? x(i) + bw / 2 : x(i) + bw, y: USAGE_H - 8,
    'text-anchor': n === 0 ? 'start' : n === 1 ? 'middle' : 'end', text: usageIso(buckets[i].start).slice(0, period.step === 3600 ? 13 : 10).replace('T', ' ') + (period.step === 3600 ? ':00' : ''),
  }));
  const bars = buckets.map((b, i) => b.hours === 0 ? null : svgEl('rect', {
    class: b.peak >= b.quota && b.quota > 0 ? 'usage-bar full' : 'usage-bar',
    x: x(i) + (bw > 3 ? 0.5 : 0), width: Math.max(bw - (bw > 3 ? 1 : 0), 0.8),
    y: y(b.peak), height: Math.max(innerH - (y(b.peak) - USAGE_PAD.top), 0),
    'data-start': b.start, 'data-peak': b.peak, 'data-quota': b.quota, 'data-activations': b.activations,
    'data-refused': usageRefused(b.refused),
  }, svgEl('title', { text: `${usageIso(b.start)}: peak ${b.peak} of ${b.quota}, ${b.activations} activations, ${usageRefused(b.refused)} refused` })));
  // The quota as a step line through each bucket.
  const quotaPath = buckets.map((b, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(b.quota).toFixed(1)}H${(x(i) + bw).toFixed(1)}`).join('');
  const marks = buckets.map((b, i) => usageRefused(b.refused) === 0 ? null : svgEl('path', {
    class: 'usage-refusal', d: `M${(x(i) + bw / 2).toFixed(1)},${(USAGE_PAD.top - 2).toFixed(1)}l-5,-9h10z`,
    'data-start': b.start, 'data-refused': usageRefused(b.refused),
  }, svgEl('title', { text: `${usageIso(b.start)}: ${b.refused.quota} refused (all seats in use), ${b.refused.machine_quota} (no machine registration left), ${b.refused.expired} (subscription ended)` })));

  return svgEl('svg', {
    id: 'usage-chart', role: 'img', viewBox: `0 -12 ${USAGE_W} ${USAGE_H + 12}`, width: '100%',
    'aria-labelledby': 'usage-chart-title usage-chart-desc', 'data-since': period.since, 'data-until': period.until,
    'data-step': period.step, 'data-buckets': buckets.length,
  }, svgEl('title', { id: 'usage-chart-title', text: title }), svgEl('desc', { id: 'usage-chart-desc', text: desc }),
  grid, bars, svgEl('path', { class: 'usage-quota', d: quotaPath }), marks, labels);
}

function usageTable(period, buckets) {
  const unit = period.step === 3600 ? 'Hour' : 'Day';
  const rows = buckets.filter((b) => b.hours > 0).reverse().map((b) => [
    el('time', { datetime: usageIso(b.start), text: usageIso(b.start) }), b.peak, b.quota, b.activations,
    b.refused.quota, b.refused.machine_quota, b.refused.expired, b.users, b.machines]);
  return el('details', { id: 'usage-table' }, el('summary', { text: 'The numbers (table)' }),
    table([`${unit} (UTC)`, 'Peak in use', 'Quota', 'Activations', 'Refused: all in use', 'Refused: machines',
      'Refused: expired', 'Users', 'Machines'], rows, 'No usage in this period.'));
}

async function renderUsage(content, pool, base, days) {
  const period = usagePeriod(days, Math.floor(Date.now() / 1000));
  const query = `?since=${period.since}&until=${period.until}`;
  const data = await api('GET', `${base}/usage${query}`);
  const buckets = usageBuckets(data, period);
  const legend = el('p', { class: 'note usage-legend' },
    el('span', { class: 'key bar' }), 'Peak seats in use ',
    el('span', { class: 'key full' }), 'Every seat in use ',
    el('span', { class: 'key quota' }), 'Quota ',
    el('span', { class: 'key refusal' }), 'Refused activations');
  const csv = el('a', {
    id: 'usage-csv', class: 'button-link', href: `${API}${base}/usage${query}&format=csv`,
    download: `usage-${state.org.id}-${pool.product}-${pool.kind}-${days}d.csv`, text: 'Download CSV',
  });
  content.replaceChildren(usageChart(pool, days, period, buckets), legend, csv, usageTable(period, buckets));
}

// The Usage section of a pool's page (renderPool() in app.js).
function usageSection(pool, base) {
  const days = USAGE_RANGES.includes(state.usageDays) ? state.usageDays : 7;
  const content = el('div', { id: 'usage-content' }, el('p', { class: 'note', text: 'Loading…' }));
  const load = (d) => renderUsage(content, pool, base, d).catch((e) => {
    content.replaceChildren(el('p', { class: 'error', role: 'alert', text: e.message }));
  });
  const range = el('div', { class: 'tabs usage-range', role: 'tablist', 'aria-label': 'Usage period' },
    USAGE_RANGES.map((d) => el('button', {
      type: 'button', role: 'tab', 'aria-selected': String(d === days), 'data-days': d, text: `${d} days`,
      onclick: (ev) => {
        state.usageDays = d;
        for (const b of range.children) b.setAttribute('aria-selected', String(b === ev.currentTarget));
        load(d);
      },
    })));
  load(days);
  return el('section', { id: 'usage', 'aria-labelledby': 'usage-heading' },
    el('h2', { id: 'usage-heading', text: 'Usage' }), range, content);
}
