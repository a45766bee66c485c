// The console shell: sign-in, sign-out, the navigation bar and the route
// table; router.js renders the page of the current hash.
import { h, clear } from './dom.js';
import { get, setToken, setSession, isSession, settings, sessionUser, endSession, setUnauthenticatedHandler } from './api.js';
import { toast } from './ui.js';
import { startRouter, setUser, refresh } from './router.js';
import { accountsPage } from './pages/accounts.js';
import { accountPage } from './pages/account.js';
import { myTokensPage, userTokensPage, allTokensPage } from './pages/tokens.js';
import { usersPage } from './pages/users.js';
import { auditPage } from './pages/audit.js';
import { signingKeysPage } from './pages/signingkeys.js';
import { dominoPage } from './pages/domino.js';

const $ = (id) => document.getElementById(id);

// Routes: pattern → [page, admin only]. Non-administrators see only what
// they may use; the API still decides (it answers 403/404 otherwise).
// Domino setup is for everyone: the API shows owners their own accounts.
const routes = [
  [/^#\/accounts$/, (v, p, m, me) => accountsPage(v, me, p), false],
  [/^#\/accounts\/([^/]+)$/, (v, p, m, me) => accountPage(v, me, decodeURIComponent(m[1])), false],
  [/^#\/tokens$/, (v, p, m, me) => myTokensPage(v, me, p), false],
  [/^#\/users$/, (v, p, m, me) => usersPage(v, me, p), true],
  [/^#\/users\/([^/]+)\/tokens$/, (v, p, m, me) => userTokensPage(v, me, decodeURIComponent(m[1])), true],
  [/^#\/all-tokens$/, (v, p, m, me) => allTokensPage(v, me, p), true],
  [/^#\/audit$/, (v, p, m, me) => auditPage(v, me, p), true],
  [/^#\/signing-keys$/, (v, p, m, me) => signingKeysPage(v, me, p), true],
  [/^#\/domino$/, (v, p, m, me) => dominoPage(v, me, p), false],
];

const navItems = [
  ['#/accounts', 'Service accounts', false],
  ['#/tokens', 'My tokens', false],
  ['#/users', 'Users', true],
  ['#/audit', 'Audit log', true],
  ['#/signing-keys', 'Signing keys', true],
  ['#/domino', 'Domino setup', false],
];

function showSignedIn(me) {
  setUser(me);
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

// showSignIn forgets who was signed in and shows the sign-in page with
// message (an ended session, a signed-out user).
function showSignIn(message) {
  setToken('');
  setUser(null);
  clear($('view'));
  $('view').hidden = true;
  $('top').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  const input = $('signin-token');
  input.value = '';
  if (!$('signin-pat').hidden) input.focus();
  else if (!$('signin-sso').hidden) $('signin-sso-link').focus();
}

// signOut ends a console session at the server (POST /ui/logout); a
// token sign-in only forgets the token.
async function signOut() {
  if (isSession()) {
    let providerLogout;
    try {
      providerLogout = await endSession();
    } catch (e) {
      toast(e.message);
      return;
    }
    if (providerLogout) {
      // The provider ends its own session and returns to /ui/.
      window.location.assign(providerLogout);
      return;
    }
  }
  showSignIn('You are signed out.');
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
  let me;
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
  showSignedIn(me);
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  setUnauthenticatedHandler(() => showSignIn(isSession()
    ? 'Your session ended: it expired, you signed out elsewhere, or your account was deactivated. Sign in again.'
    : 'Your session ended: the token was revoked or has expired. Sign in again.'));
  startRouter(routes);
  document.querySelector('.skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('main').focus();
  });
  const offered = await settings();
  $('signin-sso').hidden = !offered.sso;
  $('signin-pat').hidden = !offered.patSignIn;
  // A session (single sign-on) survives a reload: ask who it is.
  const found = offered.sso ? await sessionUser() : {};
  if (found.user) {
    setSession(true);
    showSignedIn(found.user);
    return;
  }
  showSignIn(found.problem || '');
}

start();
