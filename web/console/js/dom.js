// Tiny DOM helpers. Everything the console shows from the API goes through
// text nodes (h() children, textContent): never innerHTML, because account
// names, descriptions and claims are user input.

// h builds an element: h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value') {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear removes all children.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// fmtTime shows an API time as "2026-11-23 12:34 UTC": the same for every
// viewer, whatever their locale, so screenshots and support chats agree.
export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

// list splits a comma- or newline-separated field into trimmed items.
export function list(s) {
  return String(s || '').split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
}
