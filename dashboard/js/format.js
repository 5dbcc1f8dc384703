// Constants (labels, tones, page sizes) and formatting: dates, sizes, labels, badges.
import { $$, h } from './dom.js';

// ---------------------------------------------------------------- constants

export const API = '/dashboard/api';
export const PAGE_SIZE = 50;
export const AUDIT_PAGE_SIZE = 100;

export const STATE_LABELS = {
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
export const STATE_ORDER = Object.keys(STATE_LABELS);

// The queue's filter tabs: the pending queue first, then the states that need a look.
export const QUEUE_TABS = [
  { state: 'pending_approval', label: 'Waiting for approval', empty: 'Nothing waiting for approval', emptyHint: 'New messages from your agents appear here as soon as they are staged. Nothing is sent until someone approves it.' },
  { state: 'draft', label: 'Drafts', empty: 'No drafts', emptyHint: 'Drafts wait for the agent that wrote them to confirm them.' },
  { state: 'approved', label: 'Approved', empty: 'No approved messages waiting to go out', emptyHint: 'Approved messages are sent shortly after approval.' },
  { state: 'unknown', label: 'Outcome unknown', empty: 'No messages with an unknown outcome', emptyHint: 'A message lands here if commsd stopped while sending it, or if the mail server or Gmail took it and the answer was lost. It is never resent automatically.' },
  { state: 'failed', label: 'Failed', empty: 'No failed messages', emptyHint: 'Messages that could not be delivered are listed here.' },
];

export const CHANNEL_LABELS = { email: 'Email', sms: 'SMS', chat: 'Chat' };
export const PRIORITY_LABELS = { high: 'High', normal: 'Normal', low: 'Low' };
const PRIORITY_RANK = { high: 0, normal: 1, low: 2 };
export const DECISION_LABELS = {
  approve: 'A person must approve',
  confirm: 'The agent may confirm',
  auto: 'Sent without asking',
};
export const AUDIT_DECISION_LABELS = {
  approve: 'Needs approval',
  confirm: 'Agent confirms',
  auto: 'Automatic',
};
export const ACTION_LABELS = {
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
export const ACTION_TONE = {
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

export const APPROVABLE = new Set(['draft', 'pending_approval']);
// Assumption: an approved item can still be cancelled until it starts sending.
export const CANCELLABLE = new Set(['draft', 'pending_approval', 'approved']);

// ---------------------------------------------------------------- formatting

const absoluteFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit',
});
export const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
export const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

export function parseDate(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function absoluteTime(value) {
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
export function relTime(value, { prefix = '' } = {}) {
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

export function refreshRelativeTimes() {
  const now = Date.now();
  for (const el of $$('time.rel-time')) {
    const prefix = el.getAttribute('data-prefix') || '';
    el.textContent = prefix + relativeTime(el.getAttribute('datetime'), now);
  }
}

export function humanSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return `${n} bytes`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function humanDuration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hrs = Math.floor(s / 3600); s -= hrs * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

export function shortHash(hash, n = 12) {
  if (!hash) return '—';
  return hash.length > n ? `${hash.slice(0, n)}…` : hash;
}

/** "key:gemini-cli" → "gemini-cli (API key)" etc. */
export function requesterLabel(requester) {
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

export function actorLabel(actor) {
  return actor ? requesterLabel(actor) : '—';
}

export function labelFor(map, key) {
  if (!key) return '—';
  return map[key] || key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

export function itemTitle(item) {
  const c = item.content || {};
  if (item.channel === 'email') return (c.subject && c.subject.trim()) || '(no subject)';
  if (item.summary && item.summary.trim()) return item.summary;
  if (item.channel === 'sms') return `Text message to ${c.to || 'unknown number'}`;
  if (item.channel === 'chat') return `Chat message to ${c.space || 'unknown space'}`;
  return item.id;
}

export function summaryText(item) {
  return (item.summary && item.summary.trim()) || itemTitle(item);
}

export function recipientsOf(item) {
  if (Array.isArray(item.recipients) && item.recipients.length) return item.recipients;
  const c = item.content || {};
  if (item.channel === 'email') return [...(c.to || []), ...(c.cc || []), ...(c.bcc || [])];
  if (item.channel === 'sms') return c.to ? [c.to] : [];
  if (item.channel === 'chat') return c.space ? [c.space] : [];
  return [];
}

export function sortItems(items) {
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

export function pill(text, tone, attrs = {}) {
  return h('span', { ...attrs, class: `pill pill-${tone || 'neutral'}` }, text);
}

export function stateBadge(state, attrs = {}) {
  return pill(labelFor(STATE_LABELS, state), STATE_TONE[state], { 'data-state': state, ...attrs });
}

export function priorityBadge(priority) {
  const p = priority || 'normal';
  return h('span', { class: `priority priority-${p}`, 'data-priority': p },
    h('span', { class: 'priority-mark', 'aria-hidden': 'true' }),
    labelFor(PRIORITY_LABELS, p));
}

export function kbd(key) {
  return h('kbd', null, key);
}
