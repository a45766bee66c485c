// The console shell: sign-in, navigation and a hash router (#/accounts,
// #/accounts/NAME, …), so the server needs to serve only static files.
import { h, clear } from './dom.js';
import { get, setToken, hasToken, setUnauthenticatedHandler } from './api.js';
import { page, errorBox } from './ui.js';
import { accountsPage } from './pages/accounts.js';
import { accountPage } from './pages/account.js';
import { myTokensPage, userTokensPage, allTokensPage } from './pages/tokens.js';
import { usersPage } from './pages/users.js';
import { auditPage } from './pages/audit.js';
import { signingKeysPage } from './pages/signingkeys.js';
import { dominoPage } from './pages/domino.js';

let me = null; // the signed-in user (GET /users/me)
const $ = (id) => document.getElementById(id);

// Routes: pattern → [page, admin only]. Non-administrators see only what
// they may use; the API still decides (it answers 403/404 otherwise).
// Domino setup is for everyone: the API shows owners their own accounts.
const routes = [
  [/^#\/accounts$/, (v, p) => accountsPage(v, me, p), false],
  [/^#\/accounts\/([^/]+)$/, (v, p, m) => accountPage(v, me, decodeURIComponent(m[1])), false],
  [/^#\/tokens$/, (v, p) => myTokensPage(v, me, p), false],
  [/^#\/users$/, (v, p) => usersPage(v, me, p), true],
  [/^#\/users\/([^/]+)\/tokens$/, (v, p, m) => userTokensPage(v, me, decodeURIComponent(m[1])), true],
  [/^#\/all-tokens$/, (v, p) => allTokensPage(v, me, p), true],
  [/^#\/audit$/, (v, p) => auditPage(v, me, p), true],
  [/^#\/signing-keys$/, (v, p) => signingKeysPage(v, me, p), true],
  [/^#\/domino$/, (v, p) => dominoPage(v, me, p), false],
];

const navItems = [
  ['#/accounts', 'Service accounts', false],
  ['#/tokens', 'My tokens', false],
  ['#/users', 'Users', true],
  ['#/audit', 'Audit log', true],
  ['#/signing-keys', 'Signing keys', true],
  ['#/domino', 'Domino setup', false],
];

export function navigate(hash) {
  if (location.hash === hash) refresh();
  else location.hash = hash;
}

let generation = 0;

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
    else await route[1](scratch, params, path.match(route[0]));
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

function showSignedIn() {
  $('signin').hidden = true;
  $('view').hidden = false;
  $('top').hidden = false;
  $('whoami').textContent = me.userName + (me.admin ? ' (administrator)' : '');
  const nav = clear($('nav'));
  nav.appendChild(h('ul', {}, navItems.filter(([, , admin]) => !admin || me.admin)
    .map(([href, label]) => h('li', {}, h('a', { href }, label)))));
  if (!location.hash.startsWith('#/')) location.hash = '#/accounts';
  else refresh();
}

function signOut(message) {
  setToken('');
  me = null;
  generation++;
  clear($('view'));
  $('view').hidden = true;
  $('top').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  const input = $('signin-token');
  input.value = '';
  input.focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $('signin-token');
  const token = input.value.trim();
  const error = $('signin-error');
  error.textContent = '';
  if (!token) {
    error.textContent = 'Enter a personal access token.';
    input.focus();
    return;
  }
  setToken(token);
  try {
    me = await get('/users/me');
  } catch (e) {
    setToken('');
    error.textContent = e.status === 401
      ? 'This token is not valid: it may be mistyped, expired or revoked. Service-account keys (twk_…) cannot sign in; use a personal access token (twp_…).'
      : e.message;
    input.focus();
    return;
  }
  input.value = '';
  showSignedIn();
}

function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => signOut('You are signed out.'));
  setUnauthenticatedHandler(() => signOut('Your session ended: the token was revoked or has expired. Sign in again.'));
  // Only "#/…" fragments are routes; others (the skip link's) are not.
  window.addEventListener('hashchange', () => { if (hasToken() && location.hash.startsWith('#/')) refresh(); });
  document.querySelector('.skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('main').focus();
  });
  $('signin-token').focus();
}

start();
