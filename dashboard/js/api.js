// The JSON API client (session, CSRF), the counts behind the nav badge, and the SSE stream.
import { API } from './format.js';
import { $, $$, debounce } from './dom.js';
import { nav } from './nav.js';

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const session = { csrf: null, expired: false, loading: null };

export async function loadSession() {
  if (!session.loading) {
    session.loading = api(`${API}/session`).then((s) => {
      session.csrf = s && s.csrfToken;
      return s;
    }).finally(() => { session.loading = null; });
  }
  return session.loading;
}

export async function api(path, { method = 'GET', body } = {}) {
  const options = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    if (!session.csrf) await loadSession();
    options.headers['Content-Type'] = 'application/json';
    options.headers['X-CSRF-Token'] = session.csrf || '';
    options.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (_) {
    throw new ApiError(0, 'network', 'Could not reach commsd. Check that it is still running on this computer, then try again.');
  }
  if (response.status === 401) {
    sessionExpired();
    throw new ApiError(401, 'unauthenticated', 'Your session has ended. Run commsctl dashboard on the computer running commsd to sign in again.');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!response.ok) {
    const message = (data && typeof data.message === 'string' && data.message) ||
      `commsd could not do this (HTTP ${response.status}).`;
    throw new ApiError(response.status, (data && data.code) || `http_${response.status}`, message, data && data.details);
  }
  return data;
}

export const itemUrl = (id) => `${API}/items/${encodeURIComponent(id)}`;

function sessionExpired() {
  if (session.expired) return;
  session.expired = true;
  const banner = $('[data-testid="session-expired"]');
  banner.hidden = false;
  setLive('expired');
  live.stop();
  for (const btn of $$('button[data-needs-session]')) btn.disabled = true;
}

// ---------------------------------------------------------------- counts (nav badge, queue tabs)

export const counts = { outbox: null, listeners: new Set() };

export async function refreshCounts() {
  try {
    const status = await api(`${API}/status`);
    counts.outbox = (status && status.outbox) || {};
    renderNavCount();
    for (const fn of counts.listeners) fn(counts.outbox, status);
  } catch (_) {
    // The badge is a convenience; the pages show errors themselves.
  }
}
const refreshCountsSoon = debounce(refreshCounts, 250);

function renderNavCount() {
  const badge = $('[data-testid="pending-count"]');
  const n = counts.outbox ? Number(counts.outbox.pending_approval || 0) : 0;
  badge.textContent = String(n);
  badge.hidden = !counts.outbox || n === 0;
  badge.setAttribute('aria-label', `${n} waiting for approval`);
  badge.title = `${n} waiting for approval`;
  updateTitle();
}

export function updateTitle() {
  const n = counts.outbox ? Number(counts.outbox.pending_approval || 0) : 0;
  const base = nav.currentView && nav.currentView.title ? nav.currentView.title : 'commsd';
  const prefix = n > 0 ? `(${n}) ` : '';
  document.title = `${prefix}${base} · commsd`;
}

// ---------------------------------------------------------------- live updates (SSE)

export function setLive(state) {
  const el = $('[data-testid="live-status"]');
  const labels = {
    connecting: 'Connecting…',
    connected: 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline, retrying…',
    expired: 'Signed out',
  };
  el.setAttribute('data-state', state);
  $('.live-text', el).textContent = labels[state] || state;
  el.title = {
    connected: 'Connected: this page updates by itself',
    reconnecting: 'Lost the connection to commsd; reconnecting. The page may be out of date until then.',
    offline: 'commsd is not answering. The page will catch up once it is back.',
    expired: 'Your session has ended',
  }[state] || 'Connecting to commsd';
}

export const live = {
  source: null,
  retryTimer: null,
  retryDelay: 1000,
  hadError: false,

  start() {
    if (session.expired || !window.EventSource) return;
    this.stop();
    setLive(this.hadError ? 'reconnecting' : 'connecting');
    const source = new EventSource(`${API}/events`);
    this.source = source;
    source.addEventListener('open', () => {
      setLive('connected');
      this.retryDelay = 1000;
      if (this.hadError) {
        // We may have missed events while disconnected: catch up.
        this.hadError = false;
        refreshCounts();
        if (nav.currentView && nav.currentView.onReconnect) nav.currentView.onReconnect();
      }
    });
    source.addEventListener('error', () => {
      this.hadError = true;
      if (source.readyState === EventSource.CONNECTING) {
        setLive('reconnecting');
        return;
      }
      // CLOSED: the server refused the stream (for example 401). Find out why, then retry.
      this.stop();
      this.checkAndRetry();
    });
    source.addEventListener('outbox', (ev) => {
      const data = parseEventData(ev);
      if (!data) return;
      refreshCountsSoon();
      if (nav.currentView && nav.currentView.onOutbox) nav.currentView.onOutbox(data);
    });
    // The server skipped events because this page fell behind: catch up as after a reconnect.
    source.addEventListener('lagged', () => {
      refreshCounts();
      if (nav.currentView && nav.currentView.onReconnect) nav.currentView.onReconnect();
    });
    source.addEventListener('accounts', () => {
      if (nav.currentView && nav.currentView.onAccounts) nav.currentView.onAccounts();
    });
    source.addEventListener('received', (ev) => {
      const data = parseEventData(ev);
      if (!data) return;
      if (nav.currentView && nav.currentView.onReceived) nav.currentView.onReceived(data);
    });
    source.addEventListener('inbox', (ev) => {
      const data = parseEventData(ev);
      if (!data) return;
      if (nav.currentView && nav.currentView.onInbox) nav.currentView.onInbox(data);
    });
    source.addEventListener('audit', (ev) => {
      const data = parseEventData(ev);
      if (!data) return;
      if (nav.currentView && nav.currentView.onAudit) nav.currentView.onAudit(data);
    });
  },

  async checkAndRetry() {
    try {
      await loadSession();
      setLive('reconnecting');
    } catch (err) {
      if (err.status === 401) return; // sessionExpired() took over
      setLive('offline');
    }
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.start(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 30000);
  },

  stop() {
    window.clearTimeout(this.retryTimer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  },
};

function parseEventData(ev) {
  try { return JSON.parse(ev.data); } catch (_) { return null; }
}
