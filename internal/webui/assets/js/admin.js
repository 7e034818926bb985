// admin.js: the admin dashboard. Every number comes from the API v1.
/* global uPlot */
import {Client, ApiError, loadConfig, h, errorBox, money, fmt, settle} from './api.js';

const $ = id => document.getElementById(id);
const main = $('main');
let api = new Client();
const palette = ['#0b6e4f', '#e4572e', '#3538cd', '#f3a712', '#8e44ad', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const panel = (title, ...body) => h('section', {class: 'panel'}, title ? h('h2', {style: 'margin-top:0'}, title) : null, ...body);
const pct = v => v === undefined || v === null ? '–' : (100 * v).toFixed(1) + '%';
const day = s => new Date(s).toLocaleString('en-GB', {dateStyle: 'medium', timeStyle: 'short'});

/** chart draws a uPlot chart into a panel element, and marks how many data
 * points it has (data-points) for the browser tests. */
function chart(opts, data) {
  const el = h('div', {class: 'chart'});
  const points = data.slice(1).reduce((n, s) => n + s.filter(v => v !== null && v !== undefined).length, 0);
  el.dataset.points = String(points);
  if (!points) {
    el.append(h('p', {class: 'muted'}, 'No data for this chart yet.'));
    return el;
  }
  requestAnimationFrame(() => {
    const width = Math.max(320, Math.min(el.clientWidth || 800, 1100));
    new uPlot({width, height: 260, ...opts}, data, el);
  });
  return el;
}

function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('tr', {}, headers.map(x => typeof x === 'string' ? h('th', {}, x) : h('th', {class: 'n'}, x.n))), rows);
}

// ---- Data health ----
async function dataPage() {
  const [stats, imp] = await Promise.all([settle(api.get('/v1/stats')), settle(api.get('/v1/reports/import'))]);
  const parts = [h('h1', {}, 'Data health')];
  if (!stats.ok) parts.push(errorBox(stats.error, 'Counts'));
  else {
    const s = stats.value;
    parts.push(h('div', {class: 'tiles'},
      h('div', {class: 'tile'}, h('b', {}, fmt(s.items)), h('span', {}, 'items')),
      h('div', {class: 'tile'}, h('b', {}, fmt(s.users)), h('span', {}, 'shoppers')),
      h('div', {class: 'tile'}, h('b', {}, fmt(s.events)), h('span', {}, 'events')),
      ...Object.entries(s.events_by_type).map(([t, n]) => h('div', {class: 'tile'}, h('b', {}, fmt(n)), h('span', {}, `${t.replaceAll('_', ' ')} events${s.from ? ' since ' + s.from : ''}`)))));
    // Every day from the first to the last, days without events at 0.
    const days = [];
    if (s.from) for (let d = Date.parse(s.from + 'T00:00:00Z'); d <= Date.parse(s.to + 'T00:00:00Z'); d += 86400e3) days.push(new Date(d).toISOString().slice(0, 10));
    const types = [...new Set(s.events_per_day.map(d => d.type))];
    const idx = new Map(days.map((d, i) => [d, i]));
    const series = types.map(() => days.map(() => 0));
    for (const d of s.events_per_day) series[types.indexOf(d.type)][idx.get(d.day)] = d.events;
    const xs = days.map(d => Date.parse(d + 'T00:00:00Z') / 1000);
    parts.push(panel(`Events per day${s.from ? ` (${s.from} to ${s.to})` : ''}`, chart({
      series: [{}, ...types.map((t, i) => ({label: t, stroke: palette[i % palette.length], width: 1.5}))],
      axes: [{}, {label: 'events'}],
    }, [xs, ...series])));
  }
  if (!imp.ok) {
    parts.push(panel('Last import', imp.error.status === 404 ? h('p', {class: 'muted'}, 'No import has been recorded in this store yet (tailor import keeps its report here).') : errorBox(imp.error)));
  } else {
    const r = imp.value.body;
    parts.push(panel(`Last import: ${r.format}, ${day(imp.value.created_at)}`,
      h('p', {}, `${(r.files || []).join(', ')}: ${fmt(r.read)} rows read, ${fmt(r.accepted)} accepted, ${fmt(r.rejected)} rejected, ${fmt(r.duplicates)} duplicates, in ${fmt(r.elapsed_seconds, 2)} s.`),
      h('div', {class: 'grid2'},
        h('div', {}, h('h3', {}, 'Rejected rows by reason'), table(['reason', {n: 'rows'}, 'example'],
          Object.entries(r.rejected_by_reason || {}).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {class: 'n'}, fmt(v)),
            h('td', {class: 'muted'}, ((r.examples || {})[k] || []).slice(0, 1).map(e => `line ${e.line}, ${e.field}: ${e.message}`)))), {id: 'rejected'})),
        h('div', {}, h('h3', {}, 'Changes made to accepted data'), table(['transformation', {n: 'rows'}],
          Object.entries(r.transformed || {}).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {class: 'n'}, fmt(v))))))),
      (r.notes || []).map(n => h('p', {class: 'notice'}, n))));
  }
  return parts;
}

// ---- Models ----
async function modelsPage() {
  const [models, evalRep, scen] = await Promise.all([settle(api.get('/v1/models')), settle(api.get('/v1/reports/evaluation')), settle(api.get('/v1/scenarios'))]);
  const parts = [h('h1', {}, 'Models')];
  if (!models.ok) parts.push(errorBox(models.error, 'The registry'));
  else {
    const m = models.value, sv = m.serving.version;
    parts.push(h('p', {id: 'serving'}, sv ? `Serving ${sv.id} (${sv.model}, ${fmt(m.serving.items)} items, loaded ${m.serving.loads} time(s)).` : 'No model version is being served: recommendations fall back to trending items.'));
    const msg = h('div', {});
    parts.push(panel('Registry', msg, table(['version', 'slot', 'model', 'trained', 'data until', {n: 'ndcg@10'}, {n: 'recall@10'}, {n: 'size'}, 'protocol', ''],
      m.versions.map(v => h('tr', {'data-version': v.id},
        h('td', {}, v.id, v.active ? h('span', {class: 'seg', style: 'margin-left:6px'}, 'active') : ''),
        h('td', {}, v.slot), h('td', {}, v.model), h('td', {}, day(v.created_at)), h('td', {}, (v.data_until || '').slice(0, 10)),
        h('td', {class: 'n'}, fmt((v.metrics || {})['ndcg@10'], 4)), h('td', {class: 'n'}, fmt((v.metrics || {})['recall@10'], 4)),
        h('td', {class: 'n'}, fmt((v.bytes || 0) / 1048576, 1) + ' MB'), h('td', {class: 'muted', title: v.protocol || ''}, (v.protocol || '').split(':')[0]),
        h('td', {}, v.active ? '' : h('button', {type: 'button', class: 'secondary', 'data-activate': v.id, onclick: async e => {
          e.target.disabled = true;
          try {
            await api.post(`/v1/models/${encodeURIComponent(v.id)}/activate`);
            await show();
            $('main').prepend(h('p', {class: 'notice', id: 'activated'}, `Version ${v.id} (${v.model}) is now served.`));
          } catch (err) {
            e.target.disabled = false;
            msg.replaceChildren(errorBox(err, `Version ${v.id} was not activated`));
          }
        }}, v.created_at > (sv ? sv.created_at : '') ? 'Activate' : 'Roll back to this'),
        v.active ? '' : h('button', {type: 'button', class: 'secondary', style: 'margin-left:6px', 'data-delete': v.id, onclick: async e => {
          const b = e.target;
          if (b.dataset.armed !== '1') { b.dataset.armed = '1'; b.textContent = 'Confirm delete'; return; }
          b.disabled = true;
          try {
            await api.del(`/v1/models/${encodeURIComponent(v.id)}`);
            await show();
            $('main').prepend(h('p', {class: 'notice', id: 'deleted'}, `Version ${v.id} (${v.model}) and its artifact are deleted.`));
          } catch (err) {
            b.disabled = false;
            msg.replaceChildren(errorBox(err, `Version ${v.id} was not deleted`));
          }
        }}, 'Delete')))), {id: 'versions'})));
    if (scen.ok) {
      const rows = Object.entries(scen.value).map(([name, r]) => h('tr', {}, h('td', {}, name),
        h('td', {}, r.ab_test ? `A/B: ${r.ab_test.a} (A) vs ${r.ab_test.b} (B, ${pct(r.ab_test.share_b)} of shoppers)` : r.route ? 'routes by segment: ' + Object.entries(r.route.scenarios || {}).map(([k, v]) => `${k}→${v}`).join(', ') : `the active version${sv ? ' ' + sv.id : ''}`)));
      parts.push(panel('Version served per scenario', table(['scenario', 'serves'], [h('tr', {}, h('td', {}, '(none)'), h('td', {}, `the active version${sv ? ' ' + sv.id + ' (' + sv.model + ')' : ''}`)), ...rows])));
    }
  }
  if (!evalRep.ok) {
    parts.push(panel('Offline evaluation', evalRep.error.status === 404 ? h('p', {class: 'muted'}, 'No evaluation is stored yet: run tailor eval --dataset store:DATA-DIR --protocol temporal --cutoff-fraction 0.8 --save.') : errorBox(evalRep.error)));
  } else {
    const rep = evalRep.value.body, k = (rep.ks || [10])[0];
    const res = rep.results.filter(r => r.latency_ms && r.metrics);
    const lat = r => r.latency_ms.p50 ?? r.latency_ms.median ?? Object.values(r.latency_ms)[0];
    const xs = [...new Set(res.map(lat))].sort((a, b) => a - b);
    const series = res.map(r => xs.map(x => x === lat(r) ? r.metrics[`ndcg@${k}`] : null));
    parts.push(panel(`Accuracy against latency (${rep.protocol}, ${rep.dataset}, ${day(evalRep.value.created_at)})`,
      chart({
        scales: {x: {time: false, distr: 3}},
        series: [{label: 'p50 latency (ms)'}, ...res.map((r, i) => ({label: r.model, stroke: palette[i % palette.length], fill: palette[i % palette.length], paths: () => null, points: {show: true, size: 12}}))],
        axes: [{label: 'median latency per query (ms, log scale)'}, {label: `ndcg@${k}`}],
      }, [xs, ...series]),
      table(['model', {n: `ndcg@${k}`}, {n: '95% interval'}, {n: `recall@${k}`}, {n: `hit@${k}`}, {n: 'coverage'}, {n: 'latency p50 (ms)'}, {n: 'p99 (ms)'}, {n: 'train (s)'}],
        rep.results.map(r => h('tr', {}, h('td', {}, r.model), h('td', {class: 'n'}, fmt(r.metrics[`ndcg@${k}`], 4)),
          h('td', {class: 'n'}, r.ci95 && r.ci95[`ndcg@${k}`] ? `${fmt(r.ci95[`ndcg@${k}`][0], 4)} – ${fmt(r.ci95[`ndcg@${k}`][1], 4)}` : '–'),
          h('td', {class: 'n'}, fmt(r.metrics[`recall@${k}`], 4)), h('td', {class: 'n'}, fmt(r.metrics[`hit@${k}`], 3)), h('td', {class: 'n'}, fmt(r.metrics[`coverage@${k}`], 3)),
          h('td', {class: 'n'}, fmt(r.latency_ms && lat(r), 3)), h('td', {class: 'n'}, fmt(r.latency_ms && r.latency_ms.p99, 3)), h('td', {class: 'n'}, fmt(r.train_seconds, 2)))), {id: 'evaluation'}),
      h('p', {class: 'muted'}, `${rep.folds} fold(s), seed ${rep.seed}; test users ${res.length ? res[0].test_users : '–'}.`)));
  }
  return parts;
}

// ---- Online metrics and A/B tests ----
async function onlinePage() {
  const to = new Date();
  const from = new Date(to - 30 * 86400e3);
  const dayStarts = Array.from({length: 14}, (_, i) => { const d = new Date(to); d.setUTCHours(0, 0, 0, 0); d.setUTCDate(d.getUTCDate() - 13 + i); return d; });
  const [sum, ...daily] = await Promise.all([settle(api.get('/v1/metrics/online', {from: from.toISOString(), to: to.toISOString()})),
    ...dayStarts.map(d => settle(api.get('/v1/metrics/online', {from: d.toISOString(), to: new Date(+d + 86400e3).toISOString()})))]);
  const parts = [h('h1', {}, 'Online metrics')];
  if (!sum.ok) return [...parts, errorBox(sum.error, 'Online metrics')];
  const rep = sum.value;
  const label = g => `${g.scenario || '(no scenario)'} · ${g.model_version || '(none)'}`;
  parts.push(panel(`Last 30 days, per scenario and model version`, rep.groups.length ? table(['scenario', 'model version', {n: 'impressions'}, {n: 'clicks'}, {n: 'CTR'}, {n: 'add to carts'}, {n: 'purchases'}, {n: 'conversion'}, {n: 'revenue'}],
    rep.groups.map(g => h('tr', {}, h('td', {}, g.scenario || '(none)'), h('td', {}, g.model_version), h('td', {class: 'n'}, fmt(g.impressions)), h('td', {class: 'n'}, fmt(g.clicks)),
      h('td', {class: 'n'}, pct(g.ctr)), h('td', {class: 'n'}, fmt(g.add_to_carts)), h('td', {class: 'n'}, fmt(g.purchases)), h('td', {class: 'n'}, pct(g.conversion)), h('td', {class: 'n'}, money(g.revenue)))), {id: 'online'})
    : h('p', {class: 'muted'}, 'No recommendation was served in the last 30 days. Browse the storefront: every list it shows is an impression.')));
  const groups = [...new Set(daily.flatMap(d => d.ok ? d.value.groups.map(label) : []))];
  const xs = dayStarts.map(d => d / 1000);
  const imp = groups.map(g => daily.map(d => { const x = d.ok && d.value.groups.find(y => label(y) === g); return x ? x.impressions : 0; }));
  const ctr = groups.map(g => daily.map(d => { const x = d.ok && d.value.groups.find(y => label(y) === g); return x && x.impressions ? 100 * x.ctr : null; }));
  parts.push(h('div', {class: 'grid2'},
    panel('Impressions per day, by scenario and model version (arm)', chart({series: [{}, ...groups.map((g, i) => ({label: g, stroke: palette[i % palette.length], width: 2}))], axes: [{}, {label: 'impressions'}]}, [xs, ...imp])),
    panel('CTR per day (%)', chart({series: [{}, ...groups.map((g, i) => ({label: g, stroke: palette[i % palette.length], width: 2, points: {show: true}}))], axes: [{}, {label: 'CTR %'}]}, [xs, ...ctr]))));
  parts.push(panel('A/B tests', rep.ab_tests.length ? table(['scenario', 'A', 'B', {n: 'CTR p-value'}, {n: 'conversion p-value'}, {n: 'conversion lift'}],
    rep.ab_tests.map(t => h('tr', {}, h('td', {}, t.scenario), h('td', {}, t.a), h('td', {}, t.b), h('td', {class: 'n'}, fmt(t.ctr_p_value, 4)), h('td', {class: 'n'}, fmt(t.conversion_p_value, 4)), h('td', {class: 'n'}, pct(t.conversion_lift)))), {id: 'ab-tests'})
    : h('p', {class: 'muted'}, 'No A/B test ran in this window: give a scenario an ab_test (Scenarios & rules) to split its shoppers between two model versions.')));
  return parts;
}

// ---- Shoppers ----
async function shoppersPage() {
  const [segs, cohorts, funnel, clv] = await Promise.all([settle(api.get('/v1/analytics/segments')), settle(api.get('/v1/analytics/cohorts', {period: 'month'})),
    settle(api.get('/v1/analytics/funnel')), settle(api.get('/v1/analytics/clv'))]);
  const parts = [h('h1', {}, 'Shoppers')];
  const bars = (obj, total) => table(['', {n: 'shoppers'}, ''], Object.entries(obj).sort((a, b) => b[1] - a[1]).map(([k, v]) => h('tr', {}, h('td', {}, k.replaceAll('_', ' ')), h('td', {class: 'n'}, fmt(v)),
    h('td', {style: 'width:50%'}, h('span', {class: 'bar', style: `width:${(100 * v / Math.max(1, total)).toFixed(1)}%`})))));
  if (segs.ok) {
    const s = segs.value;
    parts.push(h('div', {class: 'grid2'}, panel(`RFM segments (${fmt(s.shoppers)} shoppers)`, bars(s.segments, s.shoppers)),
      panel('CLV tiers and propensity bands', bars(s.clv_tiers, s.shoppers), h('h3', {}, 'Purchase propensity (30 days)'), bars(s.propensity_bands, s.shoppers))));
  } else parts.push(errorBox(segs.error, 'Segments'));
  if (cohorts.ok) {
    // A month without new shoppers has no retention to show.
    const cs = cohorts.value.filter(c => c.size > 0);
    const n = Math.max(0, ...cs.map(c => c.retention.length));
    parts.push(panel('Cohort retention (share of each month\'s new shoppers who buy again in month +k)', table(['cohort', {n: 'size'}, ...Array.from({length: n}, (_, i) => ({n: '+' + i}))],
      cs.map(c => h('tr', {}, h('td', {}, c.start.slice(0, 7)), h('td', {class: 'n'}, fmt(c.size)), c.retention.map(r => h('td', {style: `background:rgba(11,110,79,${(0.08 + 0.9 * r).toFixed(2)});color:${r > 0.5 ? '#fff' : 'inherit'}`}, pct(r))))), {class: 'heat', id: 'cohorts'})));
  } else parts.push(errorBox(cohorts.error, 'Cohorts'));
  if (funnel.ok) {
    const f = funnel.value;
    parts.push(panel(`Funnel (by ${f.by})`, table(['step', {n: 'reached'}, {n: 'from previous'}, {n: 'overall'}, ''], f.steps.map(s => h('tr', {}, h('td', {}, s.type), h('td', {class: 'n'}, fmt(s.reached)),
      h('td', {class: 'n'}, pct(s.conversion)), h('td', {class: 'n'}, pct(s.overall)), h('td', {style: 'width:40%'}, h('span', {class: 'bar', style: `width:${(100 * s.overall).toFixed(1)}%`})))), {id: 'funnel'})));
  } else if (/no event has type/.test(funnel.error.message)) {
    // Not a failure: imported order data holds purchases only.
    parts.push(panel('Funnel', h('p', {class: 'notice', id: 'funnel-empty'}, `The funnel view → add_to_cart → purchase has no data yet (${funnel.error.message}). Imported orders hold purchases only; the storefront records views and add-to-carts as shoppers browse, and the analyses refresh within a minute.`)));
  } else parts.push(panel('Funnel', errorBox(funnel.error, 'The funnel')));
  if (clv.ok) {
    const vals = clv.value.predictions.map(p => p.clv).filter(v => v > 0);
    const top = vals.slice().sort((a, b) => a - b)[Math.floor(vals.length * 0.98)] || 1;
    const bins = 24, w = top / bins, counts = new Array(bins).fill(0);
    for (const v of vals) counts[Math.min(bins - 1, Math.floor(v / w))]++;
    parts.push(panel(`Customer lifetime value over ${clv.value.horizon_weeks} weeks (BG/NBD + Gamma-Gamma, ${fmt(clv.value.customers)} shoppers; top 2% in the last bar)`,
      chart({scales: {x: {time: false}}, series: [{label: 'CLV from'}, {label: 'shoppers', fill: '#0b6e4f88', stroke: '#0b6e4f', paths: uPlot.paths.bars({size: [0.9]})}], axes: [{label: 'expected value (GBP)'}, {label: 'shoppers'}]},
        [counts.map((_, i) => Math.round(i * w)), counts])));
  } else parts.push(errorBox(clv.error, 'Lifetime value'));
  const id = h('input', {id: 'profile-id', placeholder: 'shopper id, such as 12350', 'aria-label': 'Shopper id'});
  const out = h('div', {id: 'profile'});
  const look = async () => {
    const v = id.value.trim();
    if (!v) { out.replaceChildren(h('p', {class: 'field-error'}, 'Shopper id: type one.')); return; }
    try {
      const p = await api.get(`/v1/users/${encodeURIComponent(v)}/profile`);
      out.replaceChildren(table(['', ''], [
        ['segment', p.segment], ['recency (days)', fmt(p.rfm && p.rfm.recency_days, 0)], ['orders', fmt(p.rfm && p.rfm.frequency)], ['spent', money(p.rfm && p.rfm.monetary)],
        ['RFM scores', p.rfm ? `R${p.rfm.r} F${p.rfm.f} M${p.rfm.m}` : '–'], ['lifetime value (52 weeks)', money(p.lifetime_value)], ['CLV tier', p.clv_tier || '–'],
        ['probability alive', pct(p.p_alive)], ['30-day purchase propensity', pct(p.propensity)], ['favourite categories', (p.favourite_categories || []).join(', ')],
      ].map(([k, val]) => h('tr', {}, h('th', {}, k), h('td', {}, val ?? '–')))));
    } catch (err) {
      out.replaceChildren(err instanceof ApiError && err.status === 404 ? h('p', {class: 'field-error'}, `Shopper id: there is no shopper with id “${v}”.`) : errorBox(err));
    }
  };
  id.addEventListener('keydown', e => { if (e.key === 'Enter') look(); });
  parts.push(panel("A shopper's profile", h('p', {}, id, ' ', h('button', {type: 'button', id: 'profile-go', onclick: look}, 'Show')), out));
  return parts;
}

// ---- Pricing ----
async function pricingPage() {
  const el = await settle(api.get('/v1/pricing/elasticities', {n: 30}));
  const parts = [h('h1', {}, 'Pricing')];
  if (!el.ok) return [...parts, errorBox(el.error, 'Elasticities')];
  const rows = el.value;
  const lo = Math.min(-4, ...rows.map(r => r.ci95 ? r.ci95[0] : 0)), hi = Math.max(1, ...rows.map(r => r.ci95 ? r.ci95[1] : 0));
  const x = v => (100 * (v - lo) / (hi - lo)).toFixed(1) + '%';
  const interval = r => h('div', {style: 'position:relative;height:14px;background:#f2f4f7;border-radius:3px;min-width:220px'},
    h('span', {style: `position:absolute;left:${x(0)};top:0;bottom:0;border-left:1px dashed #98a2b3`}),
    r.ci95 ? h('span', {style: `position:absolute;left:${x(r.ci95[0])};width:calc(${x(r.ci95[1])} - ${x(r.ci95[0])});top:5px;height:4px;background:${r.reliable ? '#0b6e4f' : '#98a2b3'}`}) : null,
    h('span', {style: `position:absolute;left:calc(${x(r.estimate)} - 4px);top:3px;width:8px;height:8px;border-radius:4px;background:${r.reliable ? '#0b6e4f' : '#667085'}`}));
  parts.push(panel(`Own-price elasticities of the ${rows.length} best sellers (point and 95% interval; scale ${fmt(lo, 1)} to ${fmt(hi, 1)}, dashed line at 0)`,
    table(['item', 'collection', {n: 'estimate'}, {n: '95% interval'}, 'interval', 'reliable'], rows.map(r => h('tr', {}, h('td', {}, r.item_id), h('td', {}, r.category || ''),
      h('td', {class: 'n'}, fmt(r.estimate, 2)), h('td', {class: 'n'}, r.ci95 ? `${fmt(r.ci95[0], 2)} – ${fmt(r.ci95[1], 2)}` : '–'), h('td', {}, interval(r)),
      h('td', {title: r.reason || ''}, r.reliable ? 'yes' : 'no' + (r.substitute ? ` (uses ${r.substitute.substitute})` : '')))), {id: 'elasticities'})));
  const maxChange = h('input', {id: 'max-change', type: 'number', step: '0.01', value: '0.10', style: 'width:90px', 'aria-label': 'max change'});
  const err = h('p', {class: 'field-error', hidden: true});
  const out = h('div', {});
  const run = async () => {
    err.hidden = true;
    const mc = Number(maxChange.value);
    try {
      const recs = await api.post('/v1/pricing/recommendations', {constraints: {max_change: mc}, items: rows.map(r => ({item_id: r.item_id}))});
      out.replaceChildren(table(['item', {n: 'current'}, {n: 'recommended'}, 'action', {n: 'expected revenue change'}, {n: '95% interval'}, 'why'],
        recs.map(r => h('tr', {}, h('td', {}, r.item_id), h('td', {class: 'n'}, money(r.current_price)), h('td', {class: 'n'}, money(r.price)), h('td', {}, r.action),
          h('td', {class: 'n'}, money(r.change_revenue.value)), h('td', {class: 'n'}, `${money(r.change_revenue.low)} – ${money(r.change_revenue.high)}`), h('td', {class: 'muted'}, r.reason || ''))), {id: 'price-recs'}));
    } catch (e) {
      if (e instanceof ApiError && /max_change/.test(e.message)) { err.textContent = e.message; err.hidden = false; } else out.replaceChildren(errorBox(e, 'Price recommendations'));
    }
  };
  parts.push(panel('Recommended prices (weekly revenue, within the guardrails)', h('p', {}, h('label', {}, 'Largest change from the current price (fraction): ', maxChange), ' ',
    h('button', {type: 'button', id: 'price-go', onclick: run}, 'Recommend')), err, out));
  run();
  return parts;
}

// ---- Scenarios and rules ----
const ruleFields = [
  ['categories', 'list', 'keep only items of these categories or below them (Kitchen takes in Kitchen/Baking; comma-separated)'],
  ['exclude_categories', 'list', 'drop items of these categories or below them'],
  ['min_price', 'number', 'keep items priced at least this'],
  ['max_price', 'number', 'keep items priced at most this'],
  ['in_stock_only', 'bool', 'keep only items in stock'],
  ['max_per_category', 'int', 'at most this many items of one category (0: no limit)'],
  ['mmr_lambda', 'number', 'diversity by maximal marginal relevance, 0 to 1 (0: off)'],
  ['fresh_days', 'number', 'items newer than this many days get the fresh boost'],
  ['fresh_boost', 'number', 'score multiplier of fresh items'],
  ['exclude_items', 'list', 'item ids never shown'],
  ['ab_test.a', 'text', 'A/B test: model version A'],
  ['ab_test.b', 'text', 'A/B test: model version B'],
  ['ab_test.share_b', 'number', 'A/B test: share of shoppers who get B (0 to 1)'],
];

function rulesForm(name, rules, onSaved) {
  const inputs = {}, errs = {};
  const form = h('form', {class: 'rules', id: 'rules-form', novalidate: true});
  const nameIn = h('input', {name: 'name', value: name || '', placeholder: 'such as home_page', disabled: !!name});
  inputs.name = nameIn;
  const row = (key, input, hint) => {
    errs[key] = h('div', {class: 'field-error', 'data-error-for': key, hidden: true});
    form.append(h('label', {for: 'f-' + key}, key), h('div', {}, input, h('div', {class: 'hint'}, hint), errs[key]));
    input.id = 'f-' + key;
  };
  row('name', nameIn, 'a-z, 0-9 and _, starting with a letter');
  const get = (obj, path) => path.split('.').reduce((o, k) => o && o[k], obj);
  for (const [key, kind, hint] of ruleFields) {
    const v = get(rules, key);
    const input = kind === 'bool' ? h('input', {type: 'checkbox', name: key, checked: !!v})
      : h('input', {name: key, value: v === undefined ? '' : Array.isArray(v) ? v.join(', ') : String(v), inputmode: kind === 'number' || kind === 'int' ? 'decimal' : undefined});
    inputs[key] = input;
    row(key, input, hint);
  }
  // The rules the form has no field for (boosts, pins, attributes,
  // exclude_seen, exclude_types, route) are edited as JSON.
  const formKeys = new Set(ruleFields.map(([k]) => k.split('.')[0]));
  const rest = Object.fromEntries(Object.entries(rules || {}).filter(([k]) => !formKeys.has(k)));
  const more = h('textarea', {name: 'more', rows: 5, cols: 60, spellcheck: 'false', placeholder: '{"boosts": [{"categories": ["Kitchen/Baking"], "factor": 1.5}]}'});
  more.value = Object.keys(rest).length ? JSON.stringify(rest, null, 2) : '';
  row('more', more, 'other rules as a JSON object: boosts, pins, attributes, exclude_seen, exclude_types, route');
  const general = h('div', {class: 'field-error', 'data-error-for': '', hidden: true});
  const save = h('button', {type: 'submit'}, 'Save');
  form.append(h('span'), h('div', {}, save, general));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    for (const el of Object.values(errs)) el.hidden = true;
    general.hidden = true;
    let body = {};
    if (more.value.trim()) {
      try {
        body = JSON.parse(more.value);
        if (typeof body !== 'object' || Array.isArray(body) || body === null) throw new Error('not a JSON object');
      } catch (x) {
        errs.more.textContent = 'more: ' + x.message;
        errs.more.hidden = false;
        return;
      }
    }
    for (const [key, kind] of ruleFields) {
      const input = inputs[key];
      let v;
      if (kind === 'bool') { if (input.checked) v = true; } else {
        const s = input.value.trim();
        if (s === '') continue;
        if (kind === 'list') v = s.split(',').map(x => x.trim()).filter(Boolean);
        else if (kind === 'number' || kind === 'int') v = Number(s); // the API checks the value
        else v = s;
        if ((kind === 'number' || kind === 'int') && Number.isNaN(v)) {
          errs[key].textContent = `${key}: “${s}” is not a number`;
          errs[key].hidden = false;
          return;
        }
      }
      if (v === undefined) continue;
      const [a, b] = key.split('.');
      if (b) { body[a] = body[a] || {}; body[a][b] = v; } else body[a] = v;
    }
    const n = inputs.name.value.trim();
    if (!n) { errs.name.textContent = 'name: required'; errs.name.hidden = false; return; }
    try {
      await api.put('/v1/scenarios/' + encodeURIComponent(n), body);
      onSaved(n);
    } catch (err) {
      const f = err instanceof ApiError ? err.field : '';
      const top = f.split('.')[0];
      const target = errs[f] || (top === 'ab_test' ? errs['ab_test.a'] : null) || (/^name/.test(f) ? errs.name : null) ||
        (f && !formKeys.has(top) && top !== 'rules' ? errs.more : null) || general;
      target.textContent = err.message;
      target.hidden = false;
    }
  });
  return form;
}

async function scenariosPage(selected) {
  const sc = await settle(api.get('/v1/scenarios'));
  const parts = [h('h1', {}, 'Scenarios & rules')];
  if (!sc.ok) return [...parts, errorBox(sc.error, 'Scenarios')];
  const names = Object.keys(sc.value).sort();
  parts.push(panel('Scenarios', names.length ? table(['name', 'rules', ''], names.map(n => h('tr', {}, h('td', {}, h('a', {href: '#/scenarios/' + n}, n)),
    h('td', {}, h('code', {}, JSON.stringify(sc.value[n]))),
    h('td', {}, h('button', {type: 'button', class: 'secondary', onclick: async () => {
      try { await api.del('/v1/scenarios/' + encodeURIComponent(n)); location.hash = '#/scenarios'; show(); } catch (err) { main.prepend(errorBox(err, `Scenario ${n} was not deleted`)); }
    }}, 'Delete')))), {id: 'scenarios'}) : h('p', {class: 'muted'}, 'No scenario yet. A scenario is a named set of business rules a list can ask for (?scenario=NAME).'),
  h('p', {}, h('a', {href: '#/scenarios/new'}, 'New scenario'))));
  const name = selected && selected !== 'new' ? selected : '';
  if (selected) {
    const preview = h('div', {id: 'preview'});
    parts.push(panel(name ? `Edit ${name}` : 'New scenario', rulesForm(name, sc.value[name] || {}, async n => {
      location.hash = '#/scenarios/' + n;
      await show();
    }), h('h3', {}, 'Preview'), preview));
    if (name) {
      settle(api.get('/v1/trending', {n: 8, scenario: name, details: true})).then(r => {
        preview.replaceChildren(r.ok ? h('ol', {}, r.value.items.map(i => h('li', {}, `${i.details ? i.details.title : i.item_id} (${money(i.details && i.details.price)}) – ${i.reason}`))) : errorBox(r.error));
      });
    } else preview.replaceChildren(h('p', {class: 'muted'}, 'Save to preview the trending list under these rules.'));
  }
  return parts;
}

// ---- routing and sign-in ----
const pages = {data: dataPage, models: modelsPage, online: onlinePage, shoppers: shoppersPage, pricing: pricingPage, scenarios: scenariosPage};

async function show() {
  delete main.dataset.ready;
  const [page, arg] = (location.hash.slice(2) || 'data').split('/');
  for (const a of document.querySelectorAll('.side nav a')) a.classList.toggle('on', a.dataset.page === page);
  const fn = pages[page];
  if (!fn) { main.replaceChildren(h('div', {class: 'error'}, `There is no page ${page}.`)); return; }
  main.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  try {
    const parts = await fn(arg && decodeURIComponent(arg));
    main.replaceChildren(...parts);
  } catch (err) {
    main.replaceChildren(errorBox(err, 'The page could not be shown'));
  }
  if (pages[page] === fn) { main.dataset.ready = page; performance.mark('tailor-ready-' + page); }
}

function signIn() {
  return new Promise(resolve => {
    $('login').hidden = false;
    $('login-key').focus();
    $('login-form').addEventListener('submit', async e => {
      e.preventDefault();
      const key = $('login-key').value.trim();
      const err = $('login-err');
      try {
        const who = await new Client(key).get('/v1/auth');
        if (who.role !== 'admin') throw new Error(`key “${who.name}” has the ${who.role} role; the dashboard needs an admin key`);
        sessionStorage.setItem('tailor.adminKey', key);
        $('login').hidden = true;
        resolve(key);
      } catch (x) {
        err.textContent = 'Admin key: ' + x.message;
        err.hidden = false;
      }
    });
  });
}

async function start() {
  let cfg;
  try { cfg = await loadConfig(); } catch (err) { main.replaceChildren(errorBox(err)); return; }
  if (!cfg.demo) {
    const key = sessionStorage.getItem('tailor.adminKey') || await signIn();
    api = new Client(key);
    $('logout').hidden = false;
    $('logout').addEventListener('click', () => { sessionStorage.removeItem('tailor.adminKey'); location.reload(); });
  }
  window.addEventListener('hashchange', show);
  show();
}

start();
