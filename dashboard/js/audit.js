// /audit: the audit log.
import { absoluteTime, ACTION_LABELS, ACTION_TONE, actorLabel, API, AUDIT_DECISION_LABELS, AUDIT_PAGE_SIZE, CHANNEL_LABELS, dayFormat, labelFor, parseDate, pill, timeFormat } from './format.js';
import { announce, debounce, h } from './dom.js';
import { focusHeading } from './nav.js';
import { api } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';

// ================================================================= /audit

export function auditView() {
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
