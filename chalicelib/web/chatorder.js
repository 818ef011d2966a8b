// The order of chat lines: numbering the lines we send, and showing the stranger's in the order
// they were sent.
//
// API Gateway does not order one connection's invocations, so lines sent back to back can be
// relayed shuffled (1, 2, 0, 4, 3). Each line carries `seq`, the sender's own count in that room,
// which the server relays unchanged; the receiving page puts the lines back in that order.
//
// The count belongs to the room, not to the socket: a `resumed` room (same room code, after a
// drop) goes on counting where it stopped, on both pages. The stranger's page never left the
// room, so it still expects the next number; starting again from 0 would make it take the new
// lines for old ones and show them in whatever order they arrive. A new room (a new code) starts
// from 0.

// The largest `seq` the server accepts; the count wraps round to 0 after it.
export const SEQ_MAX = 2 ** 31 - 1;
// A line that arrives ahead of a missing one waits at most this long for it. A line may never
// come (the server refused it, say for the rate limit); then the gap is skipped.
export const GAP_WAIT_MS = 1_000;
// More lines than this waiting for one gap: stop waiting and show them.
const HELD_MAX = 100;

/** Numbers the lines we send: 0, 1, 2, … per room. */
export class LineNumbers {
  #room = null;
  #next = 0;

  /** The `seq` of our next line in room `code` (a room we have not counted in yet starts at 0). */
  peek(code) {
    if (code !== this.#room) {
      this.#room = code;
      this.#next = 0;
    }
    return this.#next;
  }

  /** The line numbered by the last peek() went out. */
  advance() {
    this.#next = this.#next >= SEQ_MAX ? 0 : this.#next + 1;
  }
}

/** Is `seq` a number the server could have relayed? Anything else is a line without one. */
function isSeq(seq) {
  return Number.isInteger(seq) && seq >= 0 && seq <= SEQ_MAX;
}

/**
 * Shows the stranger's lines of the current room in `seq` order. A line ahead of a missing one
 * is held until the gap fills or GAP_WAIT_MS has passed since it arrived; then the lines held
 * up to it are shown in order, and the gap is skipped. A line without `seq` (an older page), or
 * with one already shown or skipped, is shown at once: lines are reordered, never dropped.
 */
export class ChatOrder {
  #show;
  #waitMs;
  #room = null;
  #next = 0; // the seq we wait for
  #held = new Map(); // seq → [{ line, at }], for seq > #next
  #timer = null;

  /**
   * @param {(line: any) => void} show  puts one line on the page
   * @param {{ waitMs?: number }} [options]
   */
  constructor(show, { waitMs = GAP_WAIT_MS } = {}) {
    this.#show = show;
    this.#waitMs = waitMs;
  }

  /** We are in room `code` now; the same room again (resumed) keeps its count. */
  enter(code) {
    if (code === this.#room) return;
    this.flush();
    this.#room = code;
    this.#next = 0;
  }

  /** One line of the current room, with the `seq` it came with (if any). */
  add(seq, line) {
    if (!isSeq(seq) || seq < this.#next) {
      this.#show(line);
      return;
    }
    if (seq > this.#next) {
      const waiting = this.#held.get(seq) ?? [];
      waiting.push({ line, at: performance.now() });
      this.#held.set(seq, waiting);
      if (this.#held.size > HELD_MAX) this.flush();
      else this.#arm();
      return;
    }
    this.#show(line);
    this.#next = seq + 1;
    this.#drain();
  }

  /** Show every held line now, in order (the room is ending, or we give up waiting). */
  flush() {
    this.#release(Infinity);
  }

  // Show the held lines numbered up to `upTo`, skipping the gaps among them, then those that follow on.
  #release(upTo) {
    const due = [...this.#held.keys()].filter((seq) => seq <= upTo).sort((x, y) => x - y);
    for (const seq of due) {
      for (const { line } of this.#held.get(seq)) this.#show(line);
      this.#held.delete(seq);
      this.#next = seq + 1;
    }
    this.#drain();
  }

  // Show the held lines that follow on from #next without a gap.
  #drain() {
    while (this.#held.has(this.#next)) {
      for (const { line } of this.#held.get(this.#next)) this.#show(line);
      this.#held.delete(this.#next);
      this.#next += 1;
    }
    this.#arm();
  }

  // Wake up when the line that has waited longest is due.
  #arm() {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#held.size === 0) return;
    const oldest = Math.min(...[...this.#held.values()].flat().map((held) => held.at));
    const delay = Math.max(0, oldest + this.#waitMs - performance.now());
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  // Lines that waited long enough are shown, with every line numbered below them.
  #expire() {
    const now = performance.now();
    let upTo = -1;
    for (const [seq, waiting] of this.#held) {
      if (waiting.some((held) => now - held.at >= this.#waitMs)) upTo = Math.max(upTo, seq);
    }
    if (upTo >= 0) this.#release(upTo);
    else this.#arm();
  }
}
