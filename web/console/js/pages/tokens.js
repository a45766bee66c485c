// Personal access tokens: my own, one user's (administrators), and everyone's
// (administrators).
import { h, fmtTime } from '../dom.js';
import { get, post } from '../api.js';
import { badge, table, page, errorBox, rowMenu, confirmDialog, toast } from '../ui.js';
import { keyPanel } from '../keys.js';
import { refresh } from '../router.js';

export async function myTokensPage(view, me) {
  const panel = await keyPanel({ kind: 'token', base: '/users/me/tokens', clientId: me.userName, title: 'Tokens', owner: me });
  page(view, 'My personal access tokens',
    h('p', {}, 'Tokens authenticate you to the admin API and the CLI (and to this console where token sign-in is on), and can be exchanged for a JWT with client ID ',
      h('code', {}, me.userName), '.'), panel);
}

export async function userTokensPage(view, me, user) {
  const base = '/users/' + encodeURIComponent(user) + '/tokens';
  const panel = await keyPanel({ kind: 'token', base, clientId: user, title: 'Tokens of ' + user });
  page(view, 'Tokens of ' + user, h('p', {}, h('a', { href: '#/users' }, '← Users')), panel);
}

const statuses = [['', 'Any status'], ['active', 'Active'], ['expiring_soon', 'Expiring soon'], ['expired', 'Expired'], ['revoked', 'Revoked']];

// allPageSize: tokens per page of the all-tokens list (the API pages it:
// ?limit, and ?before=<last id of the previous page>).
const allPageSize = 100;

export async function allTokensPage(view, me, params) {
  const status = params.get('status') || '';
  const before = params.get('before') || '';
  const select = h('select', { id: 'token-status' }, statuses.map(([v, l]) => h('option', { value: v, selected: v === status }, l)));
  select.addEventListener('change', () => { location.hash = '#/all-tokens' + (select.value ? '?status=' + select.value : ''); });
  const filter = h('div', { class: 'toolbar' }, h('div', { class: 'field inline' }, h('label', { for: 'token-status' }, 'Status'), select));
  const query = (extra) => {
    const q = new URLSearchParams(extra);
    if (status) q.set('status', status);
    return q.toString();
  };
  let items;
  try {
    items = (await get('/tokens?' + query({ limit: allPageSize, ...(before ? { before } : {}) }))).items;
  } catch (e) {
    page(view, 'All personal access tokens', filter, errorBox(e));
    return;
  }
  const actions = (k) => rowMenu('Actions for ' + k.clientId + '/' + k.name, [k.status !== 'revoked' && {
    label: 'Revoke', danger: true, action: async () => {
      const ok = await confirmDialog({ title: 'Revoke ' + k.name + ' of ' + k.clientId + '?',
        text: 'The token stops working at once. This cannot be undone.', action: 'Revoke token' });
      if (!ok) return;
      try { await post('/users/' + encodeURIComponent(k.clientId) + '/tokens/' + encodeURIComponent(k.id) + ':revoke'); toast('Revoked.'); } catch (e) { toast(e.message); }
      refresh();
    } }]);
  const columns = [
    { label: 'User', cell: (k) => h('a', { href: '#/users/' + encodeURIComponent(k.clientId) + '/tokens' }, k.clientId) },
    { label: 'Name', cell: (k) => [k.name, k.description ? h('div', { class: 'desc' }, k.description) : null] },
    { label: 'Created', cell: (k) => fmtTime(k.createdAt) },
    { label: 'Expires', cell: (k) => (k.expiresAt ? fmtTime(k.expiresAt) : 'Never') },
    { label: 'Last used', cell: (k) => (k.lastUsedAt ? fmtTime(k.lastUsedAt) : 'Never') },
    { label: 'Status', cell: (k) => badge(k.status) },
    { label: 'Actions', cell: actions },
  ];
  const pager = h('div', { class: 'toolbar' },
    before ? h('a', { class: 'button secondary', id: 'tokens-first', href: '#/all-tokens' + (status ? '?' + query({}) : '') }, '← First page') : null,
    items.length === allPageSize
      ? h('a', { class: 'button secondary', id: 'tokens-next', href: '#/all-tokens?' + query({ before: items[items.length - 1].id }) }, 'Next page →')
      : null);
  page(view, 'All personal access tokens', filter,
    items.length ? table('All personal access tokens', columns, items, (k) => ({ dataset: { key: k.name, user: k.clientId } })) : h('p', { class: 'empty' }, 'No tokens.'),
    pager);
}
