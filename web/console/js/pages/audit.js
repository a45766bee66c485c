// The audit trail (administrators), with the API's filters and paging.
import { h, fmtTime } from '../dom.js';
import { get } from '../api.js';
import { badge, table, page, errorBox } from '../ui.js';

const filters = [
  ['actor', 'Actor', 'alice'],
  ['action', 'Action', 'key.* or key.revoke'],
  ['target', 'Target', 'ci-bot'],
  ['since', 'Since', ''],
  ['until', 'Until', ''],
];

export async function auditPage(view, me, params) {
  const inputs = {};
  const form = h('form', { class: 'filters', id: 'audit-filters', role: 'search' },
    filters.map(([name, label, ph]) => {
      const input = h('input', { id: 'audit-' + name, name, type: name === 'since' || name === 'until' ? 'datetime-local' : 'text', placeholder: ph, autocomplete: 'off' });
      const v = params.get(name) || '';
      input.value = (name === 'since' || name === 'until') && v ? v.slice(0, 16) : v;
      inputs[name] = input;
      return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
    }),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'primary' }, 'Filter')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) {
      let v = input.value.trim();
      if (!v) continue;
      // datetime-local is the viewer's local time; the API wants RFC 3339.
      if (name === 'since' || name === 'until') v = new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z');
      q.set(name, v);
    }
    location.hash = '#/audit' + (q.toString() ? '?' + q : '');
  });
  const q = new URLSearchParams(params);
  q.set('limit', '50');
  let items;
  try {
    items = (await get('/audit?' + q)).items;
  } catch (e) {
    page(view, 'Audit log', form, errorBox(e));
    return;
  }
  const details = (ev) => {
    const d = ev.details || {};
    const keys = Object.keys(d);
    return keys.length ? h('ul', { class: 'kv' }, keys.map((k) => h('li', {}, k + ': ' + d[k]))) : '';
  };
  const columns = [
    { label: 'Time', cell: (ev) => fmtTime(ev.time) },
    { label: 'Actor', cell: (ev) => ev.actor || '—' },
    { label: 'Action', cell: (ev) => h('code', {}, ev.action) },
    { label: 'Target', cell: (ev) => ev.target || '' },
    { label: 'Result', cell: (ev) => badge(ev.result) },
    { label: 'Source', cell: (ev) => ev.sourceIp || '' },
    { label: 'Details', cell: details },
  ];
  let more = null;
  if (items.length === 50) {
    const next = new URLSearchParams(params);
    next.set('before', items[items.length - 1].id);
    more = h('p', {}, h('a', { class: 'button secondary', href: '#/audit?' + next }, 'Older events'));
  }
  page(view, 'Audit log', form,
    items.length ? table('Audit events, newest first', columns, items) : h('p', { class: 'empty' }, 'No events match.'), more);
}
