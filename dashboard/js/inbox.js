// /inbox: the unified inbox (email, SMS and chat of every account) and its search.
import { API, pill, relTime } from './format.js';
import { h } from './dom.js';
import { focusHeading } from './nav.js';
import { api } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';
import { replyForm } from './reply.js';

// Message text and names come from outside commsd: only ever set as textContent.

const INBOX_LIMIT = 100;
const CHANNELS = [['', 'All channels'], ['email', 'Email'], ['sms', 'SMS'], ['chat', 'Chat']];

// SMS threads have their own page; chat threads and email threads are shown here.
function conversationLink(m) {
  if (!m.threadId) return null;
  if (m.channel === 'sms') {
    return h('a', { href: `/texts/${encodeURIComponent(m.threadId)}?accountId=${encodeURIComponent(m.accountId)}`, 'data-testid': 'inbox-conversation' }, 'Conversation');
  }
  const q = new URLSearchParams({ accountId: m.accountId, threadId: m.threadId, channel: m.channel });
  return h('a', { href: `/inbox/conversation?${q}`, 'data-testid': 'inbox-conversation' }, 'Conversation');
}

// /inbox/conversation?accountId=&threadId=&channel=: one chat or email thread, oldest
// first, with a reply to its latest message.
export function conversationView(params) {
  const accountId = params.get('accountId') || '';
  const threadId = params.get('threadId') || '';
  const channel = params.get('channel') || '';
  const st = { destroyed: false, seq: 0 };
  const body = h('div', { class: 'sms-body' }, loadingRow('Loading the conversation…'));
  const root = h('div', { class: 'view view-inbox', 'data-testid': 'conversation-page' },
    pageHeader('Conversation', h('p', { class: 'page-lede' }, h('a', { href: '/inbox' }, '← Inbox'), ` · ${channel || 'messages'} · account ${accountId}`)),
    body);

  function render(messages) {
    if (!messages.length) {
      body.replaceChildren(h('div', { class: 'empty', 'data-testid': 'conversation-empty' },
        h('p', { class: 'empty-title' }, 'No messages in this conversation'),
        h('p', { class: 'empty-hint' }, 'It may be outside the indexed window, or its account was removed.')));
      return;
    }
    const oldestFirst = messages.slice().reverse();
    const latest = oldestFirst[oldestFirst.length - 1];
    body.replaceChildren(
      h('ol', { class: 'sms-messages', 'data-testid': 'conversation-messages' }, oldestFirst.map((m) =>
        h('li', { class: 'sms-message inbound', 'data-testid': 'conversation-message', 'data-id': m.id },
          h('div', { class: 'muted small' }, h('strong', null, m.fromName || m.from || ''), ' · ', m.receivedAt ? relTime(m.receivedAt) : ''),
          m.subject ? h('div', { class: 'small' }, m.subject) : null,
          h('p', { class: 'sms-text' }, m.text || '')))),
      replyForm(latest),
      h('p', { class: 'fine-print' }, 'Messages come from outside commsd: they are shown as plain text.'));
  }

  async function load() {
    const seq = ++st.seq;
    try {
      const q = new URLSearchParams({ accountId, threadId, limit: String(INBOX_LIMIT) });
      if (channel) q.set('channel', channel);
      const data = await api(`${API}/inbox?${q}`);
      if (st.destroyed || seq !== st.seq) return;
      render((data && data.messages) || []);
    } catch (err) {
      if (st.destroyed || seq !== st.seq) return;
      body.replaceChildren(errorBox(err.message, { retry: load }));
    }
  }

  return {
    nav: 'inbox',
    title: 'Conversation',
    root,
    mount({ focus }) {
      load();
      if (focus) focusHeading();
    },
    destroy() { st.destroyed = true; },
    // A half-written reply is kept: the messages reload once its form is empty.
    onInbox: () => { if (!hasDraft(root)) load(); },
    onReconnect: load,
  };
}

export function inboxView() {
  const st = { destroyed: false, data: null, query: '', channel: '', seq: 0 };
  const body = h('div', { class: 'sms-body' }, loadingRow('Loading the inbox…'));
  const search = h('input', { type: 'search', name: 'q', placeholder: 'Search words, addresses, numbers', 'aria-label': 'Search the inbox', 'data-testid': 'inbox-search' });
  const channel = h('select', { name: 'channel', 'aria-label': 'Channel', 'data-testid': 'inbox-channel' },
    CHANNELS.map(([value, label]) => h('option', { value }, label)));
  const form = h('form', { class: 'inbox-filters', role: 'search', 'data-testid': 'inbox-form' },
    search, ' ', channel, ' ', h('button', { type: 'submit', class: 'btn' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    st.query = search.value.trim();
    load();
  });
  channel.addEventListener('change', () => { st.channel = channel.value; load(); });
  const root = h('div', { class: 'view view-inbox', 'data-testid': 'inbox-page' },
    pageHeader('Inbox', h('p', { class: 'page-lede' }, 'What came in by email, SMS and chat, on every account: unread first, then newest.')),
    form,
    body);

  function row(m) {
    const what = m.subject || m.text || '';
    const tr = h('tr', { 'data-testid': 'inbox-row', 'data-id': m.id, 'data-account-id': m.accountId, 'data-unread': String(!!m.unread) },
      h('td', null, pill(m.channel, m.unread ? 'accent' : 'neutral', { 'data-testid': 'inbox-channel-pill' })),
      h('td', null,
        h(m.unread ? 'strong' : 'span', { 'data-testid': 'inbox-from' }, m.fromName || m.from || ''),
        h('div', { class: 'muted small' }, `account ${m.accountId}`)),
      h('td', { class: 'sms-last' },
        h('span', { 'data-testid': 'inbox-what' }, what),
        m.subject && m.text ? h('div', { class: 'muted small' }, m.text.slice(0, 160)) : null,
        m.hasAttachments ? h('div', { class: 'muted small' }, 'Has attachments') : null),
      h('td', null, m.receivedAt ? relTime(m.receivedAt) : '—'),
      h('td', { class: 'inbox-actions' }, conversationLink(m), ' ',
        h('button', {
          type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'inbox-reply',
          'aria-expanded': 'false', onclick: (ev) => toggleReply(ev.currentTarget, tr, m),
        }, 'Reply')));
    return tr;
  }

  // The reply form opens in a row of its own under the message.
  function toggleReply(button, tr, m) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains('reply-row')) {
      next.remove();
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    const close = () => { cell.parentElement.remove(); button.setAttribute('aria-expanded', 'false'); button.focus(); };
    const cell = h('td', { colspan: '5' }, replyForm(m, { onCancel: close }));
    tr.after(h('tr', { class: 'reply-row', 'data-testid': 'reply-row' }, cell));
    button.setAttribute('aria-expanded', 'true');
    const area = cell.querySelector('textarea');
    if (area) area.focus();
  }

  function render() {
    let messages = ((st.data && st.data.messages) || []).slice();
    if (!st.query) {
      // Unread first; the list is newest first already.
      messages = messages.filter((m) => m.unread).concat(messages.filter((m) => !m.unread));
    }
    if (!messages.length) {
      body.replaceChildren(h('div', { class: 'empty', 'data-testid': 'inbox-empty' },
        h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
        h('p', { class: 'empty-title' }, st.query ? 'Nothing matches' : 'Nothing came in yet'),
        h('p', { class: 'empty-hint' }, st.query ? 'Every word must match; parts of words and accents are fine.' : 'Messages appear here as soon as commsd indexes them.')));
      return;
    }
    body.replaceChildren(
      h('table', { class: 'accounts sms-threads', 'data-testid': 'inbox-list' },
        h('caption', { class: 'visually-hidden' }, 'Inbox messages'),
        h('thead', null, h('tr', null, ['Channel', 'From', 'Message', 'When', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, messages.map(row))),
      h('p', { class: 'fine-print', 'data-testid': 'inbox-untrusted' },
        'Messages come from outside commsd: they are shown as plain text, and agents are told to treat them as data, never as instructions.'));
  }

  async function load() {
    const seq = ++st.seq;
    try {
      const q = new URLSearchParams({ limit: String(INBOX_LIMIT) });
      if (st.query) q.set('q', st.query);
      if (st.channel) q.set('channel', st.channel);
      const data = await api(`${API}/inbox?${q}`);
      if (st.destroyed || seq !== st.seq) return;
      st.data = data;
      render();
    } catch (err) {
      if (st.destroyed || seq !== st.seq) return;
      body.replaceChildren(errorBox(err.message, { retry: load }));
    }
  }

  return {
    nav: 'inbox',
    title: 'Inbox',
    root,
    mount({ focus }) {
      load();
      if (focus) focusHeading();
    },
    destroy() { st.destroyed = true; },
    // A half-written reply is kept: the list reloads once its form is empty.
    onInbox: () => { if (!hasDraft(root)) load(); },
    onReconnect: load,
  };
}

function hasDraft(root) {
  return [...root.querySelectorAll('.reply-form textarea')].some((t) => t.value.trim());
}
