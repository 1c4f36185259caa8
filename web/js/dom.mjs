// Small DOM and formatting helpers of the dashboard: h() builds elements (text is always set
// with textContent, never parsed as HTML), plus number, time and status formatters.

/** h('td', {class: 'num'}, 'text', childNode, [more]) -> Element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtNum(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

export function fmtAgo(ms) {
  if (!ms) return '–';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

export function fmtDuration(s) {
  if (s === undefined || s === null || Number.isNaN(s)) return '–';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function statusEl(status) {
  return h('span', { class: `status st-${status}` }, status ?? '–');
}

/** A progress bar: fraction 0..1, with a label. */
export function bar(fraction, label) {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  return h('span', { class: `bar${f >= 1 ? ' done' : ''}`, dataset: { pct: Math.round(f * 100) } },
    h('i', { style: `width:${(f * 100).toFixed(1)}%` }), h('span', {}, label));
}

export function json(v) {
  return h('pre', {}, v === undefined ? '–' : JSON.stringify(v, null, 2));
}

/** Shows an error sentence in el. */
export function showError(el, err) {
  fill(el, h('p', { class: 'error-text' }, err?.message ?? String(err)));
}
