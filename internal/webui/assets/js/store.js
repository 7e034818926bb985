// store.js: the storefront. Every list comes from the API v1 and every
// view, click, add-to-cart and purchase goes back to it as an event that
// carries the recommendation_id of the list it came from.
import {Client, ApiError, loadConfig, h, errorBox, money, placeholder, settle} from './api.js';

const $ = id => document.getElementById(id);
const main = $('main');
let api = new Client();
let canListShoppers = true;

// ---- shopper, session and cart, kept in this browser ----
const saved = (k, d) => { try { return JSON.parse(localStorage.getItem(k)) ?? d; } catch { return d; } };
const keep = (k, v) => localStorage.setItem(k, JSON.stringify(v));
let shopper = saved('tailor.shopper', null); // {id, segment} or null (anonymous)
let session = saved('tailor.session', null);
if (!session) { session = 'web-' + Math.random().toString(36).slice(2, 12); keep('tailor.session', session); }
let cart = saved('tailor.cart', []); // [{id, qty, rec, title, price, currency}]
let viewed = saved('tailor.viewed', []); // the anonymous session's items

function who() { return shopper ? {user_id: shopper.id} : {session_id: session}; }

function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 2500);
}

/** track posts shopper events; a failure is shown, never thrown. */
async function track(events) {
  try {
    await api.post('/v1/storefront/events', events.map(e => ({...who(), ...e})));
  } catch (err) {
    toast('The event was not recorded: ' + err.message);
  }
}

function setCart(c) {
  cart = c;
  keep('tailor.cart', cart);
  const n = cart.reduce((s, l) => s + l.qty, 0);
  $('cart-link').textContent = `Cart (${n})`;
}

// ---- rendering ----
function productHref(id, rec) {
  return '#/p/' + encodeURIComponent(id) + (rec ? '?rec=' + encodeURIComponent(rec) : '');
}

/** card is one product of a recommendation list (or of the catalog). */
function card(it, rec) {
  const d = it.details || it;
  const id = it.item_id || d.id;
  let due = null;
  if (it.due && it.due.expected_next) {
    const when = new Date(it.due.expected_next);
    due = h('div', {class: 'due'}, (when < new Date() ? 'due since ' : 'due ') + when.toLocaleDateString('en-GB', {day: 'numeric', month: 'short', year: 'numeric'}));
  }
  const a = h('a', {class: 'card', href: productHref(id, rec), 'data-item': id, title: it.reason || d.title,
    dataset: it.reason ? {reason: it.reason} : {},
    onclick: () => { if (rec) track([{item_id: id, type: 'click', recommendation_id: rec}]); }},
  placeholder({...d, id}),
  h('div', {class: 't'}, d.title || id),
  h('div', {class: 'p'}, money(d.price, d.currency)),
  due,
  it.reason ? h('div', {class: 'r'}, it.reason) : null);
  return a;
}

/** section renders a recommendation response, or a message for none. */
function section(title, resp, empty, testid) {
  const items = resp && resp.items || [];
  return h('section', {'data-list': testid, 'data-rec': resp && resp.recommendation_id || ''},
    h('h2', {}, title, resp && resp.model ? h('span', {class: 'muted'}, ` · ${resp.model}`) : null),
    items.length ? h('div', {class: 'row'}, items.map(it => card(it, resp.recommendation_id))) : h('p', {class: 'muted'}, empty));
}


function sectionOr(title, res, empty, testid) {
  return res.ok ? section(title, res.value, empty, testid) : h('section', {'data-list': testid}, h('h2', {}, title), errorBox(res.error));
}

function ready(page) {
  main.dataset.ready = page;
  performance.mark('tailor-ready-' + page);
}

async function home() {
  main.replaceChildren(h('h1', {}, shopper ? `Welcome back, shopper ${shopper.id}` : 'Welcome'), h('p', {class: 'muted'}, 'Loading…'));
  const lists = [];
  if (shopper) {
    const u = encodeURIComponent(shopper.id);
    const [recs, again, trend] = await Promise.all([
      settle(api.get(`/v1/users/${u}/recommendations`, {n: 12, details: true})),
      settle(api.get(`/v1/users/${u}/buy-again`, {n: 6, details: true})),
      settle(api.get('/v1/trending', {n: 12, details: true})),
    ]);
    lists.push(sectionOr('Recommended for you', recs, 'Nothing to recommend yet.', 'recommended'),
      sectionOr('Buy it again', again, 'Nothing to buy again yet: buy something first.', 'buy-again'),
      sectionOr('Trending now', trend, 'Nothing is trending.', 'trending'));
  } else {
    const [sess, trend] = await Promise.all([
      viewed.length ? settle(api.post('/v1/sessions/recommendations', {items: viewed.slice(-10), n: 12, details: true})) : Promise.resolve(null),
      settle(api.get('/v1/trending', {n: 12, details: true})),
    ]);
    if (sess) lists.push(sectionOr('Based on what you looked at', sess, 'Nothing yet.', 'session'));
    lists.push(sectionOr('Trending now', trend, 'Nothing is trending.', 'trending'));
  }
  main.replaceChildren(h('h1', {}, shopper ? `Welcome back, shopper ${shopper.id}` : 'Welcome'),
    ...(shopper ? [] : [h('p', {class: 'notice'}, 'You are browsing anonymously: recommendations follow this visit. Pick a shopper (top right) to see a personal shop.')]),
    ...lists);
  ready('home');
}

async function category(cat) {
  main.replaceChildren(h('h1', {}, cat), h('p', {class: 'muted'}, 'Loading…'));
  let items = [];
  try {
    for (let cursor = ''; items.length < 1000;) {
      const page = await api.get('/v1/items', {category: cat, limit: 1000, cursor});
      items = items.concat(page.data);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
  } catch (err) {
    main.replaceChildren(h('h1', {}, cat), errorBox(err, 'The collection could not be read'));
    return;
  }
  if (!items.length) {
    main.replaceChildren(h('h1', {}, cat), h('p', {class: 'muted'}, 'This collection is empty.'));
    ready('category');
    return;
  }
  let body;
  if (shopper) {
    try {
      const resp = await api.post(`/v1/users/${encodeURIComponent(shopper.id)}/rerank`, {items: items.map(i => i.id).slice(0, 1000), n: 48, details: true});
      body = [h('p', {class: 'muted'}, `${items.length} products, ordered for shopper ${shopper.id} (rerank, ${resp.model}).`), section('Picked for you first', resp, '', 'category')];
    } catch (err) {
      body = [errorBox(err, 'This collection could not be ordered for you')];
    }
  } else {
    body = [h('p', {class: 'notice'}, `${items.length} products in catalog order. Pick a shopper to see this collection re-ranked for them.`),
      h('section', {'data-list': 'category'}, h('div', {class: 'row'}, items.slice(0, 48).map(it => card(it, ''))))];
  }
  main.replaceChildren(h('h1', {}, cat), ...body);
  ready('category');
}

async function product(id, rec) {
  main.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  let it;
  try {
    it = await api.get('/v1/items/' + encodeURIComponent(id));
  } catch (err) {
    main.replaceChildren(err instanceof ApiError && err.status === 404 ? h('div', {class: 'error'}, `There is no product with id ${id}.`) : errorBox(err, 'The product could not be read'));
    return;
  }
  track([{item_id: id, type: 'view', recommendation_id: rec || undefined}]);
  if (!shopper && !viewed.includes(id)) { viewed = viewed.concat(id).slice(-20); keep('tailor.viewed', viewed); }
  const q = encodeURIComponent(id);
  const [sim, fbt] = await Promise.all([
    settle(api.get(`/v1/items/${q}/similar`, {n: 8, details: true})),
    settle(api.get(`/v1/items/${q}/bought-together`, {n: 6, details: true})),
  ]);
  const inStock = it.in_stock !== false && (it.stock === undefined || it.stock > 0);
  const qty = h('input', {class: 'qty', type: 'number', min: 1, max: 999, value: 1, 'aria-label': 'Quantity'});
  const err = h('p', {class: 'field-error', hidden: true});
  const add = h('button', {type: 'button', id: 'add-to-cart', disabled: !inStock, onclick: () => {
    const n = Number(qty.value);
    if (!Number.isInteger(n) || n < 1 || n > 999) { err.textContent = 'Quantity: a whole number from 1 to 999.'; err.hidden = false; return; }
    err.hidden = true;
    const c = cart.slice();
    const line = c.find(l => l.id === id);
    if (line) line.qty += n; else c.push({id, qty: n, rec: rec || '', title: it.title || id, price: it.price, currency: it.currency});
    setCart(c);
    track([{item_id: id, type: 'add_to_cart', value: n, recommendation_id: rec || undefined}]);
    toast(`Added ${n} × ${it.title || id} to the cart`);
  }}, 'Add to cart');
  main.replaceChildren(
    h('div', {class: 'product', 'data-item': id},
      placeholder(it),
      h('div', {},
        h('h1', {}, it.title || id),
        h('div', {class: 'muted'}, (it.categories || []).join(' · '), it.brand ? ' · ' + it.brand : ''),
        h('div', {class: 'price'}, money(it.price, it.currency)),
        h('div', {class: inStock ? 'stock-in' : 'stock-out'}, inStock ? (it.stock !== undefined ? `In stock (${it.stock})` : 'In stock') : 'Out of stock'),
        it.description ? h('p', {}, it.description) : null,
        h('p', {}, qty, ' ', add), err,
        h('p', {class: 'muted'}, `Item ${id}`))),
    sectionOr('Similar products', sim, 'No similar products.', 'similar'),
    sectionOr('Frequently bought together', fbt, 'No product is bought with this one often enough to say.', 'bought-together'));
  ready('product');
}

async function search(q) {
  main.replaceChildren(h('h1', {}, `Search: ${q}`), h('p', {class: 'muted'}, 'Searching…'));
  try {
    const resp = await api.get('/v1/search', {q, user: shopper ? shopper.id : '', n: 24, details: true});
    main.replaceChildren(h('h1', {}, `Search: ${q}`), section(shopper ? `Results for shopper ${shopper.id}` : 'Results', resp, `Nothing matches “${q}”.`, 'search'));
  } catch (err) {
    main.replaceChildren(h('h1', {}, `Search: ${q}`), errorBox(err, 'The search failed'));
  }
  ready('search');
}

async function cartPage() {
  const total = cart.reduce((s, l) => s + (l.price || 0) * l.qty, 0);
  const rows = cart.map(l => h('tr', {'data-item': l.id},
    h('td', {}, h('a', {href: productHref(l.id, l.rec)}, l.title)),
    h('td', {class: 'n'}, money(l.price, l.currency)),
    h('td', {class: 'n'}, String(l.qty)),
    h('td', {class: 'n'}, money((l.price || 0) * l.qty, l.currency)),
    h('td', {}, h('button', {type: 'button', class: 'secondary', onclick: () => {
      setCart(cart.filter(x => x.id !== l.id));
      track([{item_id: l.id, type: 'remove_from_cart', value: l.qty}]);
      cartPage();
    }}, 'Remove'))));
  const parts = [h('h1', {}, 'Your cart')];
  if (!cart.length) {
    parts.push(h('p', {class: 'muted'}, 'The cart is empty.'));
  } else {
    parts.push(h('table', {id: 'cart'}, h('tr', {}, h('th', {}, 'Product'), h('th', {class: 'n'}, 'Price'), h('th', {class: 'n'}, 'Qty'), h('th', {class: 'n'}, 'Total'), h('th', {})), rows,
      h('tr', {}, h('th', {colspan: 3}, 'Total'), h('th', {class: 'n', id: 'cart-total'}, money(total, cart[0].currency)), h('th', {}))),
    h('p', {}, h('button', {type: 'button', id: 'checkout', onclick: checkout}, 'Buy now')));
    const recs = await settle(api.post('/v1/carts/recommendations', {items: cart.map(l => l.id).slice(0, 100), n: 6, details: true}));
    parts.push(sectionOr('Complete your cart', recs, 'Nothing to suggest.', 'cart'));
  }
  main.replaceChildren(...parts);
  ready('cart');
}

async function checkout() {
  const order = 'web-' + Date.now().toString(36);
  const events = cart.map(l => ({item_id: l.id, type: 'purchase', value: l.qty, unit_price: l.price, order_id: order, recommendation_id: l.rec || undefined}));
  const btn = $('checkout');
  btn.disabled = true;
  try {
    await api.post('/v1/storefront/events', events.map(e => ({...who(), ...e})));
  } catch (err) {
    btn.disabled = false;
    main.append(errorBox(err, 'The order was not recorded'));
    return;
  }
  const bought = cart.map(l => l.title);
  setCart([]);
  location.hash = '#/thanks/' + order;
  toast(`Order ${order} recorded: ${bought.join(', ')}`);
}

async function thanks(order) {
  main.replaceChildren(h('h1', {}, 'Thank you!'), h('p', {}, `Order ${order} is recorded. Your recommendations have changed:`));
  if (shopper) {
    const recs = await settle(api.get(`/v1/users/${encodeURIComponent(shopper.id)}/recommendations`, {n: 12, details: true}));
    main.append(sectionOr('Recommended for you now', recs, 'Nothing to recommend.', 'recommended'));
  }
  main.append(h('p', {}, h('a', {href: '#/'}, 'Back to the shop')));
  ready('thanks');
}

// ---- search as you type ----
function setupSearch() {
  const input = $('search'), box = $('suggest');
  let seq = 0, timer;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { box.hidden = true; return; }
    timer = setTimeout(async () => {
      const my = ++seq;
      try {
        const resp = await api.get('/v1/search', {q, user: shopper ? shopper.id : '', n: 8, details: true});
        if (my !== seq) return;
        box.replaceChildren(...(resp.items.length ? resp.items.map(it => h('a', {href: productHref(it.item_id, resp.recommendation_id), 'data-item': it.item_id, title: it.reason,
          onclick: () => { box.hidden = true; track([{item_id: it.item_id, type: 'click', recommendation_id: resp.recommendation_id}]); }},
        placeholder({...it.details, id: it.item_id}), h('span', {}, it.details ? it.details.title : it.item_id), h('b', {style: 'margin-left:auto'}, it.details ? money(it.details.price, it.details.currency) : '')))
          : [h('div', {class: 'muted', style: 'padding:8px'}, `Nothing matches “${q}”.`)]));
      } catch (err) {
        if (my !== seq) return;
        box.replaceChildren(errorBox(err, 'Search failed'));
      }
      box.hidden = false;
    }, 120);
  });
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && input.value.trim()) { box.hidden = true; location.hash = '#/search?q=' + encodeURIComponent(input.value.trim()); }
    if (e.key === 'Escape') box.hidden = true;
  });
  document.addEventListener('click', e => { if (!box.contains(e.target) && e.target !== input) box.hidden = true; });
}

// ---- shopper picker ----
let shoppers = null;

function showShopper() {
  $('shopper-btn').textContent = shopper ? `Shopper: ${shopper.id}${shopper.segment ? ' (' + shopper.segment.replaceAll('_', ' ') + ')' : ''}` : 'Shopper: anonymous';
}

function choose(s) {
  shopper = s;
  keep('tailor.shopper', s);
  showShopper();
  $('picker').hidden = true;
  route();
}

async function openPicker() {
  const list = $('picker-list'), err = $('picker-err');
  $('picker').hidden = false;
  err.hidden = true;
  if (shoppers === null && canListShoppers) {
    list.replaceChildren(h('li', {class: 'muted loading'}, 'Loading shoppers…'));
    try {
      shoppers = [];
      for (let cursor = ''; ;) {
        const page = await api.get('/v1/users', {limit: 1000, cursor});
        shoppers = shoppers.concat(page.data);
        if (!page.next_cursor || shoppers.length >= 5000) break;
        cursor = page.next_cursor;
      }
    } catch (e) {
      shoppers = null;
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        canListShoppers = false;
      } else {
        list.replaceChildren(h('li', {}, errorBox(e, 'The shoppers could not be listed')));
        return;
      }
    }
  }
  renderPicker();
  // The list loads while the shopper may already be typing an id: focus
  // the search box only if nothing in the picker has the focus yet.
  if (!$('picker').contains(document.activeElement)) $('picker-q').focus();
}

function renderPicker() {
  const list = $('picker-list');
  if (!canListShoppers) {
    list.replaceChildren(h('li', {class: 'muted', style: 'padding:8px'}, "This storefront's key may not list shoppers: type a shopper id."));
    return;
  }
  const q = $('picker-q').value.trim().toLowerCase();
  const rows = shoppers.filter(u => !q || u.id.toLowerCase().includes(q) ||
    Object.values(u.attributes || {}).some(v => String(v).toLowerCase().replaceAll('_', ' ').includes(q.replaceAll('_', ' ')))).slice(0, 200);
  list.replaceChildren(...rows.map(u => {
    const a = u.attributes || {};
    return h('li', {}, h('button', {type: 'button', 'data-shopper': u.id, onclick: () => choose({id: u.id, segment: a.segment || ''})},
      h('span', {}, h('b', {}, u.id), ' ', h('span', {class: 'muted'}, a.country || '')),
      a.segment ? h('span', {class: 'seg'}, String(a.segment).replaceAll('_', ' ')) : ''));
  }));
  if (!rows.length) list.replaceChildren(h('li', {class: 'muted', style: 'padding:8px'}, 'No shopper matches.'));
}

async function useTypedId() {
  const id = $('picker-id').value.trim(), err = $('picker-err');
  if (!id) { err.textContent = 'Shopper id: type one.'; err.hidden = false; return; }
  try {
    const u = await api.get('/v1/users/' + encodeURIComponent(id));
    choose({id: u.id, segment: (u.attributes || {}).segment || ''});
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      err.textContent = `Shopper id: there is no shopper with id “${id}”.`;
      err.hidden = false;
    } else if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      choose({id, segment: ''}); // this key cannot look shoppers up
    } else {
      err.textContent = 'Shopper id: ' + e.message;
      err.hidden = false;
    }
  }
}

function setupPicker() {
  $('shopper-btn').addEventListener('click', openPicker);
  $('picker-close').addEventListener('click', () => { $('picker').hidden = true; });
  $('picker-anon').addEventListener('click', () => choose(null));
  $('picker-q').addEventListener('input', () => { if (shoppers) renderPicker(); });
  $('picker-go').addEventListener('click', useTypedId);
  $('picker-id').addEventListener('keydown', e => { if (e.key === 'Enter') useTypedId(); });
}

async function categories() {
  try {
    const body = await api.get('/v1/categories');
    const top = body.categories.filter(c => !c.category.includes('/'));
    const subs = body.categories.filter(c => c.category.includes('/'));
    // A collection's sub-collections are listed when it has several.
    const links = [];
    for (const t of top) {
      const mine = subs.filter(s => s.category.startsWith(t.category + '/'));
      if (mine.length > 1) links.push(...mine); else links.push(t);
    }
    $('cats').replaceChildren(...links.map(c => h('a', {href: '#/c/' + encodeURIComponent(c.category), title: `${c.items} products`}, c.category.split('/').pop())));
  } catch (err) {
    $('cats').replaceChildren(errorBox(err, 'The collections could not be read'));
  }
}

// ---- the shopping assistant ----
let conversation = null; // {id, user, messages: [{from, text, items, note}]}

async function ask() {
  const user = shopper ? shopper.id : null;
  if (!conversation || conversation.user !== user) conversation = {id: '', user, messages: []};
  const list = h('div', {class: 'chat', id: 'chat'});
  const input = h('input', {id: 'ask-input', placeholder: 'Ask for something, such as: a present for someone who loves tea', autocomplete: 'off', 'aria-label': 'Your message'});
  const status = h('div', {id: 'ask-status', class: 'muted'});
  const render = () => list.replaceChildren(...conversation.messages.map(m =>
    h('div', {class: 'msg ' + m.from, 'data-from': m.from},
      h('p', {}, m.text),
      m.note ? h('p', {class: 'muted note'}, m.note) : null,
      m.items && m.items.length ? h('div', {class: 'row'}, m.items.map(it => card(it))) : null)));
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    conversation.messages.push({from: 'you', text});
    render();
    status.textContent = 'Thinking…';
    delete main.dataset.ready;
    try {
      const body = {message: text};
      if (conversation.id) body.conversation_id = conversation.id;
      if (user) body.user_id = user;
      const r = await api.post('/v1/assistant', body);
      conversation.id = r.conversation_id;
      const notes = [];
      if (r.assistant === 'off') notes.push('The assistant is off on this server (no chat model is configured): here are search results and recommendations.');
      if (r.assistant === 'unavailable') notes.push('The assistant is unavailable right now: here are search results and recommendations.');
      notes.push(...(r.notes || []));
      if (r.refused && r.refused.length) notes.push(`Not shown, as they are not for sale here: ${r.refused.join(', ')}.`);
      conversation.messages.push({from: 'assistant', text: r.reply, items: r.items, note: notes.join(' ')});
      status.textContent = '';
    } catch (err) {
      status.replaceChildren(errorBox(err, 'The assistant could not answer'));
    }
    render();
    ready('ask');
  };
  main.replaceChildren(h('h1', {}, 'Ask the shopping assistant'),
    h('p', {class: 'muted'}, shopper ? `Shopping as ${shopper.id}.` : 'Shopping anonymously.'),
    list,
    h('form', {class: 'ask', onsubmit: e => { e.preventDefault(); send(); }}, input, h('button', {type: 'submit', id: 'ask-send'}, 'Send')),
    status);
  render();
  input.focus();
  ready('ask');
}

// ---- routing ----
async function route() {
  delete main.dataset.ready;
  const hash = location.hash.slice(1) || '/';
  const [path, qs] = hash.split('?');
  const params = new URLSearchParams(qs || '');
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  for (const a of $('cats').querySelectorAll('a')) a.classList.toggle('on', a.getAttribute('href') === '#' + path);
  try {
    switch (parts[0]) {
    case '': return await home();
    case 'c': return await category(parts.slice(1).join('/'));
    case 'p': return await product(parts.slice(1).join('/'), params.get('rec'));
    case 'search': return await search(params.get('q') || '');
    case 'cart': return await cartPage();
    case 'ask': return await ask();
    case 'thanks': return await thanks(parts[1] || '');
    default:
      main.replaceChildren(h('div', {class: 'error'}, `There is no page ${hash}.`), h('a', {href: '#/'}, 'Back to the shop'));
    }
  } catch (err) {
    main.replaceChildren(errorBox(err, 'The page could not be shown'));
  }
}

async function start() {
  try {
    const cfg = await loadConfig();
    api = new Client(cfg.storefront_key || '');
    if (!cfg.demo && !cfg.storefront_key) {
      main.replaceChildren(h('div', {class: 'error'}, 'This server has API keys but no storefront key: set webui.storefront_key (a read key) in its configuration.'));
      return;
    }
  } catch (err) {
    main.replaceChildren(errorBox(err));
    return;
  }
  setCart(cart);
  showShopper();
  setupSearch();
  setupPicker();
  window.addEventListener('hashchange', route);
  await Promise.all([categories(), route()]);
}

start();
