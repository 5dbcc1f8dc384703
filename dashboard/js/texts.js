// /texts: Text messages (SMS threads) and one thread.
import { API, pill, relTime } from './format.js';
import { h } from './dom.js';
import { focusHeading } from './nav.js';
import { api } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';

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

export function smsThreadsView() {
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

export function smsThreadView(threadId, accountId) {
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
