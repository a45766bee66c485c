// The admin API client. It signs in one of two ways:
//   - a console session (single sign-on): the HttpOnly session cookie,
//     sent with credentials: 'same-origin'; it survives a reload.
//   - a personal access token, kept in this module's memory only (not
//     localStorage, not a cookie) and sent as a bearer token with
//     credentials: 'omit'; a reload forgets it.
// Every call carries the CSRF header (server/sso/session.go): a session
// is accepted only with it, and with console.patSignIn: false the server
// knows a bearer token from the console by it too.

let token = '';
let session = false;

export const csrfHeader = 'X-Tokenwright-Csrf';

export function setToken(t) { token = t; session = false; }
export function setSession(on) { session = on; if (on) token = ''; }
export function hasToken() { return token !== '' || session; }
export function isSession() { return session; }

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
  const headers = { Accept: 'application/json', [csrfHeader]: '1' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store', credentials: token ? 'omit' : 'same-origin' };
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
    if (resp.status === 401 && hasToken()) onUnauthenticated(err);
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

// settings asks the server which sign-in the page offers (GET
// /ui/settings); an older server without it offers the PAT form only.
export async function settings() {
  try {
    const resp = await fetch('/ui/settings', { cache: 'no-store', credentials: 'omit' });
    if (resp.ok) return await resp.json();
  } catch { /* unreachable: the PAT form, which reports the failure */ }
  return { sso: false, patSignIn: true };
}

// sessionUser asks GET /users/me with the cookie and the CSRF header:
// { user } for a live session, {} when there is none (401), or
// { problem } when the server refused otherwise (a 403 for a mismatched
// Origin behind a proxy, a 503), so the page can say why.
export async function sessionUser() {
  let resp;
  try {
    resp = await fetch('/api/v1/users/me', { cache: 'no-store', credentials: 'same-origin',
      headers: { Accept: 'application/json', [csrfHeader]: '1' } });
  } catch (e) {
    return { problem: 'The server could not be reached (' + e.message + ').' };
  }
  if (resp.ok) return { user: await resp.json() };
  if (resp.status === 401) return {};
  let msg = 'The server answered HTTP ' + resp.status + '.';
  try { msg = (await resp.json()).message || msg; } catch { /* not JSON */ }
  return { problem: msg };
}

// endSession posts /ui/logout (the session cookie and the CSRF header;
// the browser adds Origin). The server answers 204 whether or not the
// session was still live, or 200 {"endSessionUrl"} when the provider
// offers RP-initiated logout: the page then sends the browser there so
// the provider's session ends too. Returns that URL or ''.
export async function endSession() {
  const resp = await fetch('/ui/logout', { method: 'POST', cache: 'no-store', credentials: 'same-origin', headers: { [csrfHeader]: '1' } });
  if (!resp.ok) throw new ApiError(resp.status, 'http_' + resp.status, 'Signing out failed (HTTP ' + resp.status + '); try again.');
  if (resp.status !== 200) return '';
  try {
    const url = (await resp.json()).endSessionUrl || '';
    return /^https?:\/\//.test(url) ? url : '';
  } catch { return ''; }
}
