// Users (administrators): list, create, change, delete.
import { h, list, fmtTime } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { badge, table, page, errorBox, rowMenu, formDialog, confirmDialog, toast } from '../ui.js';
import { refresh } from '../router.js';

export async function usersPage(view, me) {
  let items;
  try {
    items = (await get('/users')).items;
  } catch (e) {
    page(view, 'Users', errorBox(e));
    return;
  }
  const fields = (u, creating) => [
    creating ? { name: 'userName', label: 'User name', required: true } : null,
    { name: 'email', label: 'Email', type: 'email', required: true, value: u.email },
    { name: 'roles', label: 'Roles', value: (u.roles || []).join(', '), hint: creating ? 'Comma-separated.' : 'Comma-separated. Changing roles revokes all of the user\'s tokens.' },
    { name: 'admin', label: 'Administrator', type: 'checkbox', value: u.admin,
      hint: creating ? null : 'Removing administrator revokes all of the user\'s tokens.' },
    // What the user's tokens may reach: set by administrators only.
    creating ? null : { name: 'allowedScopes', label: 'Allowed scopes', type: 'textarea', value: (u.allowedScopes || []).join('\n'),
      hint: 'One per line. Empty: the server\'s default scopes.' },
    creating ? null : { name: 'allowedAudiences', label: 'Allowed audiences', type: 'textarea', value: (u.allowedAudiences || []).join('\n'),
      hint: 'One per line: URLs, or prefixes ending in *. Empty: the server\'s defaults.' },
    creating ? null : { name: 'allowedCidrs', label: 'Allowed source networks', type: 'textarea', value: (u.allowedCidrs || []).join('\n'),
      hint: 'CIDRs, one per line. Empty: any address.' },
  ].filter(Boolean);
  const create = async () => {
    const u = await formDialog({ id: 'create-user', title: 'New user', fields: fields({}, true), submitLabel: 'Create user',
      submit: (v) => post('/users', { userName: v.userName.trim(), email: v.email.trim(), roles: list(v.roles), admin: v.admin }) });
    if (u) { toast('Created user ' + u.userName + '. Create a token for them from the row menu.'); refresh(); }
  };
  const actions = (u) => {
    const path = '/users/' + encodeURIComponent(u.userName);
    return rowMenu('Actions for ' + u.userName, [
      { label: 'Edit', action: async () => {
        const body = (v) => {
          const b = { email: v.email.trim(), admin: v.admin };
          const roles = list(v.roles);
          if (roles.join(',') !== (u.roles || []).join(',')) b.roles = roles;
          for (const k of ['allowedScopes', 'allowedAudiences', 'allowedCidrs']) {
            const l = list(v[k]);
            if (l.join('\n') !== (u[k] || []).join('\n')) b[k] = l;
          }
          return b;
        };
        const done = await formDialog({ id: 'edit-user', title: 'Edit ' + u.userName, fields: fields(u, false), submitLabel: 'Save', submit: (v) => patch(path, body(v)) });
        if (done) { toast('Saved ' + u.userName + '.'); refresh(); }
      } },
      { label: 'Tokens', action: () => { location.hash = '#/users/' + encodeURIComponent(u.userName) + '/tokens'; } },
      { label: u.status === 'active' ? 'Deactivate' : 'Activate', action: async () => {
        const deactivate = u.status === 'active';
        if (deactivate && !(await confirmDialog({ title: 'Deactivate ' + u.userName + '?', text: 'All of their tokens are revoked. After activation the user needs new tokens.', action: 'Deactivate' }))) return;
        try { await patch(path, { status: deactivate ? 'inactive' : 'active' }); } catch (e) { toast(e.message); }
        refresh();
      } },
      u.userName !== me.userName && { label: 'Delete', danger: true, action: async () => {
        const ok = await confirmDialog({ title: 'Delete ' + u.userName + '?', text: 'The user and all of their tokens are deleted, and they no longer own any service account. This cannot be undone.', action: 'Delete user' });
        if (!ok) return;
        try { await del(path); toast('Deleted ' + u.userName + '.'); } catch (e) { toast(e.message); }
        refresh();
      } },
    ]);
  };
  const columns = [
    { label: 'User', cell: (u) => u.userName },
    { label: 'Email', cell: (u) => u.email },
    { label: 'Roles', cell: (u) => [(u.roles || []).join(', '), u.admin ? h('span', { class: 'badge info' }, 'Administrator') : null] },
    { label: 'Status', cell: (u) => badge(u.status) },
    { label: 'Created', cell: (u) => fmtTime(u.createdAt) },
    { label: 'Actions', cell: actions },
  ];
  page(view, 'Users',
    h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'primary', id: 'new-user', onclick: create }, 'New user'),
      h('a', { class: 'button secondary', href: '#/all-tokens' }, 'All tokens')),
    table('Users', columns, items, (u) => ({ dataset: { user: u.userName } })));
}
