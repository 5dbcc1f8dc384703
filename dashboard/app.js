// commsd review dashboard. Vanilla ES2020, no build step, nothing loaded from outside.
//
// Everything shown here is written by agents and therefore untrusted: it only ever
// reaches the page through textContent and DOM APIs, never through innerHTML. HTML
// email bodies are rendered by the server (sanitised, strict CSP) inside an
// <iframe sandbox=""> and never parsed by this script.
import { refreshRelativeTimes } from './js/format.js';
import { $, $$, h } from './js/dom.js';
import { focusHeading, nav, navigate, setRouter } from './js/nav.js';
import { live, loadSession, refreshCounts, session, setLive, updateTitle } from './js/api.js';
import { pageHeader } from './js/page.js';
import { queueView } from './js/queue.js';
import { detailView } from './js/detail.js';
import { auditView } from './js/audit.js';
import { accountsView, statusView } from './js/status.js';
import { smsThreadsView, smsThreadView } from './js/texts.js';
import { conversationView, inboxView } from './js/inbox.js';
import { contactsView, contactView } from './js/contacts.js';

// ---------------------------------------------------------------- routing

const routes = [
  { re: /^\/review\/?$/, view: (m, params) => queueView(params) },
  { re: /^\/review\/([^/]+)\/?$/, view: (m) => detailView(safeDecode(m[1])) },
  { re: /^\/audit\/?$/, view: () => auditView() },
  { re: /^\/status\/?$/, view: () => statusView() },
  { re: /^\/accounts\/?$/, view: () => accountsView() },
  { re: /^\/inbox\/?$/, view: () => inboxView() },
  { re: /^\/inbox\/conversation\/?$/, view: (m, params) => conversationView(params) },
  { re: /^\/texts\/?$/, view: () => smsThreadsView() },
  { re: /^\/contacts\/?$/, view: () => contactsView() },
  { re: /^\/contacts\/([^/]+)\/?$/, view: (m) => contactView(safeDecode(m[1])) },
  { re: /^\/texts\/([^/]+)\/?$/, view: (m, params) => smsThreadView(safeDecode(m[1]), params.get('accountId')) },
];

function safeDecode(part) {
  try { return decodeURIComponent(part); } catch (_) { return part; }
}

function isAppPath(pathname) {
  return pathname === '/' || routes.some((r) => r.re.test(pathname));
}

function route({ focus = false } = {}) {
  if (location.pathname === '/') {
    history.replaceState(null, '', '/review');
  }
  if (nav.currentView && nav.currentView.destroy) nav.currentView.destroy();
  nav.currentView = null;

  const params = new URLSearchParams(location.search);
  let view = null;
  for (const r of routes) {
    const m = location.pathname.match(r.re);
    if (m) { view = r.view(m, params); break; }
  }
  if (!view) view = notFoundView();
  nav.currentView = view;

  for (const link of $$('.mainnav a')) {
    if (link.getAttribute('data-nav') === view.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const main = $('#main');
  main.replaceChildren(view.root);
  updateTitle();
  if (view.mount) view.mount({ focus });
  else if (focus) focusHeading();
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  if (a.origin !== location.origin || !isAppPath(a.pathname)) return;
  if (a.getAttribute('href').startsWith('#')) return;
  e.preventDefault();
  if (a.pathname + a.search === location.pathname + location.search) {
    route({ focus: true });
    return;
  }
  navigate(a.pathname + a.search);
});

window.addEventListener('popstate', () => route({ focus: true }));

// ---------------------------------------------------------------- keyboard

function isTypingTarget(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (el.getAttribute('type') || 'text').toLowerCase();
    return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(type);
  }
  return false;
}

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'Escape') {
    const openHelp = $('[data-testid="shortcuts"][open]');
    if (openHelp) {
      e.preventDefault();
      openHelp.open = false;
      $('summary', openHelp).focus();
      return;
    }
  }
  if (isTypingTarget(e.target)) return;
  if (e.key === '?') {
    const help = $('[data-testid="shortcuts"]');
    if (help) {
      e.preventDefault();
      help.open = !help.open;
      $('summary', help).focus();
    }
    return;
  }
  if (nav.currentView && nav.currentView.onKey) nav.currentView.onKey(e);
});

// ================================================================= 404

function notFoundView() {
  return {
    nav: null,
    title: 'Not found',
    root: h('div', { class: 'view' },
      pageHeader('Page not found'),
      h('p', null, 'There is nothing at this address. ', h('a', { href: '/review' }, 'Go to the review queue'), '.')),
  };
}

// ================================================================= start

function start() {
  setLive('connecting');
  route({ focus: false });
  loadSession().catch(() => {});
  refreshCounts();
  live.start();
  window.setInterval(refreshRelativeTimes, 30000);
  // Keep the badge honest even if an event is missed.
  window.setInterval(() => { if (!session.expired && document.visibilityState === 'visible') refreshCounts(); }, 60000);
}

setRouter(route);

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
