// /review/{id}: one item, its content, history, edits and decision.
import { actorLabel, APPROVABLE, CANCELLABLE, CHANNEL_LABELS, DECISION_LABELS, humanSize, itemTitle, kbd, labelFor, PRIORITY_LABELS, priorityBadge, recipientsOf, relTime, requesterLabel, shortHash, STATE_LABELS, stateBadge } from './format.js';
import { $, $$, announce, h } from './dom.js';
import { focusHeading, nav, navigate } from './nav.js';
import { api, itemUrl, session, updateTitle } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';

// ================================================================= /review/{id}

export function detailView(id) {
  const st = { item: null, mode: null, busy: false, destroyed: false, notice: null, staleNotice: false, bodyView: 'formatted' };
  const initialAction = nav.pendingDetailAction;
  nav.pendingDetailAction = null;
  nav.lastOpenedId = id;

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
      // The display name the human knows ("Front desk"), then the space id.
      const space = c.spaceName ? `${c.spaceName} (${c.space})` : (c.space || '—');
      row('Space', h('span', { 'data-testid': 'detail-to' }, space));
      row('Thread', h('span', { 'data-testid': 'detail-thread' }, c.thread || 'a new thread'));
      if (c.parts > 1) {
        row('Parts', h('span', { 'data-testid': 'detail-parts' }, `${c.parts} numbered messages, posted in order`));
      }
    }
    // Recipients given by name: what was asked, what it resolved to, from
    // which address book. Text nodes only (names come from address books).
    if (item.addressing && item.addressing.length) {
      row('By name', h('ul', { class: 'address-list', 'data-testid': 'detail-addressing' },
        item.addressing.map((a) => h('li', { title: `${a.field}: ${a.asked}` }, a.description))),
      { note: 'resolved at staging; approval covers these addresses' });
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
        h('div', { class: 'field' }, h('p', { class: 'field-label' }, 'Space'),
          h('p', null, c.spaceName ? `${c.spaceName} (${c.space})` : (c.space || '—'))),
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
      nav.flash = { tone: 'ok', message: `Approved “${itemTitle(updated)}”. It will be sent to ${recipientsOf(updated).join(', ') || 'its recipients'} shortly.` };
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
      nav.flash = { tone: 'neutral', message: `Rejected “${itemTitle(updated)}”. It will not be sent.` };
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
      nav.flash = { tone: 'neutral', message: `Cancelled “${itemTitle(updated)}”. It will not be sent.` };
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
