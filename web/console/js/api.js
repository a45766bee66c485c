// The admin API client. The token lives in this module's memory only (not
// localStorage, not a cookie): a reload signs the user out, and no other
// page can ride on an ambient credential, so there is no CSRF surface.

let token = '';

export function setToken(t) { token = t; }
export function hasToken() { return token !== ''; }

// ApiError carries the API's {"error": code, "message": text} and the status.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  // missingEndpoint is true when the server does not have the route at all
  // (an older or differently built server), as opposed to a missing resource.
  get missingEndpoint() {
    return this.status === 404 && this.message === 'no such endpoint';
  }
}

let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

// call sends one request to /api/v1 and returns the decoded JSON (or null).
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The server could not be reached (' + e.message + ').');
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const code = (data && data.error) || 'http_' + resp.status;
    const msg = (data && data.message) || 'The server answered HTTP ' + resp.status + '.';
    const err = new ApiError(resp.status, code, msg);
    if (resp.status === 401 && token) onUnauthenticated(err);
    throw err;
  }
  return data;
}

export const get = (p) => call('GET', p);
export const post = (p, b) => call('POST', p, b);
export const patch = (p, b) => call('PATCH', p, b);
export const del = (p) => call('DELETE', p);

// seg encodes one path segment.
export const seg = encodeURIComponent;

// pageSize is the most a paged list (/tokens, /users/NAME/tokens, /audit)
// returns at once.
export const pageSize = 1000;

// getAll follows a paged list (?limit, ?before=<last id>) to its end; for
// lists that are bounded anyway (one user's tokens, under the quota).
export async function getAll(path) {
  const sep = path.includes('?') ? '&' : '?';
  let items = [];
  let before = '';
  for (;;) {
    const page = (await get(path + sep + 'limit=' + pageSize + (before ? '&before=' + seg(before) : ''))).items;
    items = items.concat(page);
    if (page.length < pageSize) return items;
    before = page[page.length - 1].id;
  }
}
