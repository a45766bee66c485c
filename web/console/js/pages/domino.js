// Domino setup: the guided configuration for a site and an account, as the
// server's /domino/setup API produces it (the console adds no rules).
import { h } from '../dom.js';
import { get } from '../api.js';
import { page, errorBox, notAvailable } from '../ui.js';

export async function dominoPage(view, me, params) {
  let accounts = [];
  try { accounts = (await get('/service-accounts')).items; } catch { /* the form still works with a typed name */ }
  // Not required here: a server with configured domino.sites has a default,
  // and otherwise the API explains what is missing.
  const site = h('input', { id: 'domino-site', name: 'site', type: 'url', placeholder: 'https://domino.example.com', autocomplete: 'off' });
  site.value = params.get('site') || '';
  const account = h('select', { id: 'domino-account', name: 'account' },
    h('option', { value: '' }, '(all accounts with the Domino profile)'),
    accounts.map((a) => h('option', { value: a.userName, selected: a.userName === params.get('account') }, a.userName)));
  const form = h('form', { class: 'filters', id: 'domino-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'domino-site' }, 'Domino site URL'), site),
    h('div', { class: 'field' }, h('label', { for: 'domino-account' }, 'Service account'), account),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'primary' }, 'Show setup')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ run: '1' });
    if (site.value.trim()) q.set('site', site.value.trim());
    if (account.value) q.set('account', account.value);
    location.hash = '#/domino?' + q;
  });
  const out = h('div', { id: 'domino-output' });
  if (params.get('run')) {
    const q = new URLSearchParams();
    for (const k of ['site', 'account']) if (params.get(k)) q.set(k, params.get(k));
    try {
      const setup = await get('/domino/setup?' + q);
      for (const s of setup.sections || []) {
        const pre = h('pre', { class: 'config', tabindex: '0', 'aria-label': s.title }, s.content);
        const status = h('span', { class: 'copied', role: 'status' });
        const copy = h('button', { type: 'button', class: 'secondary', onclick: async () => {
          try { await navigator.clipboard.writeText(s.content); status.textContent = 'Copied.'; } catch { status.textContent = 'Select the text to copy it.'; }
        } }, 'Copy');
        out.append(h('section', { class: 'panel', dataset: { section: s.id } },
          h('h2', {}, s.title), h('p', {}, 'Where: ', s.where), pre, h('div', { class: 'toolbar' }, copy, status)));
      }
    } catch (e) {
      out.append(e.missingEndpoint ? notAvailable('The guided Domino setup') : errorBox(e));
    }
  }
  page(view, 'Domino setup',
    h('p', {}, 'What to paste into Domino so that it trusts tokens from this server, for one site and optionally one service account.'),
    form, out);
}
