// Shared navigation state, and navigation itself, for the view modules.
import { $ } from './dom.js';

export const nav = {
  currentView: null,
  flash: null, // a message for the next page, e.g. after approving
  pendingDetailAction: null, // 'reject' when `r` was pressed in the queue
  lastOpenedId: null, // to put focus back on that row when returning to the queue
};

// app.js owns the route table (it imports every view) and registers its router here, so that
// views navigate without importing app.js.
let router = () => {};

export function setRouter(fn) {
  router = fn;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  router({ focus: true });
}

export function focusHeading() {
  const heading = $('#main h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  } else {
    $('#main').focus();
  }
}
