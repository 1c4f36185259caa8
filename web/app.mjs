// wsmesh dashboard entry point: reads the token (URL fragment #token=… or the form), connects
// to the hub with the JS adapter, shows the connection state ("disconnected, retrying"), routes
// between views by the fragment (#view=…) and renders the current view at most once per frame.

import { Client, defaultUrl } from './vendor/wsmesh/wsmesh.mjs';
import { Live } from './js/live.mjs';
import { fill } from './js/dom.mjs';
import * as overview from './js/overview.mjs';
import * as pipelines from './js/pipelines.mjs';
import * as jobs from './js/jobs.mjs';
import * as jobdetail from './js/jobdetail.mjs';
import * as failed from './js/failed.mjs';
import * as recordings from './js/recordings.mjs';

const VIEWS = { overview, pipelines, jobs, job: jobdetail, failed, recordings };
const main = document.getElementById('main');
const ctx = { client: null, live: null, admin: false, params: new URLSearchParams(), invalidate, navigate };
let view = null;
let viewName = '';
let frameQueued = false;

function fragment() {
  return new URLSearchParams(location.hash.replace(/^#/, ''));
}

/** Sets fragment params (others kept); the hashchange handler switches the view. */
function navigate(params) {
  const p = fragment();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') p.delete(k);
    else p.set(k, v);
  }
  location.hash = p.toString();
}

/** Asks for a render at the next animation frame (many calls, one render). */
function invalidate() {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    try {
      view?.render?.(ctx);
    } catch (e) {
      console.error('render failed', e);
    }
  });
}

function route() {
  ctx.params = fragment();
  const name = VIEWS[ctx.params.get('view')] ? ctx.params.get('view') : 'overview';
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.view === name || (name === 'job' && a.dataset.view === 'jobs'));
    const p = fragment();
    p.set('view', a.dataset.view);
    for (const k of ['id', 'rec', 'offset', 'queue', 'registry', 'search']) p.delete(k);
    a.href = '#' + p.toString();
  }
  if (name !== viewName || VIEWS[name].remountOnParams) {
    view?.unmount?.(ctx);
    viewName = name;
    view = VIEWS[name];
    fill(main);
    view.mount(main, ctx);
  } else {
    view.update?.(ctx);
  }
  invalidate();
}

function showState({ state, retryIn, error }) {
  const el = document.getElementById('conn');
  const banner = document.getElementById('banner');
  el.className = `conn conn-${state}`;
  el.dataset.state = state;
  const text = { connecting: 'connecting…', open: 'connected', retrying: 'disconnected, retrying', closed: 'disconnected' };
  el.textContent = text[state] ?? state;
  if (state === 'open' || state === 'connecting') {
    banner.hidden = true;
  } else {
    banner.hidden = false;
    const why = error?.message ? ` (${error.message})` : '';
    banner.textContent = state === 'retrying'
      ? `Disconnected from the hub, retrying${retryIn ? ` in ${(retryIn / 1000).toFixed(1)} s` : '…'}${why}`
      : `Disconnected from the hub${why}. Check the token and reload.`;
  }
}

function showRole(w) {
  ctx.role = w.role ?? '';
  ctx.admin = ctx.role === 'admin';
  document.body.classList.toggle('is-admin', ctx.admin);
  const el = document.getElementById('role');
  el.textContent = `${w.hub ?? 'hub'} · ${ctx.admin ? 'admin' : 'read-only'}${ctx.role && !ctx.admin ? ` (${ctx.role})` : ''}`;
  el.dataset.admin = String(ctx.admin);
  if (++ctx.sessions > 1) view?.reload?.(ctx);
  invalidate();
}

function start(token) {
  ctx.client?.close();
  const client = new Client(defaultUrl(), { token: token || undefined, name: 'dashboard', kind: 'dashboard' });
  ctx.client = client;
  ctx.live = new Live(client, invalidate);
  client.on('state', showState);
  client.on('welcome', showRole);
  client.on('error', (e) => console.warn('hub error', e.code, e.message));
  client.connect().catch((e) => showState({ state: 'closed', error: e }));
  ctx.live.start().catch((e) => console.warn('subscribe failed', e.message));
  ctx.sessions = 0;
  window.wsmesh = ctx;
  viewName = '';
  route();
}

document.getElementById('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = document.getElementById('token').value.trim();
  sessionStorage.setItem('wsmesh-token', token);
  navigate({ token: null });
  start(token);
});

window.addEventListener('hashchange', () => {
  const t = fragment().get('token');
  if (t !== null) {
    const p = fragment();
    p.delete('token');
    history.replaceState(null, '', `#${p.toString()}`);
    if (t !== sessionStorage.getItem('wsmesh-token')) {
      sessionStorage.setItem('wsmesh-token', t);
      document.getElementById('token').value = t;
      start(t);
      return;
    }
  }
  route();
});

// A token in the fragment is moved to this tab's sessionStorage and taken out of the address bar.
const initial = fragment().get('token') ?? sessionStorage.getItem('wsmesh-token') ?? '';
if (fragment().has('token')) {
  sessionStorage.setItem('wsmesh-token', initial);
  const p = fragment();
  p.delete('token');
  history.replaceState(null, '', `#${p.toString()}`);
}
document.getElementById('token').value = initial;
start(initial);
