// /contacts: search the synced contacts; /contacts/:id: one person's addresses and sources.
import { API } from './format.js';
import { h, debounce } from './dom.js';
import { focusHeading } from './nav.js';
import { api } from './api.js';
import { errorBox, loadingRow, pageHeader } from './page.js';

const SOURCES = { saved: 'saved contact', other: 'other contact', directory: 'directory', local: 'local address book' };

function values(list) {
  return (list || []).map((a) => a.value).join(', ');
}

export function contactsView() {
  const st = { destroyed: false, query: '' };
  const body = h('div', { class: 'contacts-body' }, loadingRow('Loading contacts…'));
  const input = h('input', { type: 'search', id: 'contacts-q', 'data-testid': 'contacts-search', placeholder: 'Name, email or phone', autocomplete: 'off' });
  const root = h('div', { class: 'view view-contacts', 'data-testid': 'contacts-page' },
    pageHeader('Contacts', h('p', { class: 'page-lede' }, 'Synced Google contacts and the sandbox\u2019s address book. Accents and punctuation are ignored.')),
    h('p', null, h('label', { for: 'contacts-q' }, 'Search '), input),
    body);

  function row(p) {
    return h('tr', { 'data-testid': 'contact-row', 'data-person-id': p.id },
      h('td', null, h('a', { href: `/contacts/${encodeURIComponent(p.id)}`, 'data-testid': 'contact-link' }, p.name || p.id)),
      h('td', { class: 'mono' }, values(p.emails)),
      h('td', { class: 'mono' }, values(p.phones)),
      h('td', null, (p.sources || []).map((s) => `${SOURCES[s.source] || s.source} (${s.accountId})`).join(', ')));
  }

  async function load() {
    const q = st.query.trim();
    const url = q.length >= 2 ? `${API}/contacts?query=${encodeURIComponent(q)}&limit=100` : `${API}/contacts?limit=100`;
    try {
      const data = await api(url);
      if (st.destroyed || q !== st.query.trim()) return;
      const people = data.people || [];
      body.replaceChildren(people.length
        ? h('table', { class: 'accounts', 'data-testid': 'contacts-table' },
          h('caption', { class: 'visually-hidden' }, 'Contacts'),
          h('thead', null, h('tr', null, ['Name', 'Email', 'Phone', 'Sources'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, people.map(row)))
        : h('p', { class: 'empty-hint', 'data-testid': 'contacts-empty' }, q ? 'Nobody matches.' : 'No contacts yet.'));
    } catch (err) {
      if (!st.destroyed) body.replaceChildren(errorBox(err.message, { retry: load }));
    }
  }

  input.addEventListener('input', debounce(() => { st.query = input.value; load(); }, 150));

  return {
    nav: 'contacts',
    title: 'Contacts',
    root,
    mount({ focus }) {
      load();
      if (focus) focusHeading();
    },
    destroy() { st.destroyed = true; },
    onReconnect: load,
  };
}

export function contactView(id) {
  const st = { destroyed: false };
  const body = h('div', { class: 'contacts-body' }, loadingRow('Loading the contact…'));
  const header = h('div');
  const root = h('div', { class: 'view view-contacts', 'data-testid': 'contact-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '/contacts', 'data-testid': 'back-to-contacts' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Contacts')),
    header, body);

  function address(a) {
    return h('li', { 'data-testid': 'contact-address' },
      h('span', { class: 'mono' }, a.value),
      a.type ? ` (${a.type})` : '',
      a.primary ? ' · primary' : '',
      h('span', { class: 'muted' }, ` · ${SOURCES[a.from.source] || a.from.source}, account ${a.from.accountId}`));
  }

  async function load() {
    try {
      const p = await api(`${API}/contacts/${encodeURIComponent(id)}`);
      if (st.destroyed) return;
      header.replaceChildren(pageHeader(p.name || id, h('p', { class: 'page-lede mono' }, `contact:${p.id}`)));
      body.replaceChildren(
        h('h2', null, 'Email'), h('ul', null, (p.emails || []).map(address)),
        h('h2', null, 'Phone'), h('ul', null, (p.phones || []).map(address)),
        p.organization ? h('p', null, `Organisation: ${p.organization}`) : null);
    } catch (err) {
      if (!st.destroyed) body.replaceChildren(errorBox(err.message, { retry: load }));
    }
  }

  return {
    nav: 'contacts',
    title: 'Contact',
    root,
    mount({ focus }) {
      load();
      if (focus) focusHeading();
    },
    destroy() { st.destroyed = true; },
    onReconnect: load,
  };
}
