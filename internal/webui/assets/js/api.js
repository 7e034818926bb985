// api.js: the one way the web apps talk to Tailor, over the public API v1.

/** ApiError is a failed call: the HTTP status (0 when the server could not
 * be reached) and the API's error message. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
  /** field is the parameter or field the API's message names first
   * ("max_per_category: -1 must be ..." names max_per_category). */
  get field() {
    const m = /^([a-z_][a-z0-9_.[\]]*):/.exec(this.message);
    return m ? m[1].replace(/\[\d+\]$/, '') : '';
  }
}

/** Client calls the API with an optional key (Bearer). */
export class Client {
  constructor(key = '') { this.key = key; }

  async call(method, path, {query, body} = {}) {
    let url = path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null || v === '') continue;
        q.set(k, String(v));
      }
      const s = q.toString();
      if (s) url += '?' + s;
    }
    const headers = {};
    if (this.key) headers.Authorization = 'Bearer ' + this.key;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (e) {
      throw new ApiError(0, 'The server cannot be reached (' + e.message + ').');
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!resp.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : `${resp.status} ${resp.statusText}`;
      throw new ApiError(resp.status, msg, data);
    }
    return data;
  }
  get(path, query) { return this.call('GET', path, {query}); }
  post(path, body, query) { return this.call('POST', path, {body, query}); }
  put(path, body) { return this.call('PUT', path, {body}); }
  del(path) { return this.call('DELETE', path); }
}

/** settle turns a call into {ok, value} or {ok: false, error}, so that one
 * failed list shows its message beside the others. */
export const settle = p => p.then(value => ({ok: true, value}), error => ({ok: false, error}));

/** loadConfig reads the web UI's configuration from the server. */
export async function loadConfig() {
  const resp = await fetch('/ui/config.json');
  if (!resp.ok) throw new ApiError(resp.status, 'The web UI configuration could not be read.');
  return resp.json();
}

/** h builds an element: h('div', {class: 'x', onclick: f}, child, ...). */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** errorBox shows a failed call as a message, never a blank page. */
export function errorBox(err, what) {
  const msg = err instanceof ApiError ? err.message : String(err && err.message || err);
  return h('div', {class: 'error', role: 'alert'}, what ? `${what}: ${msg}` : msg);
}

/** money formats a price in its currency. */
export function money(v, currency) {
  if (v === undefined || v === null) return '';
  try {
    return new Intl.NumberFormat('en-GB', {style: 'currency', currency: currency || 'GBP'}).format(v);
  } catch {
    return v.toFixed(2) + ' ' + (currency || '');
  }
}

/** fmt formats a number with d decimals. */
export function fmt(v, d = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  return Number(v).toLocaleString('en-GB', {minimumFractionDigits: d, maximumFractionDigits: d});
}

function hash(s) {
  let x = 2166136261;
  for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619); }
  return x >>> 0;
}

const SVG = 'http://www.w3.org/2000/svg';

/** placeholder draws a product picture from the item itself (no image is
 * ever fetched): colours from a hash of its id, a shape from its
 * collection, the initials of its title. */
export function placeholder(item) {
  const id = String(item.id || item.item_id || '');
  const title = (item.title || id).trim();
  const x = hash(id);
  const hue = x % 360, hue2 = (hue + 40 + (x >> 9) % 80) % 360;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 120 90');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const add = (tag, attrs) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  add('rect', {width: 120, height: 90, fill: `hsl(${hue} 55% 88%)`});
  const cat = ((item.categories || [])[0] || '').toLowerCase();
  const fill = `hsl(${hue2} 50% 62%)`;
  if (cat.includes('tea') || cat.includes('tableware')) add('ellipse', {cx: 60, cy: 52, rx: 30, ry: 22, fill});
  else if (cat.includes('light') || cat.includes('christmas')) add('polygon', {points: '60,12 76,70 44,70', fill});
  else if (cat.includes('bag')) add('rect', {x: 36, y: 28, width: 48, height: 44, rx: 6, fill});
  else add('circle', {cx: 60 + (x % 21) - 10, cy: 46, r: 24 + (x >> 5) % 8, fill});
  const initials = title.split(/\s+/).filter(w => /^[A-Za-z]/.test(w)).slice(0, 2).map(w => w[0].toUpperCase()).join('');
  const t = add('text', {x: 60, y: 58, 'text-anchor': 'middle', 'font-size': 26, 'font-family': 'system-ui, sans-serif', 'font-weight': 700, fill: `hsl(${hue} 45% 28%)`});
  t.textContent = initials || '?';
  return svg;
}
