// One service account: its settings (administrators may edit them), its
// keys and its federation rules (administrators and owners manage them).
import { h } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { badge, page, errorBox, formDialog, confirmDialog, toast } from '../ui.js';
import { keyPanel } from '../keys.js';
import { federationPanel } from '../federation.js';
import { accountFields, accountBody } from './accounts.js';
import { navigate, refresh } from '../router.js';

export async function accountPage(view, me, name) {
  const path = '/service-accounts/' + encodeURIComponent(name);
  let sa;
  try {
    sa = await get(path);
  } catch (e) {
    page(view, name, errorBox(e), h('p', {}, h('a', { href: '#/accounts' }, 'Back to service accounts')));
    return;
  }
  const row = (label, value) => [h('dt', {}, label), h('dd', {}, value === '' || value === undefined ? '—' : value)];
  const join = (a) => (a && a.length ? a.join(', ') : '');
  const details = h('dl', { class: 'details', id: 'account-details' },
    row('Client ID', h('code', {}, sa.userName)),
    row('Status', badge(sa.status)),
    row('Email', sa.email),
    row('Notes name', sa.notesName || ''),
    row('Description', h('span', { id: 'account-description' }, sa.description || '')),
    row('Roles', join(sa.roles)),
    row('Allowed scopes', join(sa.allowedScopes)),
    row('Allowed audiences', join(sa.allowedAudiences)),
    row('Allowed networks', join(sa.allowedCidrs) || 'any'),
    row('Owners', join(sa.owners)),
    row('Token lifetime', sa.tokenLifetime ? sa.tokenLifetime + ' s' : 'server default'),
    row('Token profile', sa.profile || 'domino'),
    row('Token type', h('span', { id: 'account-token-type' }, sa.tokenType || '')),
    row('Audience format', sa.audienceFormat || ''),
    row('Permissions', (sa.permissions || []).join(', ') || 'none'),
    row('Custom claims', sa.claims ? h('pre', { class: 'claims' }, JSON.stringify(sa.claims, null, 2)) : ''),
    row('Created', (sa.createdAt || '').slice(0, 10) + (sa.createdBy ? ' by ' + sa.createdBy : '')));

  let actions = null;
  if (me.admin) {
    const edit = async () => {
      const updated = await formDialog({ id: 'edit-account', title: 'Edit ' + sa.userName, fields: accountFields(sa, false),
        submitLabel: 'Save changes', submit: (v) => patch(path, accountBody(v, false, sa)) });
      if (updated) { toast('Saved ' + sa.userName + '.'); refresh(); }
    };
    const toggle = async () => {
      const deactivate = sa.status === 'active';
      if (deactivate) {
        const ok = await confirmDialog({ title: 'Deactivate ' + sa.userName + '?',
          text: 'The account gets no tokens until it is activated again. Its keys stay as they are.', action: 'Deactivate' });
        if (!ok) return;
      }
      try { await post(path + (deactivate ? ':deactivate' : ':activate')); } catch (e) { toast(e.message); }
      refresh();
    };
    const remove = async () => {
      const ok = await confirmDialog({ title: 'Delete ' + sa.userName + '?',
        text: 'The account and all of its keys are deleted. Programs using them stop getting tokens at once. This cannot be undone.',
        action: 'Delete account' });
      if (!ok) return;
      try {
        await del(path);
        toast('Deleted ' + sa.userName + '.');
        navigate('#/accounts');
      } catch (e) { toast(e.message); }
    };
    actions = h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'secondary', id: 'edit-account-button', onclick: edit }, 'Edit'),
      h('button', { type: 'button', class: 'secondary', id: 'toggle-account', onclick: toggle }, sa.status === 'active' ? 'Deactivate' : 'Activate'),
      h('button', { type: 'button', class: 'danger-outline', id: 'delete-account', onclick: remove }, 'Delete account'));
  }
  const domino = h('a', { class: 'button secondary', id: 'domino-link', href: '#/domino?account=' + encodeURIComponent(sa.userName) }, 'Domino setup');
  if (actions) actions.insertBefore(domino, actions.lastChild);
  else actions = h('div', { class: 'toolbar' }, domino);
  const keys = await keyPanel({ kind: 'key', base: path + '/keys', clientId: sa.userName, title: 'API keys' });
  const federation = await federationPanel({ base: path + '/federation', account: sa.userName });
  // Keys come first: they are what people come here for day to day.
  page(view, sa.userName, h('p', { class: 'crumb' }, h('a', { href: '#/accounts' }, '← Service accounts'), ' · ', sa.email, ' · ', badge(sa.status)),
    actions, keys, federation, h('section', { class: 'panel', 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title' }, 'Settings'), details));
}
