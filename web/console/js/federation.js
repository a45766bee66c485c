// The Federation panel of a service account: which external issuers' tokens
// (GitHub Actions, GitLab CI, Kubernetes, SPIFFE) act as the account with no
// stored secret. The rules are checked by the server (400 names the field);
// this panel only collects them. The CLI's presets (tokenwright sa
// federation add --github-repo …) pin a repository's numeric ids; here the
// claims are typed as they are.
import { h, fmtTime } from './dom.js';
import { get, post, del } from './api.js';
import { table, rowMenu, confirmDialog, formDialog, toast, errorBox } from './ui.js';

// parseClaims reads "key=value" lines; a key given on several lines
// accepts any of its values.
export function parseClaims(text) {
  const claims = {};
  for (const line of String(text || '').split('\n')) {
    const l = line.trim();
    if (!l) continue;
    const i = l.indexOf('=');
    if (i <= 0) throw new Error('Claims: write one key=value per line ("' + l + '" has no "=")');
    const k = l.slice(0, i).trim();
    (claims[k] = claims[k] || []).push(l.slice(i + 1).trim());
  }
  return claims;
}

// claimsText shows pinned claims as key=value, any-of values joined by " | ".
const claimsText = (claims) => Object.keys(claims || {}).sort()
  .map((k) => k + '=' + claims[k].join(' | '));

export async function federationPanel({ base, account }) {
  const section = h('section', { class: 'panel', id: 'federation', 'aria-labelledby': 'federation-title' });
  const reload = async () => section.replaceWith(await federationPanel({ base, account }));
  let rules;
  try {
    rules = (await get(base)).items;
  } catch (e) {
    section.append(h('h2', { id: 'federation-title' }, 'Federation'), errorBox(e));
    return section;
  }
  const create = async () => {
    const created = await formDialog({
      id: 'create-rule', title: 'New federation rule',
      intro: 'Tokens of the issuer that carry the audience and match the subject, every claim and the condition get ' +
        account + "'s tokens, with no stored secret. Pin immutable ids (repository_id, project_id), not names.",
      fields: [
        { name: 'name', label: 'Name', required: true, hint: 'Lowercase letters, digits, dots and dashes; unique on this account.' },
        { name: 'issuer', label: 'Issuer', required: true, placeholder: 'https://token.actions.githubusercontent.com' },
        { name: 'audience', label: 'Audience', hint: "Empty: this server's issuer URL." },
        { name: 'subject', label: 'Subject', placeholder: 'system:serviceaccount:ci:deployer' },
        { name: 'claims', label: 'Claims', type: 'textarea', rows: 3, hint: 'One key=value per line, e.g. repository_id=123456789; a key on several lines accepts any of its values.' },
        { name: 'condition', label: 'Condition (CEL)', type: 'textarea', rows: 2, hint: 'Over the map claims, e.g. claims.ref == "refs/heads/main"' },
        { name: 'jwksUri', label: 'JWKS URI', hint: "Empty: from the issuer's discovery document." },
        { name: 'maxTokenAge', label: 'Max token age (seconds)', type: 'number', hint: 'Refuse tokens issued longer ago; empty: no bound.' },
        { name: 'allowMissingJti', label: 'Accept tokens without jti (Kubernetes before 1.29, SPIFFE); needs a max token age', type: 'checkbox' },
      ],
      submitLabel: 'Add rule',
      submit: (v) => {
        const claims = parseClaims(v.claims);
        return post(base, {
          name: v.name.trim(), issuer: v.issuer.trim(), audience: v.audience.trim() || undefined,
          subject: v.subject.trim() || undefined, claims: Object.keys(claims).length ? claims : undefined,
          condition: v.condition.trim() || undefined, jwksUri: v.jwksUri.trim() || undefined,
          maxTokenAge: v.maxTokenAge.trim() ? parseInt(v.maxTokenAge, 10) : undefined,
          allowMissingJti: v.allowMissingJti || undefined,
        });
      },
    });
    if (!created) return;
    toast('Added federation rule ' + created.name + '.');
    await reload();
  };
  const act = (r) => rowMenu('Actions for ' + r.name, [{ label: 'Delete', danger: true, action: async () => {
    const ok = await confirmDialog({ title: 'Delete rule ' + r.name + '?',
      text: 'Tokens of ' + r.issuer + ' no longer act as ' + account + ' from now on.', action: 'Delete rule' });
    if (!ok) return;
    try { await del(base + '/' + encodeURIComponent(r.id)); toast('Deleted rule ' + r.name + '.'); } catch (e) { toast(e.message); }
    await reload();
  } }]);
  const matches = (r) => [
    r.subject ? h('div', {}, 'sub = ', h('code', {}, r.subject)) : null,
    ...claimsText(r.claims).map((c) => h('div', {}, h('code', {}, c))),
    r.condition ? h('div', {}, 'if ', h('code', {}, r.condition)) : null,
    r.maxTokenAge ? h('div', { class: 'desc' }, 'tokens at most ' + r.maxTokenAge + ' s old' + (r.allowMissingJti ? ', jti optional' : '')) : null,
  ];
  const columns = [
    { label: 'Name', cell: (r) => h('span', { class: 'rule-name' }, r.name) },
    { label: 'Issuer', cell: (r) => [h('code', {}, r.issuer), h('div', { class: 'desc' }, 'audience ' + r.audience)] },
    { label: 'Matches', cell: matches },
    { label: 'Last used', cell: (r) => (r.lastUsedAt ? fmtTime(r.lastUsedAt) : 'Never') },
    { label: 'Actions', cell: act },
  ];
  section.append(h('h2', { id: 'federation-title' }, 'Federation'),
    h('p', { class: 'hint' }, 'CI jobs and workloads that present their own OIDC token instead of a key.'),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'primary', id: 'new-rule', onclick: create }, 'New rule')),
    rules.length
      ? table('Federation rules', columns, rules, (r) => ({ dataset: { rule: r.name, id: r.id } }))
      : h('p', { class: 'empty' }, 'No federation rules yet.'));
  return section;
}
