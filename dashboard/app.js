// commsd review dashboard. Vanilla ES2020, no build step, nothing loaded from outside.
//
// Everything shown here is written by agents and therefore untrusted: it only ever
// reaches the page through textContent and DOM APIs, never through innerHTML. HTML
// email bodies are rendered by the server (sanitised, strict CSP) inside an
// <iframe sandbox=""> and never parsed by this script.
'use strict';

(() => {
  // ---------------------------------------------------------------- constants

  const API = '/dashboard/api';
  const PAGE_SIZE = 50;
  const AUDIT_PAGE_SIZE = 100;

  const STATE_LABELS = {
    draft: 'Draft',
    pending_approval: 'Waiting for approval',
    approved: 'Approved',
    sending: 'Sending',
    sent: 'Sent',
    rejected: 'Rejected',
    expired: 'Expired',
    failed: 'Failed',
    cancelled: 'Cancelled',
    unknown: 'Outcome unknown',
  };
  const STATE_TONE = {
    draft: 'neutral',
    pending_approval: 'warn',
    approved: 'accent',
    sending: 'accent',
    sent: 'ok',
    rejected: 'danger',
    expired: 'neutral',
    failed: 'danger',
    cancelled: 'neutral',
    unknown: 'warn',
  };
  const STATE_ORDER = Object.keys(STATE_LABELS);

  // The queue's filter tabs: the pending queue first, then the states that need a look.
  const QUEUE_TABS = [
    { state: 'pending_approval', label: 'Waiting for approval', empty: 'Nothing waiting for approval', emptyHint: 'New messages from your agents appear here as soon as they are staged. Nothing is sent until someone approves it.' },
    { state: 'draft', label: 'Drafts', empty: 'No drafts', emptyHint: 'Drafts wait for the agent that wrote them to confirm them.' },
    { state: 'approved', label: 'Approved', empty: 'No approved messages waiting to go out', emptyHint: 'Approved messages are sent shortly after approval.' },
    { state: 'unknown', label: 'Outcome unknown', empty: 'No messages with an unknown outcome', emptyHint: 'A message lands here if commsd stopped while sending it, or if the mail server or Gmail took it and the answer was lost. It is never resent automatically.' },
    { state: 'failed', label: 'Failed', empty: 'No failed messages', emptyHint: 'Messages that could not be delivered are listed here.' },
  ];

  const CHANNEL_LABELS = { email: 'Email', sms: 'SMS', chat: 'Chat' };
  const PRIORITY_LABELS = { high: 'High', normal: 'Normal', low: 'Low' };
  const PRIORITY_RANK = { high: 0, normal: 1, low: 2 };
  const DECISION_LABELS = {
    approve: 'A person must approve',
    confirm: 'The agent may confirm',
    auto: 'Sent without asking',
  };
  const AUDIT_DECISION_LABELS = {
    approve: 'Needs approval',
    confirm: 'Agent confirms',
    auto: 'Automatic',
  };
  const ACTION_LABELS = {
    staged: 'Staged',
    approved: 'Approved',
    rejected: 'Rejected',
    edited: 'Edited',
    cancelled: 'Cancelled',
    confirmed: 'Confirmed by agent',
    sending: 'Sending',
    sent: 'Sent',
    failed: 'Failed',
    expired: 'Expired',
    marked_unknown: 'Marked unknown',
    dashboard_login: 'Dashboard sign-in',
  };
  const ACTION_TONE = {
    staged: 'neutral',
    approved: 'accent',
    confirmed: 'accent',
    sending: 'accent',
    sent: 'ok',
    rejected: 'danger',
    failed: 'danger',
    marked_unknown: 'warn',
    edited: 'warn',
  };

  const APPROVABLE = new Set(['draft', 'pending_approval']);
  // Assumption: an approved item can still be cancelled until it starts sending.
  const CANCELLABLE = new Set(['draft', 'pending_approval', 'approved']);

  // ---------------------------------------------------------------- DOM helpers

  /** Creates an element. attrs: plain attributes plus `class`, `text`, `on<event>`. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === 'class') el.className = value;
        else if (key === 'text') el.textContent = String(value);
        else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
        else if (value === true) el.setAttribute(key, '');
        else el.setAttribute(key, String(value));
      }
    }
    appendAll(el, children);
    return el;
  }

  function appendAll(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function clear(el) {
    el.replaceChildren();
    return el;
  }

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  function announce(message) {
    const region = $('#announcer');
    region.textContent = '';
    // A fresh text node after a tick makes screen readers announce repeated messages too.
    window.setTimeout(() => { region.textContent = message; }, 50);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => fn(...args), ms);
    };
  }

  // ---------------------------------------------------------------- formatting

  const absoluteFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

  function parseDate(value) {
    if (!value) return null;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function absoluteTime(value) {
    const d = parseDate(value);
    return d ? absoluteFormat.format(d) : '—';
  }

  /** "just now", "12 min ago", "3 h ago", "2 days ago"; "in 5 min" for the future. */
  function relativeTime(value, now = Date.now()) {
    const d = parseDate(value);
    if (!d) return '—';
    const diff = Math.round((now - d.getTime()) / 1000);
    const future = diff < 0;
    const s = Math.abs(diff);
    let text;
    if (s < 45) return future ? 'in a moment' : 'just now';
    if (s < 3600) text = `${Math.max(1, Math.round(s / 60))} min`;
    else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
    else {
      const days = Math.floor(s / 86400);
      text = days === 1 ? '1 day' : `${days} days`;
    }
    return future ? `in ${text}` : `${text} ago`;
  }

  /** A <time> element showing relative time, with the absolute time as a tooltip; kept fresh. */
  function relTime(value, { prefix = '' } = {}) {
    const d = parseDate(value);
    const el = h('time', {
      class: 'rel-time',
      datetime: d ? d.toISOString() : null,
      title: absoluteTime(value),
      'data-prefix': prefix || null,
      text: prefix + relativeTime(value),
    });
    return el;
  }

  function refreshRelativeTimes() {
    const now = Date.now();
    for (const el of $$('time.rel-time')) {
      const prefix = el.getAttribute('data-prefix') || '';
      el.textContent = prefix + relativeTime(el.getAttribute('datetime'), now);
    }
  }

  function humanSize(bytes) {
    const n = Number(bytes);
    if (!Number.isFinite(n) || n < 0) return '—';
    if (n < 1024) return `${n} bytes`;
    const units = ['KB', 'MB', 'GB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
  }

  function humanDuration(seconds) {
    let s = Math.max(0, Math.floor(Number(seconds) || 0));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const hrs = Math.floor(s / 3600); s -= hrs * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return `${d} d ${hrs} h`;
    if (hrs > 0) return `${hrs} h ${m} min`;
    if (m > 0) return `${m} min ${s} s`;
    return `${s} s`;
  }

  function shortHash(hash, n = 12) {
    if (!hash) return '—';
    return hash.length > n ? `${hash.slice(0, n)}…` : hash;
  }

  /** "key:gemini-cli" → "gemini-cli (API key)" etc. */
  function requesterLabel(requester) {
    if (!requester) return '—';
    if (requester === 'cli') return 'Command line';
    if (requester === 'dashboard') return 'Dashboard';
    const idx = requester.indexOf(':');
    if (idx > 0) {
      const kind = requester.slice(0, idx);
      const name = requester.slice(idx + 1);
      if (kind === 'mcp') return `${name} (MCP)`;
      if (kind === 'key') return `${name} (API key)`;
      return `${name} (${kind})`;
    }
    return requester;
  }

  function actorLabel(actor) {
    return actor ? requesterLabel(actor) : '—';
  }

  function labelFor(map, key) {
    if (!key) return '—';
    return map[key] || key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  }

  function itemTitle(item) {
    const c = item.content || {};
    if (item.channel === 'email') return (c.subject && c.subject.trim()) || '(no subject)';
    if (item.summary && item.summary.trim()) return item.summary;
    if (item.channel === 'sms') return `Text message to ${c.to || 'unknown number'}`;
    if (item.channel === 'chat') return `Chat message to ${c.space || 'unknown space'}`;
    return item.id;
  }

  function summaryText(item) {
    return (item.summary && item.summary.trim()) || itemTitle(item);
  }

  function recipientsOf(item) {
    if (Array.isArray(item.recipients) && item.recipients.length) return item.recipients;
    const c = item.content || {};
    if (item.channel === 'email') return [...(c.to || []), ...(c.cc || []), ...(c.bcc || [])];
    if (item.channel === 'sms') return c.to ? [c.to] : [];
    if (item.channel === 'chat') return c.space ? [c.space] : [];
    return [];
  }

  function sortItems(items) {
    return items.sort((a, b) => {
      const pa = PRIORITY_RANK[a.priority] ?? 1;
      const pb = PRIORITY_RANK[b.priority] ?? 1;
      if (pa !== pb) return pa - pb;
      const ta = parseDate(a.createdAt)?.getTime() ?? 0;
      const tb = parseDate(b.createdAt)?.getTime() ?? 0;
      if (ta !== tb) return ta - tb;
      return String(a.id).localeCompare(String(b.id));
    });
  }

  function pill(text, tone, attrs = {}) {
    return h('span', { ...attrs, class: `pill pill-${tone || 'neutral'}` }, text);
  }

  function stateBadge(state, attrs = {}) {
    return pill(labelFor(STATE_LABELS, state), STATE_TONE[state], { 'data-state': state, ...attrs });
  }

  function priorityBadge(priority) {
    const p = priority || 'normal';
    return h('span', { class: `priority priority-${p}`, 'data-priority': p },
      h('span', { class: 'priority-mark', 'aria-hidden': 'true' }),
      labelFor(PRIORITY_LABELS, p));
  }

  function kbd(key) {
    return h('kbd', null, key);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  const session = { csrf: null, expired: false, loading: null };

  async function loadSession() {
    if (!session.loading) {
      session.loading = api(`${API}/session`).then((s) => {
        session.csrf = s && s.csrfToken;
        return s;
      }).finally(() => { session.loading = null; });
    }
    return session.loading;
  }

  async function api(path, { method = 'GET', body } = {}) {
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

  const itemUrl = (id) => `${API}/items/${encodeURIComponent(id)}`;

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

  const counts = { outbox: null, listeners: new Set() };

  async function refreshCounts() {
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

  // ---------------------------------------------------------------- live updates (SSE)

  function setLive(state) {
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

  const live = {
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
          if (currentView && currentView.onReconnect) currentView.onReconnect();
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
        if (currentView && currentView.onOutbox) currentView.onOutbox(data);
      });
      // The server skipped events because this page fell behind: catch up as after a reconnect.
      source.addEventListener('lagged', () => {
        refreshCounts();
        if (currentView && currentView.onReconnect) currentView.onReconnect();
      });
      source.addEventListener('accounts', () => {
        if (currentView && currentView.onAccounts) currentView.onAccounts();
      });
      source.addEventListener('received', (ev) => {
        const data = parseEventData(ev);
        if (!data) return;
        if (currentView && currentView.onReceived) currentView.onReceived(data);
      });
      source.addEventListener('audit', (ev) => {
        const data = parseEventData(ev);
        if (!data) return;
        if (currentView && currentView.onAudit) currentView.onAudit(data);
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

  // ---------------------------------------------------------------- routing

  let currentView = null;
  let flash = null; // a message for the next page, e.g. after approving
  let pendingDetailAction = null; // 'reject' when `r` was pressed in the queue
  let lastOpenedId = null; // to put focus back on that row when returning to the queue

  const routes = [
    { re: /^\/review\/?$/, view: (m, params) => queueView(params) },
    { re: /^\/review\/([^/]+)\/?$/, view: (m) => detailView(safeDecode(m[1])) },
    { re: /^\/audit\/?$/, view: () => auditView() },
    { re: /^\/status\/?$/, view: () => statusView() },
    { re: /^\/accounts\/?$/, view: () => accountsView() },
    { re: /^\/texts\/?$/, view: () => smsThreadsView() },
    { re: /^\/texts\/([^/]+)\/?$/, view: (m, params) => smsThreadView(safeDecode(m[1]), params.get('accountId')) },
  ];

  function safeDecode(part) {
    try { return decodeURIComponent(part); } catch (_) { return part; }
  }

  function isAppPath(pathname) {
    return pathname === '/' || routes.some((r) => r.re.test(pathname));
  }

  function navigate(url, { replace = false } = {}) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    route({ focus: true });
  }

  function route({ focus = false } = {}) {
    if (location.pathname === '/') {
      history.replaceState(null, '', '/review');
    }
    if (currentView && currentView.destroy) currentView.destroy();
    currentView = null;

    const params = new URLSearchParams(location.search);
    let view = null;
    for (const r of routes) {
      const m = location.pathname.match(r.re);
      if (m) { view = r.view(m, params); break; }
    }
    if (!view) view = notFoundView();
    currentView = view;

    for (const link of $$('.mainnav a')) {
      if (link.getAttribute('data-nav') === view.nav) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const main = $('#main');
    main.replaceChildren(view.root);
    updateTitle();
    if (view.mount) view.mount({ focus });
    else if (focus) focusHeading();
  }

  function focusHeading() {
    const heading = $('#main h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: false });
    } else {
      $('#main').focus();
    }
  }

  function updateTitle() {
    const n = counts.outbox ? Number(counts.outbox.pending_approval || 0) : 0;
    const base = currentView && currentView.title ? currentView.title : 'commsd';
    const prefix = n > 0 ? `(${n}) ` : '';
    document.title = `${prefix}${base} · commsd`;
  }

  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    if (a.origin !== location.origin || !isAppPath(a.pathname)) return;
    if (a.getAttribute('href').startsWith('#')) return;
    e.preventDefault();
    if (a.pathname + a.search === location.pathname + location.search) {
      route({ focus: true });
      return;
    }
    navigate(a.pathname + a.search);
  });

  window.addEventListener('popstate', () => route({ focus: true }));

  // ---------------------------------------------------------------- keyboard

  function isTypingTarget(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
    if (tag === 'INPUT') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(type);
    }
    return false;
  }

  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape') {
      const openHelp = $('[data-testid="shortcuts"][open]');
      if (openHelp) {
        e.preventDefault();
        openHelp.open = false;
        $('summary', openHelp).focus();
        return;
      }
    }
    if (isTypingTarget(e.target)) return;
    if (e.key === '?') {
      const help = $('[data-testid="shortcuts"]');
      if (help) {
        e.preventDefault();
        help.open = !help.open;
        $('summary', help).focus();
      }
      return;
    }
    if (currentView && currentView.onKey) currentView.onKey(e);
  });

  // ---------------------------------------------------------------- shared page pieces

  function pageHeader(title, ...extra) {
    return h('div', { class: 'page-header' },
      h('h1', { tabindex: '-1' }, title),
      extra.length ? h('div', { class: 'page-header-extra' }, extra) : null);
  }

  function errorBox(message, { testid = 'page-error', retry } = {}) {
    return h('div', { class: 'callout callout-danger', role: 'alert', 'data-testid': testid },
      h('p', null, message),
      retry ? h('p', null, h('button', { type: 'button', class: 'btn btn-secondary', onclick: retry }, 'Try again')) : null);
  }

  function flashBox() {
    if (!flash) return null;
    const box = h('div', { class: `callout callout-${flash.tone || 'ok'} flash`, role: 'status', 'data-testid': 'flash' },
      h('p', null, flash.message),
      h('button', {
        type: 'button', class: 'flash-close', 'aria-label': 'Dismiss this message', title: 'Dismiss',
        onclick: () => {
          const main = $('#main');
          const hadFocus = box.contains(document.activeElement);
          box.remove();
          if (hadFocus) main.focus();
        },
      }, '×'));
    announce(flash.message);
    flash = null;
    // The message has been announced; clear it after a while so it does not go stale.
    window.setTimeout(() => { if (!box.contains(document.activeElement)) box.remove(); }, 20000);
    return box;
  }

  function loadingRow(text = 'Loading…') {
    return h('p', { class: 'loading', 'data-testid': 'loading' }, text);
  }

  // ================================================================= /review

  function queueView(params) {
    const requestedState = params.get('state') || 'pending_approval';
    const tab = QUEUE_TABS.find((t) => t.state === requestedState) ||
      { state: requestedState, label: labelFor(STATE_LABELS, requestedState), empty: `No messages in state “${labelFor(STATE_LABELS, requestedState)}”`, emptyHint: '' };
    const channel = ['email', 'sms', 'chat'].includes(params.get('channel')) ? params.get('channel') : '';
    const approvable = APPROVABLE.has(tab.state);

    const st = {
      items: [],
      nextCursor: null,
      loaded: false,
      selected: new Set(),
      activeId: null,
      confirmOpen: false,
      busy: false,
      destroyed: false,
    };

    const flashEl = flashBox();
    const tabCountEls = {};

    const queueUrl = (state, ch) => {
      const p = new URLSearchParams();
      if (state && state !== 'pending_approval') p.set('state', state);
      if (ch) p.set('channel', ch);
      const qs = p.toString();
      return qs ? `/review?${qs}` : '/review';
    };

    const tabs = h('nav', { class: 'tabs', 'aria-label': 'Which messages to show' },
      h('ul', null, QUEUE_TABS.map((t) => {
        const countEl = h('span', { class: 'tab-count', 'aria-hidden': 'true' });
        tabCountEls[t.state] = countEl;
        return h('li', null,
          h('a', {
            href: queueUrl(t.state, channel),
            'aria-current': t.state === tab.state ? 'page' : null,
            'data-testid': `tab-${t.state}`,
          }, h('span', null, t.label), countEl));
      })));

    const channelSelect = h('select', { id: 'channel-filter', 'data-testid': 'channel-filter' },
      h('option', { value: '' }, 'All channels'),
      h('option', { value: 'email' }, 'Email'),
      h('option', { value: 'sms' }, 'SMS'),
      h('option', { value: 'chat' }, 'Chat'));
    channelSelect.value = channel;
    channelSelect.addEventListener('change', () => navigate(queueUrl(tab.state, channelSelect.value), { replace: true }));

    const batchButton = h('button', {
      type: 'button', class: 'btn btn-primary', 'data-testid': 'batch-approve', 'data-needs-session': true, disabled: true,
      onclick: () => openConfirm(),
    }, 'Approve selected (0)');

    const toolbar = h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-group' },
        h('label', { for: 'channel-filter', class: 'inline-label' }, 'Channel'),
        channelSelect),
      h('p', { class: 'toolbar-status', 'data-testid': 'selection-status', 'aria-live': 'polite' }),
      approvable ? batchButton : null);

    const confirmSlot = h('div', { class: 'confirm-slot' });
    const batchResult = h('div', { class: 'batch-result', 'data-testid': 'batch-result' });

    const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all messages shown', 'data-testid': 'select-all' });
    selectAll.addEventListener('change', () => {
      if (selectAll.checked) for (const it of st.items) st.selected.add(it.id);
      else st.selected.clear();
      syncSelection();
    });

    const tbody = h('tbody');
    const table = h('table', { class: 'queue', 'data-testid': 'queue-table' },
      h('caption', { class: 'visually-hidden' }, `${tab.label}${channel ? `, ${CHANNEL_LABELS[channel]} only` : ''}. Sorted by priority, then oldest first.`),
      h('colgroup', null,
        approvable ? h('col', { class: 'col-check' }) : null,
        h('col', { class: 'col-priority' }),
        h('col', { class: 'col-age' }),
        h('col', { class: 'col-channel' }),
        h('col', { class: 'col-account' }),
        h('col', { class: 'col-requester' }),
        h('col', { class: 'col-recipients' }),
        h('col', { class: 'col-summary' })),
      h('thead', null, h('tr', null,
        approvable ? h('th', { scope: 'col', class: 'cell-check' }, h('label', { class: 'check-hit' }, selectAll)) : null,
        h('th', { scope: 'col' }, 'Priority'),
        h('th', { scope: 'col' }, 'Age'),
        h('th', { scope: 'col' }, 'Channel'),
        h('th', { scope: 'col' }, 'Account'),
        h('th', { scope: 'col' }, 'Requested by'),
        h('th', { scope: 'col' }, 'Recipients'),
        h('th', { scope: 'col' }, 'Summary'))),
      tbody);

    const listState = h('div', { class: 'list-state' }, loadingRow('Loading messages…'));
    const tableWrap = h('div', { class: 'table-wrap', hidden: true }, table);
    const moreButton = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'load-more', hidden: true, onclick: () => loadMore() }, 'Show more');
    const moreError = h('div', { class: 'inline-error' });

    const shortcuts = h('details', { class: 'shortcuts', 'data-testid': 'shortcuts' },
      h('summary', null, 'Keyboard shortcuts'),
      h('dl', null,
        h('div', null, h('dt', null, kbd('j'), ' / ', kbd('k'), ' or ', kbd('↓'), ' / ', kbd('↑')), h('dd', null, 'Move between messages')),
        approvable ? h('div', null, h('dt', null, kbd('x')), h('dd', null, 'Select or unselect the message')) : null,
        h('div', null, h('dt', null, kbd('Enter')), h('dd', null, 'Open the message')),
        approvable ? h('div', null, h('dt', null, kbd('a')), h('dd', null, 'Approve the selected messages (asks first)')) : null,
        approvable ? h('div', null, h('dt', null, kbd('r')), h('dd', null, 'Reject the current message (asks for a reason)')) : null,
        h('div', null, h('dt', null, kbd('?')), h('dd', null, 'Show or hide this list'))));

    const root = h('div', { class: 'view view-queue', 'data-testid': 'review-page' },
      h('div', { class: 'page-header page-header-row' }, h('h1', { tabindex: '-1' }, 'Review'), shortcuts),
      flashEl,
      tabs,
      toolbar,
      confirmSlot,
      batchResult,
      listState,
      tableWrap,
      h('div', { class: 'list-footer' }, moreButton, moreError));

    // ---- rendering

    function recipientsCell(item) {
      const list = recipientsOf(item);
      if (!list.length) return h('span', { class: 'muted' }, '—');
      const first = list[0];
      return h('span', { class: 'recipients', title: list.join('\n') },
        h('span', { class: 'truncate' }, first),
        list.length > 1 ? h('span', { class: 'more' }, `+${list.length - 1}`) : null);
    }

    function rowFor(item) {
      const title = summaryText(item);
      const checkbox = approvable
        ? h('input', {
          type: 'checkbox',
          'data-testid': 'row-select',
          'aria-label': `Select: ${title}`,
        })
        : null;
      if (checkbox) {
        checkbox.checked = st.selected.has(item.id);
        checkbox.addEventListener('change', () => {
          if (checkbox.checked) st.selected.add(item.id);
          else st.selected.delete(item.id);
          st.activeId = item.id;
          syncSelection();
        });
      }
      const tr = h('tr', { 'data-testid': 'item-row', 'data-id': item.id, 'data-priority': item.priority || 'normal', 'data-state': item.state },
        approvable ? h('td', { class: 'cell-check' }, h('label', { class: 'check-hit' }, checkbox)) : null,
        h('td', null, priorityBadge(item.priority)),
        h('td', { class: 'cell-age' }, relTime(item.createdAt)),
        h('td', null, h('span', { class: `channel channel-${item.channel}` }, labelFor(CHANNEL_LABELS, item.channel))),
        h('td', { class: 'cell-account' }, h('span', { class: 'truncate', title: item.accountId || '' }, item.accountId || '—')),
        h('td', { class: 'cell-requester' }, h('span', { class: 'truncate', title: item.requester || '' }, requesterLabel(item.requester))),
        h('td', { class: 'cell-recipients' }, recipientsCell(item)),
        h('td', { class: 'cell-summary' },
          h('a', { href: `/review/${encodeURIComponent(item.id)}`, class: 'row-link', 'data-testid': 'item-link', title },
            h('span', { class: 'clamp-2' }, title)),
          item.policy && item.policy.holdReason ? h('span', { class: 'row-note' }, `Held: ${item.policy.holdReason}`) : null,
          tab.state !== item.state ? stateBadge(item.state) : null));
      if (st.selected.has(item.id)) tr.classList.add('is-selected');
      return tr;
    }

    function renderList() {
      if (st.destroyed) return;
      if (!st.loaded) return;
      clear(tbody);
      if (!st.items.length) {
        tableWrap.hidden = true;
        listState.replaceChildren(h('div', { class: 'empty', 'data-testid': 'empty-state' },
          h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
          h('p', { class: 'empty-title' }, channel ? `${tab.empty} (${CHANNEL_LABELS[channel]})` : tab.empty),
          tab.emptyHint ? h('p', { class: 'empty-hint' }, tab.emptyHint) : null));
      } else {
        listState.replaceChildren();
        tableWrap.hidden = false;
        for (const it of st.items) tbody.append(rowFor(it));
      }
      moreButton.hidden = !st.nextCursor;
      syncSelection();
      markActive();
    }

    function syncSelection() {
      // Forget selections of items no longer listed.
      const listed = new Set(st.items.map((i) => i.id));
      for (const id of Array.from(st.selected)) if (!listed.has(id)) st.selected.delete(id);
      const n = st.selected.size;
      batchButton.textContent = `Approve selected (${n})`;
      batchButton.disabled = n === 0 || st.busy || session.expired;
      for (const tr of $$('tr[data-testid="item-row"]', tbody)) {
        const on = st.selected.has(tr.getAttribute('data-id'));
        tr.classList.toggle('is-selected', on);
        const cb = $('input[type="checkbox"]', tr);
        if (cb) cb.checked = on;
      }
      selectAll.checked = n > 0 && n === st.items.length;
      selectAll.indeterminate = n > 0 && n < st.items.length;
      const status = $('[data-testid="selection-status"]', root);
      if (st.loaded) {
        const shown = st.items.length;
        status.textContent = n > 0
          ? `${n} of ${shown} selected`
          : `${shown}${st.nextCursor ? '+' : ''} ${shown === 1 ? 'message' : 'messages'}`;
      }
      if (st.confirmOpen) renderConfirm();
    }

    function markActive() {
      for (const tr of $$('tr[data-testid="item-row"]', tbody)) {
        tr.classList.toggle('is-active', tr.getAttribute('data-id') === st.activeId);
      }
    }

    function rowEl(id) {
      return $$('tr[data-testid="item-row"]', tbody).find((tr) => tr.getAttribute('data-id') === id) || null;
    }

    function focusRow(id, testid = 'item-link') {
      const tr = rowEl(id);
      if (!tr) return;
      st.activeId = id;
      markActive();
      const target = $(`[data-testid="${testid}"]`, tr) || $('a.row-link', tr);
      target.focus();
      tr.scrollIntoView({ block: 'nearest' });
    }

    function focusedControl() {
      const el = document.activeElement;
      return el && tbody.contains(el) ? el.getAttribute('data-testid') || 'item-link' : 'item-link';
    }

    function currentRowId() {
      const tr = document.activeElement && document.activeElement.closest ? document.activeElement.closest('tr[data-testid="item-row"]') : null;
      if (tr && tbody.contains(tr)) return tr.getAttribute('data-id');
      if (st.activeId && st.items.some((i) => i.id === st.activeId)) return st.activeId;
      return null;
    }

    function move(delta) {
      if (!st.items.length) return;
      const id = currentRowId();
      let idx = id ? st.items.findIndex((i) => i.id === id) : -1;
      if (idx === -1) idx = delta > 0 ? 0 : st.items.length - 1;
      else idx = Math.min(st.items.length - 1, Math.max(0, idx + delta));
      focusRow(st.items[idx].id);
    }

    // ---- data

    async function load() {
      const p = new URLSearchParams({ state: tab.state, limit: String(PAGE_SIZE) });
      if (channel) p.set('channel', channel);
      try {
        const data = await api(`${API}/items?${p}`);
        if (st.destroyed) return;
        st.items = sortItems(Array.isArray(data.items) ? data.items.slice() : []);
        st.nextCursor = data.nextCursor || null;
        st.loaded = true;
        renderList();
      } catch (err) {
        if (st.destroyed) return;
        listState.replaceChildren(errorBox(err.message, { retry: () => { listState.replaceChildren(loadingRow('Loading messages…')); load(); } }));
        throw err;
      }
    }

    async function loadMore() {
      if (!st.nextCursor) return;
      moreButton.disabled = true;
      moreError.replaceChildren();
      const p = new URLSearchParams({ state: tab.state, limit: String(PAGE_SIZE), cursor: st.nextCursor });
      if (channel) p.set('channel', channel);
      try {
        const data = await api(`${API}/items?${p}`);
        const known = new Set(st.items.map((i) => i.id));
        for (const it of data.items || []) if (!known.has(it.id)) st.items.push(it);
        sortItems(st.items);
        st.nextCursor = data.nextCursor || null;
        renderList();
      } catch (err) {
        moreError.replaceChildren(errorBox(err.message, { testid: 'load-more-error' }));
      } finally {
        moreButton.disabled = false;
      }
    }

    function belongsHere(item) {
      return item.state === tab.state && (!channel || item.channel === channel);
    }

    function removeItem(id) {
      const idx = st.items.findIndex((i) => i.id === id);
      if (idx === -1) return;
      const hadFocus = Boolean(rowEl(id) && rowEl(id).contains(document.activeElement));
      const focusedElsewhere = !hadFocus && tbody.contains(document.activeElement) ? currentRowId() : null;
      const control = focusedControl();
      st.items.splice(idx, 1);
      st.selected.delete(id);
      if (st.activeId === id || hadFocus) {
        const next = st.items[idx] || st.items[idx - 1];
        st.activeId = next ? next.id : null;
      }
      renderList();
      if (hadFocus) {
        if (st.activeId) focusRow(st.activeId, control);
        else focusHeading();
      } else if (focusedElsewhere) {
        focusRow(focusedElsewhere, control);
      }
    }

    function upsertItem(item, { fresh = false } = {}) {
      const idx = st.items.findIndex((i) => i.id === item.id);
      if (!belongsHere(item)) {
        removeItem(item.id);
        return;
      }
      if (idx !== -1) {
        st.items[idx] = item;
      } else {
        // With more pages to load, an item that sorts after the last one shown belongs to them.
        if (st.nextCursor && st.items.length) {
          const probe = sortItems([st.items[st.items.length - 1], item]);
          if (probe[0].id !== item.id) return;
        }
        st.items.push(item);
      }
      sortItems(st.items);
      const focusedId = currentRowId();
      const hadFocusInTable = tbody.contains(document.activeElement);
      const control = focusedControl();
      renderList();
      if (hadFocusInTable && focusedId) focusRow(focusedId, control);
      if (fresh && idx === -1) {
        const tr = rowEl(item.id);
        if (tr) tr.classList.add('is-new');
        announce(`New message waiting: ${summaryText(item)}`);
      }
    }

    async function onOutbox(ev) {
      if (!st.loaded || !ev || !ev.id) return;
      const listed = st.items.some((i) => i.id === ev.id);
      if (ev.state && ev.state !== tab.state) {
        if (listed) removeItem(ev.id);
        return;
      }
      if (channel && ev.channel && ev.channel !== channel) return;
      try {
        const item = await api(itemUrl(ev.id));
        if (st.destroyed) return;
        upsertItem(item, { fresh: !listed });
      } catch (_) {
        // A vanished item simply does not show.
      }
    }

    // ---- approving from the queue

    function targetsForApproval() {
      if (st.selected.size) return st.items.filter((i) => st.selected.has(i.id));
      const id = currentRowId();
      const item = id && st.items.find((i) => i.id === id);
      return item ? [item] : [];
    }

    let confirmTargets = [];

    function openConfirm(targets) {
      if (!approvable || session.expired) return;
      confirmTargets = targets || targetsForApproval();
      if (!confirmTargets.length) return;
      st.confirmOpen = true;
      batchResult.replaceChildren();
      renderConfirm();
      const btn = $('[data-testid="batch-approve-confirm"]', confirmSlot);
      if (btn) btn.focus();
    }

    function closeConfirm({ restoreFocus = true } = {}) {
      st.confirmOpen = false;
      confirmTargets = [];
      confirmSlot.replaceChildren();
      if (restoreFocus) {
        if (st.activeId && rowEl(st.activeId)) focusRow(st.activeId);
        else if (!batchButton.disabled) batchButton.focus();
      }
    }

    function renderConfirm() {
      // Keep only targets that are still listed (live updates may remove some).
      const listed = new Set(st.items.map((i) => i.id));
      confirmTargets = confirmTargets.filter((i) => listed.has(i.id));
      if (!confirmTargets.length) {
        closeConfirm({ restoreFocus: false });
        return;
      }
      const n = confirmTargets.length;
      const allRecipients = [...new Set(confirmTargets.flatMap(recipientsOf))];
      const shown = confirmTargets.slice(0, 8);
      const heading = n === 1 ? 'Approve and send this message?' : `Approve and send ${n} messages?`;
      const focusedConfirm = confirmSlot.contains(document.activeElement) ? document.activeElement.getAttribute('data-testid') : null;
      const panel = h('section', { class: 'confirm-panel', 'aria-labelledby': 'confirm-heading', 'data-testid': 'batch-confirm' },
        h('h2', { id: 'confirm-heading' }, heading),
        h('p', null, `${n === 1 ? 'It' : 'They'} will be sent to ${allRecipients.length} ${allRecipients.length === 1 ? 'recipient' : 'recipients'}:`),
        h('ul', { class: 'confirm-list', 'data-testid': 'batch-confirm-list' },
          shown.map((it) => h('li', null,
            h('span', { class: 'confirm-recipients' }, recipientsOf(it).join(', ') || '—'),
            h('span', { class: 'confirm-summary' }, ` — ${summaryText(it)}`),
            h('span', { class: 'muted' }, ` (${labelFor(CHANNEL_LABELS, it.channel)})`))),
          n > shown.length ? h('li', { class: 'muted' }, `and ${n - shown.length} more`) : null),
        h('div', { class: 'button-row' },
          h('button', {
            type: 'button', class: 'btn btn-primary', 'data-testid': 'batch-approve-confirm', 'data-needs-session': true,
            disabled: st.busy, onclick: () => approveTargets(),
          }, n === 1 ? 'Approve and send' : `Approve and send ${n}`),
          h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'batch-approve-cancel', onclick: () => closeConfirm() }, 'Not yet')));
      panel.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') { e.preventDefault(); closeConfirm(); }
      });
      confirmSlot.replaceChildren(panel);
      if (focusedConfirm) {
        const again = $(`[data-testid="${focusedConfirm}"]`, confirmSlot);
        if (again) again.focus();
      }
    }

    async function approveTargets() {
      const ids = confirmTargets.map((i) => i.id);
      const byId = new Map(confirmTargets.map((i) => [i.id, i]));
      if (!ids.length) return;
      st.busy = true;
      syncSelection();
      batchResult.replaceChildren();
      let results;
      try {
        const data = await api(`${API}/approve`, { method: 'POST', body: { itemIds: ids } });
        results = (data && data.results) || [];
      } catch (err) {
        st.busy = false;
        syncSelection();
        batchResult.replaceChildren(errorBox(`Nothing was approved: ${err.message}`, { testid: 'batch-error' }));
        return;
      }
      st.busy = false;
      closeConfirm({ restoreFocus: false });
      const ok = results.filter((r) => r.ok);
      const failed = results.filter((r) => !r.ok);
      for (const r of ok) {
        st.selected.delete(r.itemId);
        if (r.item) upsertItem(r.item);
        else removeItem(r.itemId);
      }
      syncSelection();
      const parts = [];
      if (ok.length) {
        const okText = ok.length === 1 ? `Approved “${summaryText(byId.get(ok[0].itemId) || ok[0].item || { id: ok[0].itemId })}”. It will be sent shortly.` : `Approved ${ok.length} messages. They will be sent shortly.`;
        parts.push(h('div', { class: 'callout callout-ok', role: 'status', 'data-testid': 'batch-success' }, h('p', null, okText)));
        announce(okText);
      }
      if (failed.length) {
        parts.push(h('div', { class: 'callout callout-danger', role: 'alert', 'data-testid': 'batch-error' },
          h('p', null, failed.length === 1 ? 'One message could not be approved:' : `${failed.length} messages could not be approved:`),
          h('ul', null, failed.map((r) => {
            const item = byId.get(r.itemId);
            return h('li', null,
              h('a', { href: `/review/${encodeURIComponent(r.itemId)}` }, item ? summaryText(item) : r.itemId),
              `: ${(r.error && r.error.message) || 'unknown error'}`);
          }))));
      }
      batchResult.replaceChildren(...parts);
      if (st.activeId && rowEl(st.activeId)) focusRow(st.activeId);
      else if (st.items.length) focusRow(st.items[0].id);
    }

    // ---- events

    tbody.addEventListener('click', (e) => {
      if (e.target.closest('a, input, label, button')) return;
      const tr = e.target.closest('tr[data-testid="item-row"]');
      if (!tr) return;
      const sel = window.getSelection && window.getSelection();
      if (sel && String(sel).length > 0) return; // the user is selecting text
      lastOpenedId = tr.getAttribute('data-id');
      navigate(`/review/${encodeURIComponent(lastOpenedId)}`);
    });
    tbody.addEventListener('focusin', (e) => {
      const tr = e.target.closest('tr[data-testid="item-row"]');
      if (tr) { st.activeId = tr.getAttribute('data-id'); markActive(); }
    });
    tbody.addEventListener('click', (e) => {
      const link = e.target.closest('a.row-link');
      if (link) lastOpenedId = link.closest('tr').getAttribute('data-id');
    }, true);

    function onKey(e) {
      if (st.confirmOpen && confirmSlot.contains(document.activeElement)) return;
      const inTableOrBody = document.activeElement === document.body || tbody.contains(document.activeElement) ||
        document.activeElement === $('#main') || document.activeElement === $('#main h1');
      switch (e.key) {
        case 'j':
          e.preventDefault(); move(1); break;
        case 'k':
          e.preventDefault(); move(-1); break;
        case 'ArrowDown':
          if (!inTableOrBody) return;
          e.preventDefault(); move(1); break;
        case 'ArrowUp':
          if (!inTableOrBody) return;
          e.preventDefault(); move(-1); break;
        case 'x': {
          if (!approvable) return;
          const id = currentRowId();
          if (!id) return;
          e.preventDefault();
          if (st.selected.has(id)) st.selected.delete(id);
          else st.selected.add(id);
          syncSelection();
          focusRow(id);
          break;
        }
        case 'Enter': {
          // A focused link opens by itself; this covers a highlighted row without focus.
          if (document.activeElement && document.activeElement.closest && document.activeElement.closest('a, button, input, summary')) return;
          const id = currentRowId();
          if (!id) return;
          e.preventDefault();
          lastOpenedId = id;
          navigate(`/review/${encodeURIComponent(id)}`);
          break;
        }
        case 'a':
          if (!approvable) return;
          e.preventDefault();
          openConfirm();
          break;
        case 'r': {
          if (!approvable) return;
          const id = currentRowId();
          if (!id) return;
          e.preventDefault();
          lastOpenedId = id;
          pendingDetailAction = 'reject';
          navigate(`/review/${encodeURIComponent(id)}`);
          break;
        }
        default:
      }
    }

    const onCounts = (outbox) => {
      for (const t of QUEUE_TABS) {
        const n = Number(outbox[t.state] || 0);
        tabCountEls[t.state].textContent = n > 0 ? String(n) : '';
        tabCountEls[t.state].hidden = n === 0;
      }
    };

    return {
      nav: 'review',
      title: tab.state === 'pending_approval' ? 'Review' : `Review: ${tab.label}`,
      root,
      mount({ focus }) {
        counts.listeners.add(onCounts);
        if (counts.outbox) onCounts(counts.outbox);
        const restoreId = lastOpenedId;
        load().then(() => {
          if (restoreId && st.items.some((i) => i.id === restoreId)) {
            st.activeId = restoreId;
            markActive();
            if (focus) { focusRow(restoreId); return; }
          }
          if (focus) focusHeading();
        }).catch(() => { if (focus) focusHeading(); });
        if (focus) focusHeading();
      },
      destroy() {
        st.destroyed = true;
        counts.listeners.delete(onCounts);
      },
      onOutbox,
      onReconnect() { load().catch(() => {}); },
      onKey,
    };
  }

  // ================================================================= /review/{id}

  function detailView(id) {
    const st = { item: null, mode: null, busy: false, destroyed: false, notice: null, staleNotice: false, bodyView: 'formatted' };
    const initialAction = pendingDetailAction;
    pendingDetailAction = null;
    lastOpenedId = id;

    const root = h('div', { class: 'view view-detail', 'data-testid': 'detail-page', 'data-id': id },
      h('p', { class: 'crumbs' }, h('a', { href: '/review', 'data-testid': 'back-to-queue' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Review queue')),
      loadingRow('Loading message…'));

    const isApprovable = () => st.item && APPROVABLE.has(st.item.state);
    const isCancellable = () => st.item && CANCELLABLE.has(st.item.state);

    // ---- envelope and body

    function addressList(list, testid) {
      if (!list || !list.length) return h('span', { class: 'muted', 'data-testid': testid }, 'none');
      return h('ul', { class: 'address-list', 'data-testid': testid }, list.map((a) => h('li', null, a)));
    }

    function envelope(item) {
      const c = item.content || {};
      const rows = [];
      const row = (label, value, opts = {}) => rows.push(h('div', { class: `env-row${opts.cls ? ` ${opts.cls}` : ''}` },
        h('dt', null, label, opts.note ? h('span', { class: 'env-note' }, opts.note) : null),
        h('dd', null, value)));
      if (item.channel === 'email') {
        row('From', h('span', { 'data-testid': 'detail-from' }, c.from || '—'));
        row('To', addressList(c.to, 'detail-to'));
        if (c.cc && c.cc.length) row('Cc', addressList(c.cc, 'detail-cc'));
        if (c.bcc && c.bcc.length) {
          row('Bcc', addressList(c.bcc, 'detail-bcc'), { note: 'hidden from other recipients', cls: 'env-bcc' });
        }
        row('Subject', h('span', { class: 'env-subject', 'data-testid': 'detail-subject' }, c.subject || '(no subject)'));
      } else if (item.channel === 'sms') {
        row('To', h('span', { 'data-testid': 'detail-to' }, c.to || '—'));
      } else if (item.channel === 'chat') {
        row('Space', h('span', { 'data-testid': 'detail-to' }, c.space || '—'));
        if (c.thread) row('Thread', c.thread);
      }
      return h('dl', { class: 'envelope', 'data-testid': 'envelope' }, rows);
    }

    function textBlock(text, testid = 'preview-text') {
      return h('pre', { class: 'message-text', 'data-testid': testid, tabindex: '0', 'aria-label': 'Message text' }, text || '');
    }

    function smsInfo(body) {
      const len = [...(body || '')].length;
      // GSM-7 fits 160 per single message (153 when split); anything else is UCS-2 (70 / 67).
      const gsm = /^[\n\r -~£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà€^{}\\[\]~|]*$/.test(body || '');
      const single = gsm ? 160 : 70;
      const multi = gsm ? 153 : 67;
      const parts = len <= single ? 1 : Math.ceil(len / multi);
      return `${len} characters · ${parts === 1 ? '1 text message' : `${parts} text messages`}`;
    }

    function messageBody(item) {
      const c = item.content || {};
      if (item.channel === 'email' && c.bodyHtml) {
        const formatted = st.bodyView === 'formatted';
        const toggle = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Show the message as' },
          h('button', { type: 'button', 'aria-pressed': String(formatted), 'data-testid': 'show-formatted', onclick: () => { st.bodyView = 'formatted'; render(); $('[data-testid="show-formatted"]', root).focus(); } }, 'Formatted'),
          h('button', { type: 'button', 'aria-pressed': String(!formatted), 'data-testid': 'show-plain', onclick: () => { st.bodyView = 'plain'; render(); $('[data-testid="show-plain"]', root).focus(); } }, 'Plain text'));
        const body = formatted
          ? h('div', { class: 'preview-frame-wrap' },
            h('iframe', {
              sandbox: '',
              src: `/dashboard/items/${encodeURIComponent(item.id)}/preview`,
              title: 'Message preview',
              referrerpolicy: 'no-referrer',
              loading: 'lazy',
              'data-testid': 'preview-frame',
            }))
          : textBlock(c.bodyText);
        return h('section', { class: 'message-body', 'aria-labelledby': 'body-heading' },
          h('div', { class: 'section-bar' },
            h('h2', { id: 'body-heading', class: 'section-title' }, 'Message'),
            toggle),
          body,
          formatted ? h('p', { class: 'fine-print' }, 'Shown as the recipient will see it. Links and images from the internet are not loaded here.') : null);
      }
      const text = item.channel === 'sms' ? c.body : item.channel === 'email' ? c.bodyText : c.text;
      return h('section', { class: 'message-body', 'aria-labelledby': 'body-heading' },
        h('div', { class: 'section-bar' }, h('h2', { id: 'body-heading', class: 'section-title' }, item.channel === 'sms' ? 'Text message' : 'Message'),
          item.channel === 'sms' && !c.segments ? h('span', { class: 'muted small' }, smsInfo(c.body)) : null),
        textBlock(text),
        item.channel === 'sms' && c.segments ? smsSegments(c.segments) : null);
    }

    /** How an SMS goes out, as commsd computed it (`content.segments`). */
    function smsSegments(s) {
      const n = Number(s.segments) || 0;
      const ucs2 = s.encoding === 'UCS-2';
      const forced = Array.isArray(s.ucs2Characters) ? s.ucs2Characters : [];
      const row = (label, value, testid) => h('div', { class: 'fact' }, h('dt', null, label), h('dd', { 'data-testid': testid }, value));
      return h('div', { class: 'sms-segments', 'data-testid': 'sms-segments' },
        h('dl', null,
          row('Encoding', s.encoding || '—', 'sms-encoding'),
          row('Segments', `${n} segment${n === 1 ? '' : 's'} (${s.characters} characters)`, 'sms-segment-count'),
          row('Estimated cost', typeof s.estimatedCost === 'number'
            ? `about ${s.estimatedCost} (at the configured price per segment, in the account's currency)`
            : h('span', { class: 'muted' }, 'not configured ([twilio] price_per_segment)'), 'sms-cost')),
        ucs2 && forced.length
          ? h('p', { class: 'callout callout-warn', 'data-testid': 'sms-ucs2' },
            'Sent as UCS-2 (70 characters per segment instead of 160) because of: ',
            forced.map((ch, i) => [i ? ', ' : '', h('code', null, ch), ` (U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')})`]))
          : null);
    }

    function attachmentsBlock(item) {
      const list = (item.content && item.content.attachments) || [];
      if (item.channel !== 'email') return null;
      return h('section', { class: 'attachments', 'aria-labelledby': 'att-heading' },
        h('h2', { id: 'att-heading', class: 'section-title' }, list.length ? `Attachments (${list.length})` : 'Attachments'),
        list.length
          ? h('ul', { class: 'attachment-list', 'data-testid': 'attachments' }, list.map((a) => h('li', { class: 'attachment', 'data-testid': 'attachment', title: a.sha256 ? `SHA-256 ${a.sha256}` : null },
            h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, (a.filename || '').split('.').pop().slice(0, 4).toUpperCase() || 'FILE'),
            h('span', { class: 'attachment-main' },
              h('span', { class: 'attachment-name' }, a.filename || '(unnamed)'),
              h('span', { class: 'attachment-meta' }, `${a.mimeType || 'unknown type'} · ${humanSize(a.size)}`)))))
          : h('p', { class: 'muted', 'data-testid': 'attachments' }, 'No attachments.'));
    }

    // ---- side panel: decision and facts

    function facts(item) {
      const p = item.policy || {};
      const row = (label, value, testid) => h('div', { class: 'fact' }, h('dt', null, label), h('dd', { 'data-testid': testid || null }, value));
      return h('section', { class: 'card facts', 'aria-labelledby': 'facts-heading' },
        h('h2', { id: 'facts-heading', class: 'card-title' }, 'Details'),
        h('dl', null,
          row('Account', item.accountId || '—', 'detail-account'),
          row('Requested by', h('span', { title: item.requester || '' }, requesterLabel(item.requester)), 'detail-requester'),
          row('Priority', priorityBadge(item.priority), 'detail-priority'),
          row('Policy', h('span', null, labelFor(DECISION_LABELS, p.decision), p.rule ? h('span', { class: 'muted' }, ` · rule `, h('code', null, p.rule)) : null), 'detail-policy'),
          p.holdReason ? row('Hold reason', p.holdReason, 'detail-hold-reason') : null,
          row('Staged', relTime(item.createdAt), 'detail-created'),
          item.updatedAt && item.updatedAt !== item.createdAt ? row('Last change', relTime(item.updatedAt)) : null,
          item.expiresAt ? row('Expires', relTime(item.expiresAt), 'detail-expires') : null,
          row('Content hash', h('code', { title: item.contentHash || '' }, shortHash(item.contentHash)), 'detail-hash'),
          row('ID', h('code', null, item.id), 'detail-id')));
    }

    function historyCard(item) {
      const entries = [];
      if (item.approval) entries.push(h('li', null, h('strong', null, 'Approved'), ` by ${actorLabel(item.approval.by)} `, relTime(item.approval.at)));
      if (item.rejection) {
        entries.push(h('li', null, h('strong', null, 'Rejected'), ` by ${actorLabel(item.rejection.by)} `, relTime(item.rejection.at),
          item.rejection.reason ? h('blockquote', { 'data-testid': 'rejection-reason' }, item.rejection.reason) : null));
      }
      if (item.delivery) entries.push(h('li', null, h('strong', null, 'Delivered'), ' ', relTime(item.delivery.at), item.delivery.detail ? h('span', { class: 'muted' }, ` · ${item.delivery.detail}`) : null));
      if (item.error && item.state !== 'failed' && item.state !== 'unknown') entries.push(h('li', { class: 'history-error' }, h('strong', null, 'Error: '), item.error));
      if (!entries.length) return null;
      return h('section', { class: 'card', 'aria-labelledby': 'history-heading' },
        h('h2', { id: 'history-heading', class: 'card-title' }, 'What happened'),
        h('ul', { class: 'history' }, entries));
    }

    function stateExplanation(item) {
      switch (item.state) {
        case 'pending_approval': return 'Nothing is sent until you approve it.';
        case 'draft': return 'The agent has not confirmed this draft yet. You can approve, edit or reject it now.';
        case 'approved': return 'Approved. It will be sent shortly.';
        case 'sending': return 'Being sent now.';
        case 'sent': return 'This message has been sent.';
        case 'rejected': return 'This message was rejected and will not be sent.';
        case 'cancelled': return 'This message was cancelled and will not be sent.';
        case 'expired': return 'This message expired before anyone approved it. It was not sent.';
        case 'failed': return 'Sending failed. It will not be retried automatically.';
        case 'unknown': return 'This message may or may not have been delivered (commsd stopped while sending it, or the answer to the send was lost; the error says which). Look in the Sent folder, then approve it again to resend, or cancel it. It will not be resent automatically.';
        default: return '';
      }
    }

    const actionError = h('div', { class: 'action-error', 'data-testid': 'action-error', role: 'alert' });

    function showActionError(err) {
      actionError.replaceChildren(h('p', { class: 'callout callout-danger' }, err.message || String(err)));
    }

    function actionsCard(item) {
      const approvable = isApprovable();
      const cancellable = isCancellable();
      const disabledAll = st.busy || session.expired;
      const approveBtn = h('button', {
        type: 'button', class: 'btn btn-primary btn-block', 'data-testid': 'approve-button', 'data-needs-session': true,
        disabled: !approvable || disabledAll || st.mode === 'edit', onclick: () => doApprove(),
      }, 'Approve and send');
      const rejectBtn = h('button', {
        type: 'button', class: 'btn btn-danger-outline', 'data-testid': 'reject-button', 'data-needs-session': true,
        'aria-expanded': String(st.mode === 'reject'), 'aria-controls': 'reject-form',
        disabled: !approvable || disabledAll || st.mode === 'edit', onclick: () => setMode(st.mode === 'reject' ? null : 'reject'),
      }, 'Reject…');
      const editBtn = h('button', {
        type: 'button', class: 'btn btn-secondary', 'data-testid': 'edit-button', 'data-needs-session': true,
        'aria-expanded': String(st.mode === 'edit'),
        disabled: !approvable || disabledAll, onclick: () => setMode(st.mode === 'edit' ? null : 'edit'),
      }, 'Edit');
      const cancelBtn = h('button', {
        type: 'button', class: 'btn btn-quiet', 'data-testid': 'cancel-button', 'data-needs-session': true,
        'aria-expanded': String(st.mode === 'cancel'),
        disabled: !cancellable || disabledAll || st.mode === 'edit', onclick: () => setMode(st.mode === 'cancel' ? null : 'cancel'),
      }, 'Cancel message…');

      const explanation = stateExplanation(item);
      const parts = [
        h('h2', { id: 'decision-heading', class: 'card-title' }, 'Decision'),
        h('p', { class: 'state-line' }, stateBadge(item.state, { 'data-testid': 'detail-state' })),
        explanation ? h('p', { class: 'state-explain' }, explanation) : null,
      ];
      if (item.error && (item.state === 'failed' || item.state === 'unknown')) {
        parts.push(h('div', { class: 'callout callout-danger', 'data-testid': 'detail-error' }, h('p', null, h('strong', null, 'Error: '), item.error)));
      }
      // All four actions are always shown; those the state does not allow are disabled.
      parts.push(approveBtn);
      if (st.mode === 'confirm-approve') parts.push(approveConfirm(item));
      parts.push(h('div', { class: 'button-row' }, rejectBtn, editBtn, cancelBtn));
      if (st.mode === 'reject') parts.push(rejectForm());
      if (st.mode === 'cancel') parts.push(cancelConfirm());
      if (approvable) {
        parts.push(h('p', { class: 'fine-print' }, 'Shortcuts: ', kbd('a'), ' approve, ', kbd('r'), ' reject, ', kbd('e'), ' edit, ', kbd('Esc'), ' close.'));
      } else if (!cancellable) {
        parts.push(h('p', { class: 'fine-print', 'data-testid': 'no-actions' }, 'This message can no longer be approved, edited, rejected or cancelled.'));
      } else {
        parts.push(h('p', { class: 'fine-print', 'data-testid': 'no-actions' }, 'Already approved: it can only be cancelled before it is sent.'));
      }
      parts.push(actionError);
      return h('section', { class: 'card actions', 'aria-labelledby': 'decision-heading', 'aria-busy': String(st.busy) }, parts);
    }

    function approveConfirm(item) {
      const recipients = recipientsOf(item);
      return h('div', { class: 'inline-confirm', 'data-testid': 'approve-confirm-panel' },
        h('p', null, `Send this message to ${recipients.join(', ') || 'its recipients'}?`),
        h('div', { class: 'button-row' },
          h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'approve-confirm', onclick: () => doApprove() }, 'Yes, approve and send'),
          h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => setMode(null, { focus: 'approve-button' }) }, 'Not yet')));
    }

    function rejectForm() {
      const hint = h('p', { id: 'reject-hint', class: 'field-hint' }, 'Required. The agent sees this reason, and it is kept in the audit log.');
      const error = h('p', { id: 'reject-error', class: 'field-error', 'data-testid': 'reject-error', hidden: true });
      const reason = h('textarea', {
        id: 'reject-reason', name: 'reason', rows: '3', required: true, 'data-testid': 'reject-reason',
        'aria-describedby': 'reject-hint reject-error', maxlength: '2000',
      });
      const form = h('form', { id: 'reject-form', class: 'inline-form', 'data-testid': 'reject-form', novalidate: true },
        h('label', { for: 'reject-reason', class: 'field-label' }, 'Reason for rejecting'),
        hint,
        reason,
        error,
        h('div', { class: 'button-row' },
          h('button', { type: 'submit', class: 'btn btn-danger', 'data-testid': 'reject-submit', 'data-needs-session': true, disabled: st.busy }, 'Reject message'),
          h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'reject-dismiss', onclick: () => setMode(null, { focus: 'reject-button' }) }, 'Keep it')));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const value = reason.value.trim();
        if (!value) {
          error.textContent = 'Please give a reason before rejecting.';
          error.hidden = false;
          reason.setAttribute('aria-invalid', 'true');
          reason.focus();
          return;
        }
        doReject(value);
      });
      form.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') { e.preventDefault(); setMode(null, { focus: 'reject-button' }); }
      });
      return form;
    }

    function cancelConfirm() {
      return h('div', { class: 'inline-confirm', 'data-testid': 'cancel-confirm-panel' },
        h('p', null, 'Cancel this message? It will not be sent. This cannot be undone.'),
        h('div', { class: 'button-row' },
          h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'cancel-confirm', 'data-needs-session': true, disabled: st.busy, onclick: () => doCancel() }, 'Cancel message'),
          h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => setMode(null, { focus: 'cancel-button' }) }, 'Keep it')));
    }

    // ---- edit form (replaces the message card while open)

    function editForm(item) {
      const c = item.content || {};
      const fields = [];
      const field = (id, label, control, hint) => h('div', { class: 'field' },
        h('label', { for: id, class: 'field-label' }, label),
        hint ? h('p', { class: 'field-hint', id: `${id}-hint` }, hint) : null,
        control);
      const textarea = (id, value, rows, testid, extra = {}) => {
        const el = h('textarea', { id, rows: String(rows), 'data-testid': testid, ...extra });
        el.value = value || '';
        return el;
      };
      const input = (id, value, testid) => {
        const el = h('input', { id, type: 'text', 'data-testid': testid, autocomplete: 'off' });
        el.value = value || '';
        return el;
      };
      const lines = (arr) => (arr || []).join('\n');
      const parseLines = (s) => s.split('\n').map((x) => x.trim()).filter(Boolean);

      let get;
      if (item.channel === 'email') {
        const to = textarea('edit-to', lines(c.to), Math.max(1, (c.to || []).length), 'edit-to', { 'aria-describedby': 'edit-to-hint' });
        const cc = textarea('edit-cc', lines(c.cc), Math.max(1, (c.cc || []).length), 'edit-cc', { 'aria-describedby': 'edit-cc-hint' });
        const bcc = textarea('edit-bcc', lines(c.bcc), Math.max(1, (c.bcc || []).length), 'edit-bcc', { 'aria-describedby': 'edit-bcc-hint' });
        const subject = input('edit-subject', c.subject, 'edit-subject');
        const text = textarea('edit-text', c.bodyText, 12, 'edit-text');
        let html = null;
        fields.push(
          field('edit-to', 'To', to, 'One address per line, for example: Jane Roe <jane@example.org>'),
          h('div', { class: 'field-grid' },
            field('edit-cc', 'Cc', cc, 'One address per line'),
            field('edit-bcc', 'Bcc (hidden from other recipients)', bcc, 'One address per line')),
          field('edit-subject', 'Subject', subject),
          field('edit-text', c.bodyHtml ? 'Plain-text version' : 'Message', text,
            c.bodyHtml ? 'This email also has a formatted version, which most recipients see. Edit both so they match.' : null));
        if (c.bodyHtml) {
          html = textarea('edit-html', c.bodyHtml, 10, 'edit-html', { spellcheck: 'false', class: 'mono' });
          fields.push(h('details', { class: 'field-details' },
            h('summary', null, 'Formatted version (HTML source)'),
            field('edit-html', 'HTML source', html, 'commsd cleans this again before showing or sending it.')));
        }
        get = () => {
          const out = {};
          const nTo = parseLines(to.value);
          const nCc = parseLines(cc.value);
          const nBcc = parseLines(bcc.value);
          if (!nTo.length) return { error: 'An email needs at least one address in To.', focus: to };
          if (lines(nTo) !== lines(c.to)) out.to = nTo;
          if (lines(nCc) !== lines(c.cc)) out.cc = nCc;
          if (lines(nBcc) !== lines(c.bcc)) out.bcc = nBcc;
          if (subject.value !== (c.subject || '')) out.subject = subject.value;
          if (text.value !== (c.bodyText || '')) out.bodyText = text.value;
          if (html && html.value !== (c.bodyHtml || '')) out.bodyHtml = html.value;
          return { body: out };
        };
      } else if (item.channel === 'sms') {
        const counter = h('p', { class: 'field-hint', id: 'edit-body-count', 'aria-live': 'polite' }, smsInfo(c.body));
        const body = textarea('edit-body', c.body, 5, 'edit-body', { 'aria-describedby': 'edit-body-count' });
        body.addEventListener('input', () => { counter.textContent = smsInfo(body.value); });
        fields.push(
          h('div', { class: 'field' }, h('p', { class: 'field-label' }, 'To'), h('p', null, c.to || '—')),
          h('div', { class: 'field' }, h('label', { for: 'edit-body', class: 'field-label' }, 'Text message'), body, counter));
        get = () => {
          if (!body.value.trim()) return { error: 'The text message cannot be empty.', focus: body };
          return { body: body.value !== (c.body || '') ? { body: body.value } : {} };
        };
      } else {
        const text = textarea('edit-text', c.text, 8, 'edit-text');
        fields.push(
          h('div', { class: 'field' }, h('p', { class: 'field-label' }, 'Space'), h('p', null, c.space || '—')),
          field('edit-text', 'Message', text));
        get = () => {
          if (!text.value.trim()) return { error: 'The message cannot be empty.', focus: text };
          return { body: text.value !== (c.text || '') ? { text: text.value } : {} };
        };
      }

      const priority = h('select', { id: 'edit-priority', 'data-testid': 'edit-priority' },
        ['high', 'normal', 'low'].map((p) => h('option', { value: p }, PRIORITY_LABELS[p])));
      priority.value = item.priority || 'normal';
      fields.push(field('edit-priority', 'Priority', priority));

      const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'edit-error' });
      const form = h('form', { class: 'card edit-form', 'data-testid': 'edit-form', 'aria-labelledby': 'edit-heading', novalidate: true },
        h('h2', { id: 'edit-heading', class: 'card-title' }, 'Edit message'),
        h('p', { class: 'callout callout-warn' }, 'Saving withdraws any approval. The message goes back to the queue and must be approved again before it is sent.'),
        fields,
        formError,
        h('div', { class: 'button-row' },
          h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'edit-save', 'data-needs-session': true, disabled: st.busy }, 'Save changes'),
          h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'edit-discard', onclick: () => setMode(null, { focus: 'edit-button' }) }, 'Discard changes')));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const result = get();
        if (result.error) {
          formError.replaceChildren(h('p', { class: 'callout callout-danger' }, result.error));
          if (result.focus) result.focus.focus();
          return;
        }
        const body = result.body;
        if (priority.value !== (item.priority || 'normal')) body.priority = priority.value;
        if (!Object.keys(body).length) {
          formError.replaceChildren(h('p', { class: 'callout callout-neutral' }, 'Nothing has changed yet.'));
          return;
        }
        doEdit(body, formError);
      });
      form.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') { e.preventDefault(); setMode(null, { focus: 'edit-button' }); }
      });
      return form;
    }

    // ---- render

    function render() {
      if (st.destroyed || !st.item) return;
      const item = st.item;
      const title = itemTitle(item);
      currentViewTitle(title);

      const headerMeta = h('p', { class: 'detail-meta' },
        priorityBadge(item.priority),
        h('span', { class: `channel channel-${item.channel}` }, labelFor(CHANNEL_LABELS, item.channel)),
        h('span', null, 'Staged ', relTime(item.createdAt), ' by ', requesterLabel(item.requester)),
        item.accountId ? h('span', null, 'Account ', h('strong', null, item.accountId)) : null);

      const notices = [];
      if (st.notice) notices.push(st.notice);
      if (st.staleNotice) {
        notices.push(h('div', { class: 'callout callout-warn', role: 'status', 'data-testid': 'stale-notice' },
          h('p', null, 'This message changed while you were editing (now: ', labelFor(STATE_LABELS, item.state), '). Review your edits before saving.')));
      }
      if (item.policy && item.policy.holdReason && APPROVABLE.has(item.state)) {
        notices.push(h('div', { class: 'callout callout-warn', 'data-testid': 'hold-reason' },
          h('p', null, h('strong', null, 'Held for review: '), item.policy.holdReason)));
      }

      const mainCol = st.mode === 'edit'
        ? editForm(item)
        : h('article', { class: 'card message', 'aria-label': 'Message preview', 'data-testid': 'message' },
          envelope(item),
          messageBody(item),
          attachmentsBlock(item));

      const focusedTestid = root.contains(document.activeElement) ? document.activeElement.getAttribute('data-testid') : null;
      // A re-render (for example a live update) must not lose what the user is typing.
      const typed = st.mode && st.mode === lastRenderedMode
        ? $$('.edit-form [id], .inline-form [id]', root).filter((el) => 'value' in el).map((el) => [el.id, el.value])
        : [];
      lastRenderedMode = st.mode;

      root.replaceChildren(...[
        h('p', { class: 'crumbs' }, h('a', { href: '/review', 'data-testid': 'back-to-queue' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Review queue')),
        h('div', { class: 'detail-header' },
          h('h1', { tabindex: '-1', 'data-testid': 'detail-title' }, title),
          headerMeta),
        notices.length ? h('div', { class: 'notices' }, notices) : null,
        h('div', { class: 'detail-grid' },
          h('div', { class: 'detail-main' }, mainCol),
          h('aside', { class: 'detail-side', 'aria-label': 'Decision and details' },
            actionsCard(item),
            facts(item),
            historyCard(item))),
      ].filter(Boolean));

      for (const [fid, value] of typed) {
        const el = root.querySelector(`#${CSS.escape(fid)}`);
        if (el && 'value' in el) el.value = value;
      }
      if (focusedTestid) {
        const again = $(`[data-testid="${focusedTestid}"]`, root);
        if (again && !again.disabled) again.focus();
      }
    }
    let lastRenderedMode = null;

    function currentViewTitle(title) {
      view.title = title;
      updateTitle();
    }

    function setMode(mode, { focus } = {}) {
      st.mode = mode;
      actionError.replaceChildren();
      if (mode !== 'edit') st.staleNotice = false;
      render();
      if (mode === 'reject') $('[data-testid="reject-reason"]', root).focus();
      else if (mode === 'edit') {
        const first = $('.edit-form [data-testid="edit-subject"], .edit-form textarea', root);
        if (first) first.focus();
      } else if (mode === 'cancel') $('[data-testid="cancel-confirm"]', root).focus();
      else if (mode === 'confirm-approve') $('[data-testid="approve-confirm"]', root).focus();
      else if (focus) {
        const el = $(`[data-testid="${focus}"]`, root);
        if (el && !el.disabled) el.focus();
      }
    }

    async function run(fn) {
      if (st.busy) return null;
      st.busy = true;
      actionError.replaceChildren();
      // Disable every button while the request runs; render() restores them afterwards.
      for (const b of $$('button', root)) b.disabled = true;
      const card = $('.actions', root);
      if (card) card.setAttribute('aria-busy', 'true');
      try {
        return await fn();
      } finally {
        st.busy = false;
      }
    }

    async function doApprove() {
      const item = st.item;
      try {
        const updated = await run(() => api(`${itemUrl(item.id)}/approve`, { method: 'POST' }));
        if (!updated) return;
        flash = { tone: 'ok', message: `Approved “${itemTitle(updated)}”. It will be sent to ${recipientsOf(updated).join(', ') || 'its recipients'} shortly.` };
        navigate('/review');
      } catch (err) {
        render();
        showActionError(err);
      }
    }

    async function doReject(reason) {
      const item = st.item;
      try {
        const updated = await run(() => api(`${itemUrl(item.id)}/reject`, { method: 'POST', body: { reason } }));
        if (!updated) return;
        flash = { tone: 'neutral', message: `Rejected “${itemTitle(updated)}”. It will not be sent.` };
        navigate('/review');
      } catch (err) {
        render();
        showActionError(err);
        const field = $('[data-testid="reject-reason"]', root);
        if (field) { field.value = reason; field.focus(); }
      }
    }

    async function doCancel() {
      const item = st.item;
      try {
        const updated = await run(() => api(`${itemUrl(item.id)}/cancel`, { method: 'POST' }));
        if (!updated) return;
        flash = { tone: 'neutral', message: `Cancelled “${itemTitle(updated)}”. It will not be sent.` };
        navigate('/review');
      } catch (err) {
        render();
        showActionError(err);
      }
    }

    async function doEdit(body, formError) {
      const item = st.item;
      // Keep what the user typed if the save fails: read it back after the re-render.
      const form = $('[data-testid="edit-form"]', root);
      const snapshot = form ? $$('input, textarea, select', form).map((el) => [el.id, el.value]) : [];
      let updated;
      try {
        updated = await run(() => api(`${itemUrl(item.id)}/edit`, { method: 'POST', body }));
      } catch (err) {
        render();
        for (const [fid, value] of snapshot) {
          const el = fid && root.querySelector(`#${CSS.escape(fid)}`);
          if (el) el.value = value;
        }
        const fe = $('[data-testid="edit-error"]', root) || formError;
        fe.replaceChildren(h('p', { class: 'callout callout-danger' }, err.message));
        return;
      }
      if (!updated) return;
      st.item = updated;
      st.mode = null;
      st.staleNotice = false;
      st.notice = h('div', { class: 'callout callout-warn', role: 'status', tabindex: '-1', 'data-testid': 'reapproval-notice' },
        h('p', null, h('strong', null, 'Changes saved. '), 'This message must be approved again before it is sent.'));
      render();
      const notice = $('[data-testid="reapproval-notice"]', root);
      if (notice) notice.focus();
      announce('Changes saved. This message must be approved again before it is sent.');
    }

    async function load({ initial = false } = {}) {
      try {
        const item = await api(itemUrl(id));
        if (st.destroyed) return;
        const changed = st.item && (st.item.state !== item.state || st.item.contentHash !== item.contentHash);
        st.item = item;
        if (st.mode === 'edit' && changed) {
          st.staleNotice = true;
        } else if (st.mode && !APPROVABLE.has(item.state) && st.mode !== 'cancel') {
          st.mode = null;
        }
        if (changed && !st.busy && !initial) announce(`This message is now: ${labelFor(STATE_LABELS, item.state)}.`);
        render();
      } catch (err) {
        if (st.destroyed) return;
        if (st.item) { showActionError(err); return; }
        const notFound = err.status === 404;
        root.replaceChildren(
          h('p', { class: 'crumbs' }, h('a', { href: '/review' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Review queue')),
          pageHeader(notFound ? 'Message not found' : 'Could not load this message'),
          errorBox(notFound ? `There is no message with the ID ${id}. It may have been removed.` : err.message,
            { retry: notFound ? null : () => load({ initial: true }) }));
      }
    }

    function onKey(e) {
      if (!st.item) return;
      if (e.key === 'Escape') {
        if (st.mode) { e.preventDefault(); setMode(null); }
        return;
      }
      if (st.mode === 'edit' || st.mode === 'reject') return;
      if (!isApprovable() || st.busy || session.expired) return;
      if (e.key === 'a') { e.preventDefault(); setMode('confirm-approve'); }
      else if (e.key === 'r') { e.preventDefault(); setMode('reject'); }
      else if (e.key === 'e') { e.preventDefault(); setMode('edit'); }
    }

    const view = {
      nav: 'review',
      title: 'Message',
      root,
      mount({ focus }) {
        load({ initial: true }).then(() => {
          if (st.item && initialAction === 'reject' && isApprovable()) setMode('reject');
          else if (focus) focusHeading();
        });
      },
      destroy() { st.destroyed = true; },
      onOutbox(ev) {
        if (ev && ev.id === id && !st.busy) load();
      },
      onReconnect() { load(); },
      onKey,
    };
    return view;
  }

  // ================================================================= /audit

  function auditView() {
    const st = { events: [], nextBefore: null, loaded: false, destroyed: false, fetching: false, dirty: false, fresh: new Set() };

    const tbodyHost = h('div', { class: 'audit-host' });
    const listState = h('div', { class: 'list-state' }, loadingRow('Loading the audit log…'));
    const moreButton = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'audit-load-older', hidden: true, onclick: () => loadOlder() }, 'Load older events');
    const moreError = h('div');

    const root = h('div', { class: 'view view-audit', 'data-testid': 'audit-page' },
      pageHeader('Audit log', h('p', { class: 'page-lede' }, 'Every staged, approved, edited, rejected and sent message, newest first. Entries are chained by hash so they cannot be changed unnoticed.')),
      listState,
      tbodyHost,
      h('div', { class: 'list-footer' }, moreButton, moreError));

    function outcome(ev) {
      const parts = [];
      if (ev.decision) parts.push(labelFor(AUDIT_DECISION_LABELS, ev.decision));
      if (ev.result) parts.push(ev.result);
      return parts.length ? parts.join(' · ') : '—';
    }

    function eventRow(ev) {
      const recipients = Array.isArray(ev.recipients) ? ev.recipients : [];
      const tr = h('tr', {
        'data-testid': 'audit-event', 'data-action': ev.action, 'data-seq': String(ev.seq), 'data-item-id': ev.itemId || null,
        class: st.fresh.has(ev.seq) ? 'is-new' : null,
      },
        h('td', { class: 'cell-time' }, h('time', { datetime: parseDate(ev.at) ? parseDate(ev.at).toISOString() : null, title: absoluteTime(ev.at) }, parseDate(ev.at) ? timeFormat.format(parseDate(ev.at)) : '—')),
        h('td', null, pill(labelFor(ACTION_LABELS, ev.action), ACTION_TONE[ev.action] || 'neutral')),
        h('td', { class: 'cell-item' }, ev.itemId ? h('a', { href: `/review/${encodeURIComponent(ev.itemId)}`, class: 'mono', 'data-testid': 'audit-item-link' }, ev.itemId) : h('span', { class: 'muted' }, '—')),
        h('td', null, h('span', { class: 'truncate', title: ev.actor || '' }, actorLabel(ev.actor))),
        h('td', null, ev.channel ? labelFor(CHANNEL_LABELS, ev.channel) : h('span', { class: 'muted' }, '—')),
        h('td', null, ev.accountId ? h('span', { class: 'truncate', title: ev.accountId }, ev.accountId) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'cell-recipients' }, recipients.length
          ? h('span', { class: 'recipients', title: recipients.join('\n') }, h('span', { class: 'truncate' }, recipients[0]), recipients.length > 1 ? h('span', { class: 'more' }, `+${recipients.length - 1}`) : null)
          : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'cell-outcome' }, h('span', { class: 'truncate', title: outcome(ev) }, outcome(ev))),
        h('td', { class: 'cell-seq' }, h('span', { class: 'mono muted', title: ev.hash ? `Hash ${ev.hash}` : '' }, `#${ev.seq}`)));
      return tr;
    }

    function dayKey(ev) {
      const d = parseDate(ev.at);
      if (!d) return 'Unknown date';
      const today = new Date();
      const yesterday = new Date(Date.now() - 86400000);
      const same = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
      if (same(d, today)) return `Today, ${dayFormat.format(d)}`;
      if (same(d, yesterday)) return `Yesterday, ${dayFormat.format(d)}`;
      return dayFormat.format(d);
    }

    function render() {
      if (st.destroyed) return;
      if (!st.events.length) {
        tbodyHost.replaceChildren();
        listState.replaceChildren(h('div', { class: 'empty', 'data-testid': 'audit-empty' },
          h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
          h('p', { class: 'empty-title' }, 'No events yet'),
          h('p', { class: 'empty-hint' }, 'Events appear here as agents stage messages and people decide on them.')));
      } else {
        listState.replaceChildren();
        const groups = [];
        for (const ev of st.events) {
          const key = dayKey(ev);
          if (!groups.length || groups[groups.length - 1].key !== key) groups.push({ key, events: [] });
          groups[groups.length - 1].events.push(ev);
        }
        const table = h('table', { class: 'audit', 'data-testid': 'audit-table' },
          h('caption', { class: 'visually-hidden' }, 'Audit events, newest first'),
          h('colgroup', null,
            h('col', { class: 'col-time' }), h('col', { class: 'col-action' }), h('col', { class: 'col-item' }),
            h('col', { class: 'col-actor' }), h('col', { class: 'col-channel' }), h('col', { class: 'col-account' }),
            h('col', { class: 'col-recipients' }), h('col', { class: 'col-outcome' }), h('col', { class: 'col-seq' })),
          h('thead', null, h('tr', null,
            ['Time', 'Action', 'Message', 'Actor', 'Channel', 'Account', 'Recipients', 'Decision / result', '#'].map((t) => h('th', { scope: 'col' }, t)))),
          groups.map((g) => h('tbody', null,
            h('tr', { class: 'day-row' }, h('th', { scope: 'rowgroup', colspan: '9' }, g.key)),
            g.events.map(eventRow))));
        tbodyHost.replaceChildren(h('div', { class: 'table-wrap' }, table));
      }
      moreButton.hidden = st.nextBefore === null || st.nextBefore === undefined;
    }

    async function load() {
      try {
        const data = await api(`${API}/audit?limit=${AUDIT_PAGE_SIZE}`);
        if (st.destroyed) return;
        st.events = (data.events || []).slice().sort((a, b) => b.seq - a.seq);
        st.nextBefore = data.nextBeforeSeq ?? null;
        st.loaded = true;
        render();
      } catch (err) {
        if (st.destroyed) return;
        listState.replaceChildren(errorBox(err.message, { retry: () => { listState.replaceChildren(loadingRow()); load(); } }));
      }
    }

    async function loadOlder() {
      if (st.nextBefore === null) return;
      moreButton.disabled = true;
      moreError.replaceChildren();
      try {
        const data = await api(`${API}/audit?limit=${AUDIT_PAGE_SIZE}&beforeSeq=${encodeURIComponent(st.nextBefore)}`);
        const known = new Set(st.events.map((e) => e.seq));
        for (const ev of data.events || []) if (!known.has(ev.seq)) st.events.push(ev);
        st.events.sort((a, b) => b.seq - a.seq);
        st.nextBefore = data.nextBeforeSeq ?? null;
        render();
      } catch (err) {
        moreError.replaceChildren(errorBox(err.message, { testid: 'audit-older-error' }));
      } finally {
        moreButton.disabled = false;
      }
    }

    // New events: fetch the newest page and prepend what we do not have yet.
    async function fetchNewer() {
      if (!st.loaded) return;
      if (st.fetching) { st.dirty = true; return; }
      st.fetching = true;
      try {
        const data = await api(`${API}/audit?limit=50`);
        if (st.destroyed) return;
        const top = st.events.length ? st.events[0].seq : -Infinity;
        const newer = (data.events || []).filter((e) => e.seq > top);
        if (newer.length) {
          for (const e of newer) st.fresh.add(e.seq);
          st.events = newer.concat(st.events).sort((a, b) => b.seq - a.seq);
          render();
          announce(newer.length === 1 ? `New audit event: ${labelFor(ACTION_LABELS, newer[0].action)}` : `${newer.length} new audit events`);
        }
      } catch (_) {
        // The next event or reconnect catches up.
      } finally {
        st.fetching = false;
        if (st.dirty) { st.dirty = false; fetchNewer(); }
      }
    }

    return {
      nav: 'audit',
      title: 'Audit log',
      root,
      mount({ focus }) {
        load();
        if (focus) focusHeading();
      },
      destroy() { st.destroyed = true; },
      onAudit: debounce(fetchNewer, 100),
      onReconnect: () => fetchNewer(),
    };
  }

  // ================================================================= /status

  function statusView() {
    const st = { destroyed: false, timer: null, data: null, fetchedAt: 0 };
    const body = h('div', { class: 'status-body' }, loadingRow('Loading status…'));
    const root = h('div', { class: 'view view-status', 'data-testid': 'status-page' },
      pageHeader('Status'),
      body);

    function dl(rows) {
      return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v, testid]) => h('div', null, h('dt', null, k), h('dd', { 'data-testid': testid || null }, v))));
    }

    function urlValue(u) {
      return u ? h('code', null, u) : h('span', { class: 'muted' }, 'not listening');
    }

    function render() {
      const s = st.data;
      if (!s) return;
      const outbox = s.outbox || {};
      const audit = s.audit || {};
      const ok = audit.chainOk === true;
      const sinceFetch = Math.floor((Date.now() - st.fetchedAt) / 1000);
      const chain = h('div', { class: `chain chain-${ok ? 'ok' : 'bad'}`, 'data-testid': 'audit-chain', 'data-ok': String(ok) },
        h('span', { class: 'chain-mark', 'aria-hidden': 'true' }),
        h('div', null,
          h('p', { class: 'chain-title' }, ok ? 'Audit log intact' : 'Audit log check failed'),
          h('p', { class: 'chain-text' }, ok
            ? 'Every entry’s hash matches the one before it: nothing has been altered or removed.'
            : 'One or more entries do not match the hash chain. The log may have been altered. Keep a copy of the data directory and investigate before relying on it.')));

      const stateRows = STATE_ORDER.map((state) => {
        const n = Number(outbox[state] || 0);
        return h('tr', { class: n === 0 ? 'is-zero' : null, 'data-testid': 'outbox-count', 'data-state': state },
          h('th', { scope: 'row' }, stateBadge(state)),
          h('td', { class: 'num' }, String(n)));
      });
      for (const extra of Object.keys(outbox).filter((k) => !STATE_ORDER.includes(k))) {
        stateRows.push(h('tr', { 'data-testid': 'outbox-count', 'data-state': extra }, h('th', { scope: 'row' }, extra), h('td', { class: 'num' }, String(outbox[extra]))));
      }

      // Gmail's counters have a card of their own.
      const countEntries = Object.entries(s.counts || {})
        .filter(([k]) => !k.startsWith('gmail_'))
        .sort(([a], [b]) => a.localeCompare(b));
      const gmail = s.gmail || null;
      const gmailRows = gmail ? [
        ['Cache hits', gmail.hits, 'gmail-hits'],
        ['Cache misses', gmail.misses, 'gmail-misses'],
        ['Requests to Google', gmail.upstreamRequests, 'gmail-upstream-requests'],
        ['Quota units spent', gmail.quotaUnits, 'gmail-quota-units'],
        ['Requests saved', gmail.requestsSaved, 'gmail-requests-saved'],
      ] : [];

      const warnings = Array.isArray(s.warnings) ? s.warnings : [];
      // replaceChildren would show a null child as the text "null".
      body.replaceChildren(...[
        warnings.length ? h('div', { class: 'callout callout-warn', role: 'status', 'data-testid': 'status-warnings' },
          h('p', null, h('strong', null, 'Needs attention')),
          h('ul', null, warnings.map((w) => h('li', null, w)))) : null,
        h('div', { class: 'status-grid' },
          h('section', { class: 'card', 'aria-labelledby': 'st-daemon' },
            h('h2', { id: 'st-daemon', class: 'card-title' }, 'Daemon'),
            dl([
              ['Version', s.version || '—', 'status-version'],
              ['Process ID', String(s.pid ?? '—'), 'status-pid'],
              ['Running for', h('span', { 'data-uptime': String((s.uptimeSeconds || 0) + sinceFetch) }, humanDuration((s.uptimeSeconds || 0) + sinceFetch)), 'status-uptime'],
              ['Control socket', s.socket ? h('code', null, s.socket) : '—'],
              ['Data directory', s.dataDir ? h('code', null, s.dataDir) : '—'],
            ])),
          h('section', { class: 'card', 'aria-labelledby': 'st-listen' },
            h('h2', { id: 'st-listen', class: 'card-title' }, 'Listeners'),
            dl([
              ['Dashboard', urlValue(s.dashboardUrl), 'status-dashboard-url'],
              ['API and MCP', urlValue(s.apiUrl), 'status-api-url'],
              ['Webhooks', urlValue(s.webhookUrl), 'status-webhook-url'],
            ]),
            h('p', { class: 'fine-print' }, 'commsd only listens on this computer. Only the webhook address is meant to be reached through a tunnel.')),
          h('section', { class: 'card', 'aria-labelledby': 'st-audit' },
            h('h2', { id: 'st-audit', class: 'card-title' }, 'Audit log'),
            chain,
            dl([['Events recorded', String(audit.events ?? '—'), 'status-audit-events']]),
            h('p', null, h('a', { href: '/audit' }, 'Open the audit log'))),
          h('section', { class: 'card', 'aria-labelledby': 'st-outbox' },
            h('h2', { id: 'st-outbox', class: 'card-title' }, 'Outbox'),
            h('table', { class: 'counts-table', 'data-testid': 'outbox-counts' },
              h('caption', { class: 'visually-hidden' }, 'Messages by state'),
              h('tbody', null, stateRows))),
          gmail ? h('section', { class: 'card', 'aria-labelledby': 'st-gmail' },
            h('h2', { id: 'st-gmail', class: 'card-title' }, 'Gmail'),
            h('table', { class: 'counts-table', 'data-testid': 'status-gmail' },
              h('caption', { class: 'visually-hidden' }, 'Gmail cache and quota counters since commsd started'),
              h('tbody', null, gmailRows.map(([k, v, testid]) => h('tr', { class: Number(v || 0) === 0 ? 'is-zero' : null },
                h('th', { scope: 'row' }, k),
                h('td', { class: 'num', 'data-testid': testid }, String(Number(v || 0))))))),
            h('p', { class: 'fine-print' }, 'Since commsd started. Requests saved: reads answered from the cache or shared with an identical request in flight.')) : null,
          countEntries.length ? h('section', { class: 'card', 'aria-labelledby': 'st-counts' },
            h('h2', { id: 'st-counts', class: 'card-title' }, 'Counters'),
            h('table', { class: 'counts-table', 'data-testid': 'status-counts' },
              h('caption', { class: 'visually-hidden' }, 'Daemon counters'),
              h('tbody', null, countEntries.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k.replace(/_/g, ' ')), h('td', { class: 'num' }, String(v))))))) : null),
        h('p', { class: 'fine-print' }, 'Updated ', relTime(new Date(st.fetchedAt).toISOString()), '.')].filter(Boolean));
    }

    async function load() {
      try {
        const data = await api(`${API}/status`);
        if (st.destroyed) return;
        st.data = data;
        st.fetchedAt = Date.now();
        render();
      } catch (err) {
        if (st.destroyed) return;
        if (!st.data) body.replaceChildren(errorBox(err.message, { retry: load }));
      }
    }
    const loadSoon = debounce(load, 300);

    return {
      nav: 'status',
      title: 'Status',
      root,
      mount({ focus }) {
        load();
        st.timer = window.setInterval(() => {
          if (document.visibilityState === 'visible') load();
        }, 15000);
        if (focus) focusHeading();
      },
      destroy() {
        st.destroyed = true;
        window.clearInterval(st.timer);
      },
      onOutbox: loadSoon,
      onAudit: loadSoon,
      onReconnect: load,
    };
  }

  // ================================================================= accounts

  const ACCOUNT_STATE = {
    active: ['Active', 'ok'],
    reauth_required: ['Sign in again', 'warn'],
    domain_blocked: ['Blocked by admin', 'danger'],
  };

  function accountsView() {
    const st = { destroyed: false, data: null };
    const body = h('div', { class: 'accounts-body' }, loadingRow('Loading accounts…'));
    const root = h('div', { class: 'view view-accounts', 'data-testid': 'accounts-page' },
      pageHeader('Accounts', h('p', { class: 'page-lede' }, 'The accounts commsd sends and reads from. Agents name one in every call, or use the default.')),
      body);

    function tierText(a) {
      if (a.kind !== 'google') return '—';
      const tiers = { 0: 'none', 1: '1 · read', 2: '2 · compose and send', 3: '3 · modify' };
      const t = tiers[a.scopesTier] || String(a.scopesTier);
      return Array.isArray(a.modules) && a.modules.length ? `${t} + ${a.modules.join(', ')}` : t;
    }

    function row(a) {
      const [label, tone] = ACCOUNT_STATE[a.state] || [a.state, 'neutral'];
      return h('tr', { 'data-testid': 'account-row', 'data-account-id': a.accountId, 'data-state': a.state },
        h('td', null,
          h('div', null, a.email, a.default ? pill('default', 'accent', { 'data-testid': 'account-default' }) : null),
          h('div', { class: 'muted mono' }, a.accountId)),
        h('td', null, a.kind),
        h('td', null, (a.labels || []).length ? a.labels.join(', ') : h('span', { class: 'muted' }, '—')),
        h('td', null, tierText(a)),
        h('td', null, pill(label, tone, { 'data-testid': 'account-state' }),
          a.stateReason ? h('div', { class: 'muted' }, a.stateReason) : null,
          a.state === 'reauth_required' ? h('div', null, 'Fix: ', h('code', null, `commsctl accounts add google --login-hint ${a.email}`)) : null),
        h('td', null, a.lastUsedAt ? relTime(a.lastUsedAt) : h('span', { class: 'muted' }, 'never')));
    }

    function render() {
      const accounts = (st.data && st.data.accounts) || [];
      const attention = accounts.filter((a) => a.state !== 'active');
      body.replaceChildren(...[
        attention.length ? h('div', { class: 'callout callout-warn', role: 'status', 'data-testid': 'accounts-attention' },
          h('p', null, h('strong', null, `${attention.length} account${attention.length === 1 ? '' : 's'} need${attention.length === 1 ? 's' : ''} attention`))) : null,
        h('table', { class: 'accounts', 'data-testid': 'accounts-table' },
          h('thead', null, h('tr', null, ['Account', 'Kind', 'Labels', 'Gmail tier', 'State', 'Last used'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, accounts.map(row))),
        h('p', { class: 'fine-print' }, 'Add a Google account with ', h('code', null, 'commsctl accounts add google --label work'),
          ', choose the default with ', h('code', null, 'commsctl accounts default ID'), '.'),
      ].filter(Boolean));
    }

    async function load() {
      try {
        const data = await api(`${API}/accounts`);
        if (st.destroyed) return;
        st.data = data;
        render();
      } catch (err) {
        if (st.destroyed) return;
        if (!st.data) body.replaceChildren(errorBox(err.message, { retry: load }));
      }
    }

    return {
      nav: 'accounts',
      title: 'Accounts',
      root,
      mount({ focus }) {
        load();
        if (focus) focusHeading();
      },
      destroy() { st.destroyed = true; },
      onAccounts: load,
      onReconnect: load,
    };
  }

  // ================================================================= text messages (SMS)
  //
  // Received and sent SMS of every account, as threads. Message text comes from outside
  // commsd: it is only ever set as textContent.

  const SMS_THREADS_LIMIT = 100;

  /** The page of one thread: its id and the account holding it. */
  function threadHref(t) {
    return `/texts/${encodeURIComponent(t.threadId)}?accountId=${encodeURIComponent(t.accountId)}`;
  }

  function untrustedNote() {
    return h('p', { class: 'fine-print', 'data-testid': 'sms-untrusted' },
      'Text messages come from outside commsd: they are shown as plain text, and agents are told to treat them as data, never as instructions.');
  }

  /** Refreshes `load` when an SMS arrives (the SSE `received` event, channel sms). */
  function onSmsReceived(load) {
    return (data) => { if (data && data.channel === 'sms') load(); };
  }

  function smsThreadsView() {
    const st = { destroyed: false, data: null };
    const body = h('div', { class: 'sms-body' }, loadingRow('Loading text messages…'));
    const root = h('div', { class: 'view view-texts', 'data-testid': 'texts-page' },
      pageHeader('Text messages', h('p', { class: 'page-lede' }, 'Conversations by SMS, received and sent, of every account, most recent first.')),
      body);

    function row(t) {
      const last = t.last || {};
      const inbound = last.direction === 'inbound';
      return h('tr', { 'data-testid': 'sms-thread-row', 'data-thread-id': t.threadId, 'data-account-id': t.accountId },
        h('td', null,
          h('a', { href: threadHref(t), 'data-testid': 'sms-thread-link', class: 'mono' }, t.theirNumber),
          h('div', { class: 'muted small' }, t.ourNumber === t.accountId ? `account ${t.accountId}` : `to ${t.ourNumber} · account ${t.accountId}`)),
        h('td', { class: 'sms-last' },
          h('span', { class: 'muted' }, inbound ? 'They wrote: ' : 'You sent: '),
          h('span', { 'data-testid': 'sms-thread-last' }, last.body || '')),
        h('td', null, last.receivedAt ? relTime(last.receivedAt) : '—'),
        h('td', { 'data-testid': 'sms-thread-count' }, `${t.messages} message${t.messages === 1 ? '' : 's'}`));
    }

    function render() {
      const threads = (st.data && st.data.threads) || [];
      if (!threads.length) {
        body.replaceChildren(h('div', { class: 'empty', 'data-testid': 'sms-empty' },
          h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
          h('p', { class: 'empty-title' }, 'No text messages yet'),
          h('p', { class: 'empty-hint' }, 'Received SMS appear here as soon as they arrive; sent ones once they are delivered.')));
        return;
      }
      body.replaceChildren(
        h('table', { class: 'accounts sms-threads', 'data-testid': 'sms-threads' },
          h('caption', { class: 'visually-hidden' }, 'Text message conversations'),
          h('thead', null, h('tr', null, ['Number', 'Last message', 'When', 'Messages'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, threads.map(row))),
        untrustedNote());
    }

    async function load() {
      try {
        const data = await api(`${API}/sms/threads?limit=${SMS_THREADS_LIMIT}`);
        if (st.destroyed) return;
        st.data = data;
        render();
      } catch (err) {
        if (st.destroyed) return;
        if (!st.data) body.replaceChildren(errorBox(err.message, { retry: load }));
      }
    }

    return {
      nav: 'texts',
      title: 'Text messages',
      root,
      mount({ focus }) {
        load();
        if (focus) focusHeading();
      },
      destroy() { st.destroyed = true; },
      onReceived: onSmsReceived(load),
      onOutbox: (data) => { if (data && data.channel === 'sms' && data.state === 'sent') load(); },
      onReconnect: load,
    };
  }

  function smsThreadView(threadId, accountId) {
    const st = { destroyed: false, data: null };
    const [ours, theirs] = threadId.includes(':') ? [threadId.slice(0, threadId.indexOf(':')), threadId.slice(threadId.indexOf(':') + 1)] : ['', threadId];
    const body = h('div', { class: 'sms-body' }, loadingRow('Loading the conversation…'));
    const root = h('div', { class: 'view view-texts', 'data-testid': 'sms-thread-page' },
      h('p', { class: 'crumbs' }, h('a', { href: '/texts', 'data-testid': 'back-to-texts' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Text messages')),
      pageHeader(`Conversation with ${theirs}`, ours ? h('p', { class: 'page-lede' }, `Our number: ${ours}`) : null),
      body);

    function message(m) {
      const inbound = m.direction === 'inbound';
      return h('li', { class: `sms-message ${inbound ? 'sms-in' : 'sms-out'}`, 'data-testid': 'sms-message', 'data-direction': m.direction, 'data-id': m.id },
        h('p', { class: 'sms-meta' },
          h('span', { class: 'sms-who' }, inbound ? `Received from ${m.from}` : `Sent to ${m.to}`),
          ' · ', relTime(m.receivedAt),
          m.keyword ? [' ', pill(m.keyword === 'optOut' ? 'opted out' : m.keyword === 'optIn' ? 'opted in' : 'asked for help', 'warn', { 'data-testid': 'sms-keyword' })] : null),
        h('p', { class: 'sms-text', 'data-testid': 'sms-text' }, m.body || ''),
        (m.media || []).length ? h('p', { class: 'muted small' }, `${m.media.length} attachment${m.media.length === 1 ? '' : 's'} (saved by commsd, not shown here)`) : null);
    }

    function render() {
      // Oldest first, as a conversation reads.
      const messages = ((st.data && st.data.messages) || []).slice().reverse();
      body.replaceChildren(
        messages.length
          ? h('ol', { class: 'sms-messages', 'data-testid': 'sms-messages', 'aria-label': `Messages with ${theirs}, oldest first` }, messages.map(message))
          : h('p', { class: 'muted', 'data-testid': 'sms-empty' }, 'No messages in this conversation.'),
        st.data && st.data.nextCursor ? h('p', { class: 'fine-print' }, 'Showing the latest 100 messages.') : null,
        untrustedNote());
    }

    async function load() {
      try {
        const q = new URLSearchParams({ limit: '100' });
        if (accountId) q.set('accountId', accountId);
        const data = await api(`${API}/sms/threads/${encodeURIComponent(threadId)}?${q}`);
        if (st.destroyed) return;
        st.data = data;
        render();
      } catch (err) {
        if (st.destroyed) return;
        if (!st.data) body.replaceChildren(errorBox(err.message, { retry: load }));
      }
    }

    return {
      nav: 'texts',
      title: `Text messages with ${theirs}`,
      root,
      mount({ focus }) {
        load();
        if (focus) focusHeading();
      },
      destroy() { st.destroyed = true; },
      onReceived: onSmsReceived(load),
      onOutbox: (data) => { if (data && data.channel === 'sms' && data.state === 'sent') load(); },
      onReconnect: load,
    };
  }

  // ================================================================= 404

  function notFoundView() {
    return {
      nav: null,
      title: 'Not found',
      root: h('div', { class: 'view' },
        pageHeader('Page not found'),
        h('p', null, 'There is nothing at this address. ', h('a', { href: '/review' }, 'Go to the review queue'), '.')),
    };
  }

  // ================================================================= start

  function start() {
    setLive('connecting');
    route({ focus: false });
    loadSession().catch(() => {});
    refreshCounts();
    live.start();
    window.setInterval(refreshRelativeTimes, 30000);
    // Keep the badge honest even if an event is missed.
    window.setInterval(() => { if (!session.expired && document.visibilityState === 'visible') refreshCounts(); }, 60000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
