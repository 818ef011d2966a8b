// Which room events belong to the room we are in, which are stale and which came early.
//
// Events that name a room are only for the current one: a late `peer-disconnected` from the
// previous stranger must not end the chat with the new one. An event for a room we have not
// entered yet is early, not stale: the stranger's offer is relayed by one server invocation
// while another is still posting our `matched`, so the offer can arrive first. It is held.

// Early events are held this long, at most this many.
const EARLY_EVENT_TTL_MS = 15_000;
const EARLY_EVENTS_MAX = 64;
// Rooms we have left, remembered so their late events are recognised as stale.
const PAST_ROOMS_MAX = 32;

export class RoomGate {
  #past = new Set();
  #early = []; // [{ event, at }]

  /** We left room `code`: anything still arriving for it is stale. */
  leave(code) {
    this.#past.add(code);
    if (this.#past.size > PAST_ROOMS_MAX) this.#past.delete(this.#past.values().next().value);
  }

  /** An event for a room that is not (yet) ours: hold it unless it is for a room we left. */
  hold(event) {
    const code = event.room_code;
    if (typeof code !== 'string' || this.#past.has(code)) return;
    const now = Date.now();
    this.#early = this.#early.filter((held) => now - held.at < EARLY_EVENT_TTL_MS).slice(-(EARLY_EVENTS_MAX - 1));
    this.#early.push({ event, at: now });
  }

  /** The held events of room `code`, in arrival order; they are no longer held. */
  take(code) {
    const now = Date.now();
    const mine = this.#early.filter((held) => held.event.room_code === code && now - held.at < EARLY_EVENT_TTL_MS);
    this.#early = this.#early.filter((held) => held.event.room_code !== code);
    return mine.map((held) => held.event);
  }

  /** Stop: nothing early is worth keeping. */
  clear() {
    this.#early = [];
  }
}
