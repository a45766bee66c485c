// The hash router (#/accounts, #/accounts/NAME, …), so the server needs to
// serve only static files. The shell (app.js) gives it the route table and
// the signed-in user; pages call navigate and refresh. It imports no page,
// so pages import it without importing the shell back.
import { h } from './dom.js';
import { hasToken } from './api.js';
import { page, errorBox } from './ui.js';

// Routes: [pattern, render(view, params, match, user), admin only].
let routes = [];
let me = null; // the signed-in user (GET /users/me), or null
let generation = 0;
const $ = (id) => document.getElementById(id);

// startRouter sets the route table and renders the page again whenever
// the hash changes. Only "#/…" fragments are routes; others (the skip
// link's) are not.
export function startRouter(table) {
  routes = table;
  window.addEventListener('hashchange', () => { if (hasToken() && location.hash.startsWith('#/')) refresh(); });
}

// setUser records who is signed in (null: nobody, which also drops the
// page a slow answer would still render).
export function setUser(user) {
  me = user;
  if (!user) generation++;
}

export function navigate(hash) {
  if (location.hash === hash) refresh();
  else location.hash = hash;
}

// refresh renders the page for the current hash.
export async function refresh() {
  if (!me) return;
  const raw = location.hash.startsWith('#/') ? location.hash : '#/accounts';
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  const view = $('view');
  const mine = ++generation;
  for (const a of $('nav').querySelectorAll('a')) {
    const current = path === a.getAttribute('href') || path.startsWith(a.getAttribute('href') + '/');
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const route = routes.find(([re]) => re.test(path));
  view.setAttribute('aria-busy', 'true');
  // Pages render into a detached element, so a slow answer for a page the
  // user already left cannot overwrite the page they are on now.
  const scratch = h('div');
  try {
    if (!route) page(scratch, 'Not found', h('p', {}, 'There is no such page. ', h('a', { href: '#/accounts' }, 'Service accounts')));
    else if (route[2] && !me.admin) page(scratch, 'Not allowed', h('p', {}, 'This page is for administrators.'));
    else await route[1](scratch, params, path.match(route[0]), me);
  } catch (e) {
    page(scratch, 'Error', errorBox(e));
  }
  if (mine !== generation || !me) return;
  view.replaceChildren(...scratch.childNodes);
  view.removeAttribute('aria-busy');
  view.dataset.page = path;
  view.dataset.route = raw;
  const title = $('page-title');
  // Move the focus to the new page's heading (screen readers announce it)
  // unless the user is already working inside the page.
  const active = document.activeElement;
  if (title && (active === document.body || $('nav').contains(active))) title.focus({ preventScroll: true });
}
