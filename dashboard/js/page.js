// Pieces shared by every page: header, error box, flash message, loading row.
import { $, announce, h } from './dom.js';
import { nav } from './nav.js';

// ---------------------------------------------------------------- shared page pieces

export function pageHeader(title, ...extra) {
  return h('div', { class: 'page-header' },
    h('h1', { tabindex: '-1' }, title),
    extra.length ? h('div', { class: 'page-header-extra' }, extra) : null);
}

export function errorBox(message, { testid = 'page-error', retry } = {}) {
  return h('div', { class: 'callout callout-danger', role: 'alert', 'data-testid': testid },
    h('p', null, message),
    retry ? h('p', null, h('button', { type: 'button', class: 'btn btn-secondary', onclick: retry }, 'Try again')) : null);
}

export function flashBox() {
  if (!nav.flash) return null;
  const box = h('div', { class: `callout callout-${nav.flash.tone || 'ok'} flash`, role: 'status', 'data-testid': 'flash' },
    h('p', null, nav.flash.message),
    h('button', {
      type: 'button', class: 'flash-close', 'aria-label': 'Dismiss this message', title: 'Dismiss',
      onclick: () => {
        const main = $('#main');
        const hadFocus = box.contains(document.activeElement);
        box.remove();
        if (hadFocus) main.focus();
      },
    }, '×'));
  announce(nav.flash.message);
  nav.flash = null;
  // The message has been announced; clear it after a while so it does not go stale.
  window.setTimeout(() => { if (!box.contains(document.activeElement)) box.remove(); }, 20000);
  return box;
}

export function loadingRow(text = 'Loading…') {
  return h('p', { class: 'loading', 'data-testid': 'loading' }, text);
}
