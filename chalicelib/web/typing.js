// "Stranger is typing…": telling the stranger that we type, and showing that they do.

// The server allows `typing` in bursts of 10 at 2 per second; one every 2 s while typing is plenty,
// and it keeps the stranger's indicator on because that stays up for 3 s after each one.
export const TYPING_SEND_INTERVAL_MS = 2_000;
export const TYPING_SHOW_MS = 3_000;
// The server relays messages concurrently, so a `typing` sent just before a chat message (a
// short message typed fast) can arrive just after it. One that close behind a message is taken
// as part of that message; the window is short so that typing the next message still shows.
const TYPING_AFTER_MESSAGE_MS = 300;

/** Sends `typing` at most once every TYPING_SEND_INTERVAL_MS while the user types. */
export class TypingNotifier {
  #send;
  #lastSent = -Infinity;

  /** @param {() => boolean} send  puts one `typing` on the socket; false when it could not */
  constructor(send) {
    this.#send = send;
  }

  /** The user changed the message box. */
  typed() {
    const now = performance.now();
    if (now - this.#lastSent < TYPING_SEND_INTERVAL_MS) return;
    if (this.#send()) this.#lastSent = now;
  }

  /** A message went out (or a new chat began): the next keystroke is news again. */
  reset() {
    this.#lastSent = -Infinity;
  }
}

/** The line under the chat log that says the stranger is typing. */
export class TypingIndicator {
  #line;
  #text;
  #timer = null;
  #messageAt = -Infinity;

  constructor(line, text) {
    this.#line = line;
    this.#text = text;
  }

  get shown() {
    return this.#line.dataset.active === 'true';
  }

  /** The stranger sent `typing`. */
  show(name) {
    if (performance.now() - this.#messageAt < TYPING_AFTER_MESSAGE_MS) return;
    const text = `${name} is typing…`;
    if (this.#text.textContent !== text) this.#text.textContent = text;
    this.#line.dataset.active = 'true';
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.hide(), TYPING_SHOW_MS);
  }

  /** Their message arrived: the typing it announced is over. */
  messageArrived() {
    this.#messageAt = performance.now();
    this.hide();
  }

  hide() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#line.dataset.active = 'false';
    // Empty while hidden, so each time it appears the live region announces it once.
    this.#text.textContent = '';
  }
}
