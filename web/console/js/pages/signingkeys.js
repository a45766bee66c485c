// JWT signing keys (administrators): public facts only.
import { h, fmtTime } from '../dom.js';
import { get } from '../api.js';
import { badge, table, page, errorBox, notAvailable } from '../ui.js';

export async function signingKeysPage(view) {
  let items;
  try {
    items = (await get('/signing-keys')).items;
  } catch (e) {
    page(view, 'Signing keys', e.status === 404 ? notAvailable('Listing signing keys') : errorBox(e));
    return;
  }
  const columns = [
    { label: 'Key ID (kid)', cell: (k) => h('code', { class: 'kid' }, k.kid) },
    { label: 'Algorithm', cell: (k) => k.alg },
    { label: 'State', cell: (k) => badge(k.state) },
    { label: 'Created', cell: (k) => fmtTime(k.createdAt) },
    { label: 'Signs from', cell: (k) => fmtTime(k.activatedAt || k.activateAt) },
    { label: 'Retired', cell: (k) => fmtTime(k.retiredAt) },
    { label: 'Leaves JWKS', cell: (k) => fmtTime(k.removeAfter) },
  ];
  page(view, 'Signing keys',
    h('p', {}, 'The keys that sign tokens, as verifiers see them at ', h('a', { href: '/keys' }, '/keys'),
      '. Rotate them with ', h('code', {}, 'tokenwright keys rotate'), '.'),
    table('Signing keys', columns, items, (k) => ({ dataset: { kid: k.kid } })));
}
