// /status and /accounts.
import { API, humanDuration, pill, relTime, STATE_ORDER, stateBadge } from './format.js';
import { debounce, h } from './dom.js';
import { focusHeading } from './nav.js';
import { api } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';

// ================================================================= /status

export function statusView() {
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

export function accountsView() {
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
