// Shared widgets: badges, tables, dialogs (native <dialog>: focus trap,
// Escape and inert background come from the browser), row menus, toasts.
import { h, clear } from './dom.js';

const keyStatus = {
  active: ['Active', 'ok'],
  expiring_soon: ['Expiring soon', 'warn'],
  expired: ['Expired', 'bad'],
  revoked: ['Revoked', 'bad'],
  inactive: ['Inactive', 'muted'],
  pending: ['Pending', 'info'],
  retired: ['Retired', 'muted'],
  success: ['Success', 'ok'],
  denied: ['Denied', 'bad'],
  failure: ['Failure', 'bad'],
};

// badge shows a status in words (colour is a hint only, never the message).
export function badge(status) {
  const [label, tone] = keyStatus[status] || [status, 'muted'];
  return h('span', { class: 'badge ' + tone, dataset: { status } }, label);
}

// table renders rows with a caption (for screen readers) and a scroll
// wrapper, so a wide table scrolls inside itself on a narrow screen.
export function table(caption, columns, rows, rowAttrs) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)));
  const body = rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {},
    columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r)))));
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', {}, h('caption', { class: 'sr-only' }, caption), h('thead', {}, head), h('tbody', {}, body)));
}

// errorBox shows an API error in words.
export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, describe(err));
}

export function describe(err) {
  if (!err) return '';
  if (err.status === 403) return 'You are not allowed to do this. (' + err.message + ')';
  return err.message || String(err);
}

let toastTimer;
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

function openDialog(dialog) {
  document.body.appendChild(dialog);
  dialog.addEventListener('close', () => dialog.remove());
  dialog.showModal();
  return dialog;
}

// confirmDialog asks before a destructive action; it resolves to true only
// when the user presses the action button.
export function confirmDialog({ title, text, action, danger = true }) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'secondary', value: 'cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'danger' : 'primary', value: 'ok' }, action);
    const d = h('dialog', { class: 'dialog', role: 'alertdialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text', id: 'confirm-dialog' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', { id: 'confirm-text' }, text),
      h('div', { class: 'actions' }, cancel, ok));
    let answer = false;
    cancel.addEventListener('click', () => d.close());
    ok.addEventListener('click', () => { answer = true; d.close(); });
    d.addEventListener('close', () => resolve(answer));
    openDialog(d);
    cancel.focus(); // the safe choice has the focus
  });
}

// formDialog shows fields in a dialog; submit(values) runs the API call and
// either resolves (dialog closes) or throws (error shown, dialog stays).
export function formDialog({ id, title, intro, fields, submitLabel, submit }) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'error', role: 'alert' });
    const inputs = {};
    const rows = fields.map((f) => {
      const fid = id + '-' + f.name;
      let input;
      if (f.type === 'select') {
        input = h('select', { id: fid, name: f.name },
          f.options.map(([v, label]) => h('option', { value: v, selected: v === f.value }, label)));
      } else if (f.type === 'textarea') {
        input = h('textarea', { id: fid, name: f.name, rows: f.rows || 3, spellcheck: 'false' });
        input.value = f.value || '';
      } else if (f.type === 'checkbox') {
        input = h('input', { id: fid, name: f.name, type: 'checkbox', checked: !!f.value });
      } else {
        input = h('input', { id: fid, name: f.name, type: f.type || 'text', autocomplete: 'off', spellcheck: 'false',
          required: f.required, readonly: f.readonly, placeholder: f.placeholder });
        input.value = f.value || '';
      }
      inputs[f.name] = input;
      const hint = f.hint ? h('small', { id: fid + '-hint', class: 'hint' }, f.hint) : null;
      if (hint) input.setAttribute('aria-describedby', hint.id);
      const cls = f.type === 'checkbox' ? 'field check' : 'field';
      return f.type === 'checkbox'
        ? h('div', { class: cls }, input, h('label', { for: fid }, f.label), hint)
        : h('div', { class: cls }, h('label', { for: fid }, f.label, f.required ? h('span', { 'aria-hidden': 'true' }, ' *') : null), input, hint);
    });
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const ok = h('button', { type: 'submit', class: 'primary' }, submitLabel);
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: id + '-title' }, title), intro ? h('p', {}, intro) : null, rows, error,
      h('div', { class: 'actions' }, cancel, ok));
    const d = h('dialog', { class: 'dialog', id, 'aria-labelledby': id + '-title' }, form);
    let result;
    cancel.addEventListener('click', () => d.close());
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const values = {};
      for (const [k, el] of Object.entries(inputs)) values[k] = el.type === 'checkbox' ? el.checked : el.value;
      ok.disabled = true;
      error.textContent = '';
      try {
        result = await submit(values);
        d.close();
      } catch (e) {
        error.textContent = describe(e);
      } finally {
        ok.disabled = false;
      }
    });
    d.addEventListener('close', () => resolve(result));
    openDialog(d);
    const first = form.querySelector('input:not([readonly]),select,textarea');
    if (first) first.focus();
  });
}

// revealDialog shows a new secret exactly once, with a copy button.
export function revealDialog({ title, secret, clientId }) {
  return new Promise((resolve) => {
    const input = h('input', { id: 'reveal-secret', class: 'secret', type: 'text', readonly: true, value: secret,
      'aria-describedby': 'reveal-warning', spellcheck: 'false', autocomplete: 'off' });
    const status = h('span', { class: 'copied', role: 'status', 'aria-live': 'polite' });
    const copy = h('button', { type: 'button', class: 'secondary', id: 'reveal-copy' }, 'Copy');
    copy.addEventListener('click', async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(secret);
        status.textContent = 'Copied.';
      } catch {
        status.textContent = 'Select the text and copy it with your keyboard.';
      }
    });
    const done = h('button', { type: 'button', class: 'primary', id: 'reveal-done' }, 'Done');
    const d = h('dialog', { class: 'dialog', id: 'reveal-dialog', 'aria-labelledby': 'reveal-title' },
      h('h2', { id: 'reveal-title' }, title),
      h('p', { class: 'notice', id: 'reveal-warning', role: 'note' },
        h('strong', {}, 'Copy this secret now. You will not see it again: '),
        'tokenwright stores only a hash of it. If it is lost, rotate the key or create a new one.'),
      clientId ? h('p', {}, 'Client ID: ', h('code', { id: 'reveal-client-id' }, clientId)) : null,
      h('label', { for: 'reveal-secret' }, 'Secret'),
      h('div', { class: 'copyrow' }, input, copy), status,
      h('div', { class: 'actions' }, done));
    done.addEventListener('click', () => d.close());
    d.addEventListener('close', () => { input.value = ''; resolve(); });
    openDialog(d);
    input.focus();
    input.select();
  });
}

// rowMenu is a menu button (WAI-ARIA menu pattern): Enter/Space/ArrowDown
// opens it, arrows move, Escape closes and returns focus to the button.
export function rowMenu(label, items) {
  const usable = items.filter(Boolean);
  const button = h('button', { type: 'button', class: 'menu-button secondary', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label },
    'Actions ', h('span', { 'aria-hidden': 'true' }, '▾'));
  const menu = h('ul', { role: 'menu', class: 'menu', hidden: true, 'aria-label': label });
  const entries = usable.map((it) => {
    const b = h('button', { type: 'button', role: 'menuitem', tabindex: '-1', class: it.danger ? 'danger-text' : '' }, it.label);
    b.addEventListener('click', () => { close(false); it.action(); });
    menu.appendChild(h('li', { role: 'none' }, b));
    return b;
  });
  const wrap = h('div', { class: 'menu-wrap' }, button, menu);
  // The menu is position: fixed next to its button, so the table's scroll
  // box cannot clip it; it closes when the page scrolls away from it.
  function place() {
    const r = button.getBoundingClientRect();
    const w = menu.offsetWidth;
    const h = menu.offsetHeight;
    const below = r.bottom + 4 + h <= window.innerHeight;
    menu.style.top = (below ? r.bottom + 4 : Math.max(4, r.top - 4 - h)) + 'px';
    menu.style.left = Math.max(4, Math.min(r.right - w, window.innerWidth - w - 4)) + 'px';
  }
  function open(focusLast) {
    menu.hidden = false;
    place();
    button.setAttribute('aria-expanded', 'true');
    (focusLast ? entries[entries.length - 1] : entries[0]).focus();
    document.addEventListener('pointerdown', outside, true);
    window.addEventListener('scroll', onScroll, true);
    window.addEventListener('resize', onScroll);
  }
  function close(refocus = true) {
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    window.removeEventListener('scroll', onScroll, true);
    window.removeEventListener('resize', onScroll);
    if (refocus) button.focus();
  }
  function onScroll() { close(false); }
  function outside(ev) { if (!wrap.contains(ev.target)) close(false); }
  button.addEventListener('click', () => (menu.hidden ? open(false) : close()));
  button.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') { ev.preventDefault(); open(false); }
    if (ev.key === 'ArrowUp') { ev.preventDefault(); open(true); }
  });
  menu.addEventListener('keydown', (ev) => {
    const i = entries.indexOf(document.activeElement);
    if (ev.key === 'ArrowDown') { ev.preventDefault(); entries[(i + 1) % entries.length].focus(); }
    else if (ev.key === 'ArrowUp') { ev.preventDefault(); entries[(i - 1 + entries.length) % entries.length].focus(); }
    else if (ev.key === 'Home') { ev.preventDefault(); entries[0].focus(); }
    else if (ev.key === 'End') { ev.preventDefault(); entries[entries.length - 1].focus(); }
    else if (ev.key === 'Escape' || ev.key === 'Tab') { if (ev.key === 'Escape') ev.preventDefault(); close(ev.key === 'Escape'); }
  });
  return usable.length ? wrap : h('span', { class: 'muted' }, '—');
}

// page replaces the view with a heading and content.
export function page(view, title, ...content) {
  clear(view);
  document.title = title + ' · tokenwright';
  view.appendChild(h('h1', { id: 'page-title', tabindex: '-1' }, title));
  for (const c of content) if (c) view.appendChild(c);
}

// notAvailable is shown when this server has no such API route.
export function notAvailable(what) {
  return h('p', { class: 'notice', role: 'status', id: 'not-available' },
    what + ' is not available on this server (its API answered 404). Upgrade tokenwright to use this page.');
}
