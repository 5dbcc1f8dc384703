// The inbox's Reply form: stages a reply to one message (to its sender, in its
// thread) for approval. Nothing is sent from here: the reply joins the review queue.
import { API } from './format.js';
import { announce, h } from './dom.js';
import { api } from './api.js';

// m: a message of the inbox (id, accountId, channel, from, fromName).
export function replyForm(m, { onCancel } = {}) {
  const to = m.fromName || m.from || 'the sender';
  const text = h('textarea', {
    name: 'text', rows: '3', required: true, 'data-testid': 'reply-text',
    'aria-label': `Reply to ${to}`, placeholder: `Reply to ${to}`,
  });
  const status = h('p', { class: 'muted small', role: 'status', 'data-testid': 'reply-status' },
    'The reply is staged for approval; nothing is sent before someone approves it.');
  const send = h('button', { type: 'submit', class: 'btn', 'data-testid': 'reply-stage' }, 'Stage reply');
  const cancel = onCancel
    ? h('button', { type: 'button', class: 'btn btn-secondary', onclick: onCancel }, 'Cancel')
    : null;
  // A chat reply goes to the whole space (in the message's thread), not to one person.
  const label = m.channel === 'chat'
    ? h('label', { class: 'muted small' }, 'Reply in the chat space of ', h('strong', null, to), ' (everyone in it sees it)')
    : h('label', { class: 'muted small' }, `Reply by ${m.channel === 'sms' ? 'text message' : 'email'} to `, h('strong', null, to));
  const form = h('form', { class: 'reply-form', 'data-testid': 'reply-form' },
    label,
    text, h('div', { class: 'reply-actions' }, send, ' ', cancel), status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) { text.focus(); return; }
    send.disabled = true;
    try {
      const item = await api(`${API}/inbox/reply`, {
        method: 'POST',
        body: { accountId: m.accountId, channel: m.channel, id: m.id, text: text.value },
      });
      const link = h('a', { href: `/review/${encodeURIComponent(item.id)}`, 'data-testid': 'reply-item' }, `item ${item.id}`);
      status.replaceChildren(`Reply staged as `, link, ` (${String(item.state).replace(/_/g, ' ')}).`);
      announce(`Reply staged, ${String(item.state).replace(/_/g, ' ')}`);
      text.value = '';
    } catch (err) {
      status.replaceChildren(h('span', { class: 'error', role: 'alert', 'data-testid': 'reply-error' }, err.message));
    } finally {
      send.disabled = false;
    }
  });
  return form;
}
