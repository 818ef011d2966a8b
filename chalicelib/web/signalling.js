// The WebSocket to the server: JSON frames in and out, keep-alive pings, and reconnection
// with exponential back-off and jitter while the page wants to be connected.
import { withIdentity } from './identity.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
// A ping with no frame at all back within this long means the socket is dead without knowing it.
const PONG_TIMEOUT_MS = 20_000;

/** Delay before retry number `attempt` (0-based): doubling, capped, with "equal jitter". */
export function backoffDelay(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Events (all `CustomEvent`s, data in `detail`):
 *   open                        the socket is open; register now
 *   message  {event, ...}       one server event, parsed
 *   close    {retryInMs, code, everOpened}  the socket closed; `retryInMs` is null when no retry
 *                              follows; `everOpened` is false while no socket has opened since connect()
 */
export class Signalling extends EventTarget {
  #url;
  #pingIntervalMs;
  #socket = null;
  #wanted = false;
  #everOpened = false;
  #attempt = 0;
  #retryTimer = null;
  #pingTimer = null;
  #pongTimer = null;

  constructor(url, { pingIntervalMs }) {
    super();
    this.#url = url;
    this.#pingIntervalMs = pingIntervalMs;
    // Coming back online is the best moment to retry; do not wait out the back-off.
    window.addEventListener('online', () => {
      if (this.#wanted && this.#retryTimer !== null) this.#retryNow();
    });
  }

  get isOpen() {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** Connect, and keep reconnecting after drops until close() is called. */
  connect() {
    if (!this.#wanted) this.#everOpened = false;
    this.#wanted = true;
    if (!this.#socket && this.#retryTimer === null) this.#open();
  }

  /** Drop the current socket and open a fresh one at once (the server forgot this connection). */
  reconnect() {
    this.#attempt = 0;
    if (this.#socket) this.#abandon(4000, 'reconnect');
    else if (this.#wanted) this.#retryNow();
  }

  /** Close for good: no more retries. */
  close() {
    this.#wanted = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    // Forget the socket now, so a connect() right after this one opens a fresh socket.
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, 'bye');
  }

  /** Send one message; false when the socket is not open (the caller decides what that means). */
  send(message) {
    if (!this.isOpen) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  #open() {
    this.#retryTimer = null;
    const socket = new WebSocket(withIdentity(this.#url));
    this.#socket = socket;
    socket.addEventListener('open', () => {
      this.#everOpened = true;
      this.#startPinging();
      this.#emit('open');
    });
    socket.addEventListener('message', (msg) => this.#receive(msg.data));
    socket.addEventListener('close', (event) => this.#closed(socket, event.code));
  }

  #receive(text) {
    clearTimeout(this.#pongTimer);
    this.#attempt = 0; // the server answers: the connection works, so the next drop starts afresh
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      console.warn('Ignoring a frame that is not JSON', text);
      return;
    }
    if (event && typeof event.event === 'string') this.#emit('message', event);
  }

  #closed(socket, code) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    let retryInMs = null;
    if (this.#wanted) {
      retryInMs = code === 4000 ? 0 : backoffDelay(this.#attempt);
      this.#attempt += 1;
      this.#retryTimer = setTimeout(() => this.#open(), retryInMs);
    }
    this.#emit('close', { retryInMs, code, everOpened: this.#everOpened });
  }

  // Treat the socket as closed now: a dead TCP connection can take minutes to report it.
  #abandon(code, reason) {
    const socket = this.#socket;
    if (!socket) return;
    this.#closed(socket, code);
    socket.close(code, reason);
  }

  #retryNow() {
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  #startPinging() {
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      if (!this.send({ action: 'ping' })) return;
      clearTimeout(this.#pongTimer);
      this.#pongTimer = setTimeout(() => this.#abandon(4001, 'no pong'), PONG_TIMEOUT_MS);
    }, this.#pingIntervalMs);
  }

  #emit(type, detail = null) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
