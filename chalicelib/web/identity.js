// The anonymous device identity the server issued this browser: a random id and a signature,
// nothing about the person. It makes no-repeat, report blocks and rate limits follow this
// browser across reloads and Stop/Start instead of following a socket or a shared address. The
// server sends it (`identity`) when it has made a new one; the page presents it at every
// connect, in the URL, since a browser's WebSocket cannot carry other headers.

const KEY = 'rvc.identity';
const TOKEN_MAX_CHARS = 128;

function stored() {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return ''; // storage off (private mode, policy): each visit is a new device
  }
}

/** Keep the identity the server issued. */
export function keepIdentity(token) {
  if (typeof token !== 'string' || !token || token.length > TOKEN_MAX_CHARS) return;
  try {
    localStorage.setItem(KEY, token);
  } catch {
    // As above: it lasts as long as this page.
  }
}

/** The socket URL with the identity, which API Gateway hands `$connect` as a query parameter. */
export function withIdentity(url) {
  const token = stored();
  if (!token) return url;
  const full = new URL(url, window.location.href);
  full.searchParams.set('id', token);
  return full.toString();
}
