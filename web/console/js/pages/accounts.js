// Service accounts: the list (with search) and the create dialog.
import { h, list } from '../dom.js';
import { get, post } from '../api.js';
import { badge, table, page, errorBox, formDialog, toast } from '../ui.js';
import { navigate } from '../router.js';

// accountFields are shared by create and edit; values come from an account.
export function accountFields(sa, creating) {
  const join = (a) => (a || []).join(', ');
  return [
    creating ? { name: 'userName', label: 'Name (client ID)', required: true, hint: 'Lowercase; cannot be changed later.' } : null,
    { name: 'email', label: 'Email', type: 'email', required: true, value: sa.email, hint: 'Domino finds the Person document by this address.' },
    { name: 'notesName', label: 'Notes name', value: sa.notesName, placeholder: 'CN=ci-bot/O=Acme' },
    { name: 'description', label: 'Description', type: 'textarea', rows: 2, value: sa.description },
    { name: 'roles', label: 'Roles', value: join(sa.roles), hint: creating ? 'Comma-separated. Empty: your own roles.' : 'Comma-separated.' },
    { name: 'allowedScopes', label: 'Allowed scopes', value: join(sa.allowedScopes), hint: 'Comma-separated, e.g. Domino.user.all, $DATA' },
    { name: 'allowedAudiences', label: 'Allowed audiences', value: join(sa.allowedAudiences), hint: 'Comma-separated; an entry ending in * allows a prefix.' },
    { name: 'owners', label: 'Owners', value: join(sa.owners), hint: 'User names who may manage this account\'s keys.' },
    { name: 'allowedCidrs', label: 'Allowed source networks', value: join(sa.allowedCidrs), hint: 'Comma-separated CIDRs; empty allows any.' },
    { name: 'tokenLifetime', label: 'Token lifetime (seconds)', type: 'number', value: sa.tokenLifetime ? String(sa.tokenLifetime) : '', hint: 'Empty: the server default.' },
    { name: 'claims', label: 'Custom claims (JSON object)', type: 'textarea', rows: 3, value: sa.claims ? JSON.stringify(sa.claims, null, 2) : '' },
    { name: 'profile', label: 'Token profile', type: 'select', value: sa.profile || 'domino',
      options: [['domino', 'Domino (typ JWT, CN, email)'], ['generic', 'Generic RFC 9068 (typ at+jwt)']] },
    // Token shape: the API shows the effective values (the account's own, or
    // its profile's defaults). Creating, '' leaves them to the profile;
    // editing, only a changed value is sent (accountBody), so saving other
    // changes does not pin the profile's default.
    { name: 'tokenType', label: 'Token type (typ header)', type: 'select', value: creating ? '' : sa.tokenType,
      options: [creating ? ['', 'The profile\'s default'] : null, ['jwt', 'JWT'], ['at+jwt', 'at+jwt (RFC 9068)']].filter(Boolean),
      hint: 'Some verifiers require at+jwt; Domino\'s examples use JWT.' },
    { name: 'audienceFormat', label: 'Audience (aud) format', type: 'select', value: creating ? '' : sa.audienceFormat,
      options: [creating ? ['', 'The default (array)'] : null, ['array', 'Array'], ['string', 'String (exactly one audience per token)']].filter(Boolean),
      hint: 'String: a token request that would carry several audiences is refused.' },
    { name: 'introspect', label: 'May introspect tokens (resource server)', type: 'checkbox',
      value: (sa.permissions || []).includes('introspect') },
  ].filter(Boolean);
}

// accountBody turns form values into the API body; the server validates.
// sa is the account being edited (editing only).
export function accountBody(v, creating, sa) {
  const body = {
    email: v.email.trim(), notesName: v.notesName.trim(), description: v.description.trim(),
    allowedScopes: list(v.allowedScopes), allowedAudiences: list(v.allowedAudiences),
    owners: list(v.owners), allowedCidrs: list(v.allowedCidrs),
    profile: v.profile, permissions: v.introspect ? ['introspect'] : [],
  };
  for (const k of ['tokenType', 'audienceFormat']) {
    if (creating ? v[k] !== '' : v[k] !== sa[k]) body[k] = v[k];
  }
  const roles = list(v.roles);
  if (creating) {
    body.userName = v.userName.trim();
    if (roles.length) body.roles = roles;
  } else {
    body.roles = roles;
  }
  if (v.tokenLifetime.trim() !== '') {
    const n = Number(v.tokenLifetime);
    if (!Number.isInteger(n) || n < 0) throw new Error('Token lifetime must be a whole number of seconds.');
    body.tokenLifetime = n;
  } else if (!creating) {
    body.tokenLifetime = 0;
  }
  if (v.claims.trim() !== '') {
    let claims;
    try { claims = JSON.parse(v.claims); } catch (e) { throw new Error('Custom claims are not valid JSON: ' + e.message); }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) throw new Error('Custom claims must be a JSON object.');
    body.claims = claims;
  } else if (!creating) {
    body.claims = {};
  }
  return body;
}

export async function accountsPage(view, me) {
  let items;
  try {
    items = (await get('/service-accounts')).items;
  } catch (e) {
    page(view, 'Service accounts', errorBox(e));
    return;
  }
  const search = h('input', { id: 'account-search', type: 'search', placeholder: 'Name, email, description', autocomplete: 'off' });
  const count = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const holder = h('div');
  const columns = [
    { label: 'Name', cell: (a) => h('a', { href: '#/accounts/' + encodeURIComponent(a.userName) }, a.userName) },
    { label: 'Email', cell: (a) => a.email },
    { label: 'Description', cell: (a) => h('span', { class: 'desc' }, a.description || '') },
    { label: 'Roles', cell: (a) => (a.roles || []).join(', ') },
    { label: 'Status', cell: (a) => badge(a.status) },
  ];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = items.filter((a) => !q || [a.userName, a.email, a.description || '', a.notesName || ''].some((s) => s.toLowerCase().includes(q)));
    count.textContent = shown.length + ' of ' + items.length + ' service accounts';
    holder.replaceChildren(shown.length
      ? table('Service accounts', columns, shown, (a) => ({ dataset: { account: a.userName } }))
      : h('p', { class: 'empty' }, items.length ? 'No account matches the search.' : (me.admin ? 'No service accounts yet.' : 'You own no service accounts.')));
  };
  search.addEventListener('input', render);
  const create = async () => {
    const sa = await formDialog({
      id: 'create-account', title: 'New service account', fields: accountFields({}, true), submitLabel: 'Create account',
      submit: (v) => post('/service-accounts', accountBody(v, true)),
    });
    if (!sa) return;
    toast('Created service account ' + sa.userName + '.');
    navigate('#/accounts/' + encodeURIComponent(sa.userName));
  };
  render();
  page(view, 'Service accounts',
    h('div', { class: 'toolbar' },
      h('div', { class: 'field inline' }, h('label', { for: 'account-search' }, 'Search'), search),
      me.admin ? h('button', { type: 'button', class: 'primary', id: 'new-account', onclick: create }, 'New service account') : null),
    count, holder);
}
