// The credential table shared by service-account keys and personal access
// tokens: the same columns, badges, menus and dialogs for both.
import { h, fmtTime, list } from './dom.js';
import { get, getAll, post, del } from './api.js';
import { badge, table, rowMenu, confirmDialog, formDialog, revealDialog, toast, errorBox } from './ui.js';

const DAY = 86400;
// Expiry choices; "" leaves it to the server's default (keys.defaultLifetime).
export const expiryChoices = [
  ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days'], ['', 'Server default (usually 120 days)'],
  ['365d', '1 year'], ['never', 'No expiry (if the server allows it)'],
];

export function expiryBody(choice) {
  if (choice === 'never') return { neverExpires: true };
  if (choice === '') return {};
  return { expiresIn: parseInt(choice, 10) * DAY };
}

// allowed describes an owner's allowed list for a hint.
const allowed = (l) => (l && l.length ? l.join(', ') : 'the server defaults');

// keyPanel renders the table and the toolbar for one set of credentials.
//   kind: 'key' (service-account API key) or 'token' (personal access token)
//   base: API path of the collection (/service-accounts/x/keys, /users/x/tokens)
//   clientId: shown in the reveal dialog (the client_id to use with the secret)
//   canCreate: whether to offer "New …"
//   owner: for tokens, the user (GET /users/…): the create dialog offers to
//     narrow the token within the allowed lists an administrator set
export async function keyPanel({ kind, base, clientId, canCreate = true, title, owner }) {
  const noun = kind === 'key' ? 'key' : 'token';
  const section = h('section', { class: 'panel', 'aria-labelledby': 'keys-title' });
  const reload = async () => {
    const fresh = await keyPanel({ kind, base, clientId, canCreate, title, owner });
    section.replaceWith(fresh);
  };
  let items;
  try {
    // A user's tokens are paged by the API but bounded by the quota.
    items = kind === 'token' ? await getAll(base) : (await get(base)).items;
  } catch (e) {
    section.append(h('h2', { id: 'keys-title' }, title), errorBox(e));
    return section;
  }
  const create = async () => {
    const created = await formDialog({
      id: 'create-key', title: kind === 'key' ? 'New API key' : 'New personal access token',
      fields: [
        { name: 'name', label: 'Name', required: true, hint: kind === 'key' ? 'A label, e.g. the job that uses it.' : 'Letters, digits, dots and dashes; unique among your tokens.' },
        { name: 'description', label: 'Description', type: 'textarea', rows: 2 },
        { name: 'expiry', label: 'Expires in', type: 'select', options: expiryChoices, value: '90d' },
        ...(owner ? [
          { name: 'scopes', label: 'Scopes (optional)', hint: 'Comma-separated; empty: all you may use. Allowed: ' + allowed(owner.allowedScopes) },
          { name: 'audiences', label: 'Audiences (optional)', hint: 'Comma-separated; empty: all you may use. Allowed: ' + allowed(owner.allowedAudiences) },
        ] : []),
      ],
      submitLabel: 'Create ' + noun,
      submit: (v) => post(base, { name: v.name.trim(), description: v.description.trim() || undefined, ...expiryBody(v.expiry),
        scopes: owner && list(v.scopes).length ? list(v.scopes) : undefined,
        audiences: owner && list(v.audiences).length ? list(v.audiences) : undefined }),
    });
    if (!created) return;
    if (created.clientSecret) {
      await revealDialog({ title: (kind === 'key' ? 'API key ' : 'Token ') + created.name + ' created', secret: created.clientSecret, clientId });
    }
    toast('Created ' + noun + ' ' + created.name + '.');
    await reload();
  };
  const act = (k) => {
    const path = base + '/' + encodeURIComponent(k.id);
    const items = [];
    if (kind === 'key' && k.status !== 'revoked' && k.authMethod !== 'private_key_jwt') {
      items.push({ label: 'Rotate', action: async () => {
        const rotated = await formDialog({
          id: 'rotate-key', title: 'Rotate ' + k.name,
          intro: 'A new secret is issued. The current one keeps working for the grace period, then stops on its own.',
          fields: [{ name: 'grace', label: 'Old secret keeps working for', type: 'select', value: '86400',
            options: [['0', 'No time: stop it now'], ['3600', '1 hour'], ['86400', '24 hours'], ['604800', '7 days']] }],
          submitLabel: 'Rotate key',
          submit: (v) => post(path + ':rotate', { gracePeriod: parseInt(v.grace, 10) }),
        });
        if (!rotated) return;
        await revealDialog({ title: 'New secret for ' + k.name, secret: rotated.clientSecret, clientId });
        await reload();
      } });
    }
    if (k.status !== 'revoked') {
      items.push({ label: 'Revoke', danger: true, action: async () => {
        const ok = await confirmDialog({ title: 'Revoke ' + k.name + '?',
          text: 'Programs using this ' + noun + ' stop getting tokens at once. It stays listed as revoked. This cannot be undone.',
          action: 'Revoke ' + noun });
        if (!ok) return;
        try { await post(path + ':revoke'); toast('Revoked ' + k.name + '.'); } catch (e) { toast(e.message); }
        await reload();
      } });
    }
    items.push({ label: 'Delete', danger: true, action: async () => {
      const ok = await confirmDialog({ title: 'Delete ' + k.name + '?',
        text: 'The ' + noun + ' is removed for good (the audit trail keeps its history). Programs using it stop getting tokens at once.',
        action: 'Delete ' + noun });
      if (!ok) return;
      try { await del(path); toast('Deleted ' + k.name + '.'); } catch (e) { toast(e.message); }
      await reload();
    } });
    return rowMenu('Actions for ' + k.name, items);
  };
  const revokeAll = async () => {
    const ok = await confirmDialog({ title: 'Revoke all ' + noun + 's?',
      text: 'Every ' + noun + ' listed here is revoked at once; programs using them stop getting tokens. This cannot be undone.',
      action: 'Revoke all' });
    if (!ok) return;
    try { const r = await post(base + ':revokeAll'); toast('Revoked ' + r.revoked + ' ' + noun + '(s).'); } catch (e) { toast(e.message); }
    await reload();
  };
  const toolbar = h('div', { class: 'toolbar' },
    canCreate ? h('button', { type: 'button', class: 'primary', id: 'new-key', onclick: create }, kind === 'key' ? 'New key' : 'New token') : null,
    items.some((k) => k.status !== 'revoked')
      ? h('button', { type: 'button', class: 'danger-outline', id: 'revoke-all', onclick: revokeAll }, 'Revoke all') : null);
  const columns = [
    { label: 'Name', cell: (k) => [h('span', { class: 'key-name' }, k.name), k.description ? h('div', { class: 'desc' }, k.description) : null] },
    { label: 'Created', cell: (k) => fmtTime(k.createdAt) },
    { label: 'Expires', cell: (k) => (k.expiresAt ? fmtTime(k.expiresAt) : 'Never') },
    { label: 'Last used', cell: (k) => (k.lastUsedAt ? [fmtTime(k.lastUsedAt), k.lastUsedIp ? h('div', { class: 'desc' }, 'from ' + k.lastUsedIp) : null] : 'Never') },
    { label: 'Status', cell: (k) => badge(k.status) },
    { label: 'Actions', cell: act },
  ];
  section.append(h('h2', { id: 'keys-title' }, title), toolbar,
    items.length
      ? table(title, columns, items, (k) => ({ dataset: { key: k.name, id: k.id } }))
      : h('p', { class: 'empty' }, 'No ' + noun + 's yet.'));
  return section;
}
