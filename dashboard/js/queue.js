// /review: the outbox queue (tabs by state, filters, bulk approve, keyboard).
import { API, APPROVABLE, CHANNEL_LABELS, kbd, labelFor, PAGE_SIZE, priorityBadge, QUEUE_TABS, recipientsOf, relTime, requesterLabel, sortItems, STATE_LABELS, stateBadge, summaryText } from './format.js';
import { $, $$, announce, clear, h } from './dom.js';
import { focusHeading, nav, navigate } from './nav.js';
import { api, counts, itemUrl, session } from './api.js';
import { errorBox, flashBox, loadingRow } from './page.js';

// ================================================================= /review

export function queueView(params) {
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
    nav.lastOpenedId = tr.getAttribute('data-id');
    navigate(`/review/${encodeURIComponent(nav.lastOpenedId)}`);
  });
  tbody.addEventListener('focusin', (e) => {
    const tr = e.target.closest('tr[data-testid="item-row"]');
    if (tr) { st.activeId = tr.getAttribute('data-id'); markActive(); }
  });
  tbody.addEventListener('click', (e) => {
    const link = e.target.closest('a.row-link');
    if (link) nav.lastOpenedId = link.closest('tr').getAttribute('data-id');
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
        nav.lastOpenedId = id;
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
        nav.lastOpenedId = id;
        nav.pendingDetailAction = 'reject';
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
      const restoreId = nav.lastOpenedId;
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
