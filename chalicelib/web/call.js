// One RTCPeerConnection for one room: offer/answer by role, ICE candidates in short batches.

// `?ice=relay` in the page's address sends every packet through the TURN relay, as on a network
// where nothing else gets through: the relay tests use it, and so can anyone checking a relay.
const ICE_TRANSPORT_POLICY = new URLSearchParams(location.search).get('ice') === 'relay' ? 'relay' : 'all';

// Every frame is a billed message twice (to the server, then to the stranger), so candidates
// do not go one per frame. The offer or answer waits at most this long for gathering to finish,
// so that its SDP already carries the candidates found by then: host ones within milliseconds,
// server-reflexive ones a round trip to STUN later. Chromium finishes gathering host candidates
// in about 130 ms (it looks for TCP ones a step after UDP); where it finishes in time, no
// candidate frame follows at all.
export const GATHER_WAIT_MS = 200;
// Candidates found after the description went are sent together, this long after the first.
export const BATCH_WINDOW_MS = 50;
// The most the server takes in one `candidates` frame (protocol.CANDIDATES_MAX).
export const CANDIDATES_MAX = 32;

// What identifies a candidate line: foundation, component, transport, priority, address, port
// and type. The SDP copy leaves out the extensions the browser adds to the event's (ufrag).
function candidateKey(line) {
  return line.trim().split(/\s+/).slice(0, 8).join(' ');
}

/**
 * A call with the stranger in one room.
 *
 * The server relays an offer only from the initiator and an answer only from the responder;
 * the first signal also tells it we heard of the room, so nothing waits for a `join`. Our
 * candidates go in the description when they are found in time, else in `candidates` batches
 * (`{candidates, end}`, `end` once gathering is complete). Remote candidates that arrive before
 * the remote description wait in `#pending` (the server runs messages concurrently, so a batch
 * can overtake its offer).
 */
export class Call {
  #roomCode;
  #initiator;
  #send;
  #onStateChange;
  #mediaState;
  #channel;
  #transceivers = {};
  #tracks = {}; // what we send, by kind (null: nothing)
  #stream;
  #started = false;
  #closed = false;
  #pending = []; // remote candidates (null: their end) waiting for the remote description
  #unsent = []; // our candidates, not in a description we sent nor in a batch yet
  #described = null; // the candidates in the offer or answer we sent (a Set); later ones go in batches
  #gatheringDone = false;
  #batchTimer = null;
  #onGathered = null; // ends the wait of #describe once gathering is complete
  // Signals are applied one at a time, in arrival order, because each step is async.
  #chain = Promise.resolve();

  /**
   * @param {object} options
   * @param {string} options.roomCode
   * @param {boolean} options.initiator      this side makes the offer
   * @param {RTCIceServer[]} options.iceServers  as sent by the server
   * @param {MediaStream|null} options.localStream  null in text-only mode
   * @param {(message: object) => void} options.send  puts a client message on the WebSocket
   * @param {(stream: MediaStream, track: MediaStreamTrack) => void} options.onTrack
   * @param {(state: string) => void} options.onStateChange  RTCPeerConnection.connectionState
   * @param {() => object} options.mediaState  what we send on the call's data channel
   * @param {(state: object) => void} options.onPeerState  what the stranger sent on it
   */
  constructor({ roomCode, initiator, iceServers, localStream, send, onTrack, onStateChange, mediaState, onPeerState }) {
    this.#roomCode = roomCode;
    this.#initiator = initiator;
    this.#send = send;
    this.#onStateChange = onStateChange;
    this.#mediaState = mediaState ?? (() => ({}));
    // max-bundle: audio, video and the channel share one transport, so ICE gathers candidates
    // once, not once per media section (a third of them to send).
    this.pc = new RTCPeerConnection({
      iceServers: iceServers ?? [], iceTransportPolicy: ICE_TRANSPORT_POLICY, bundlePolicy: 'max-bundle',
    });

    // Always negotiate audio and video both ways, with or without a track of our own: a
    // text-only visitor still sees the stranger, and can turn the camera on later with
    // replaceTrack(), without a new offer (which only the initiator may send). One stream id
    // for both, so the stranger gets them as one MediaStream. The initiator makes the two
    // transceivers; the responder takes those the offer brings (#takeOffered), because a
    // transceiver it made itself would not be matched to the offer's media sections.
    this.#stream = localStream ?? new MediaStream();
    for (const kind of ['audio', 'video']) this.#tracks[kind] = this.#stream.getTracks().find((t) => t.kind === kind) ?? null;
    if (initiator) {
      for (const kind of ['audio', 'video']) {
        const track = this.#tracks[kind];
        this.#transceivers[kind] = this.pc.addTransceiver(track ?? kind, { direction: 'sendrecv', streams: [this.#stream] });
      }
    }

    // A channel of our own, next to the media, for what the server does not relay: whether our
    // camera and microphone are on. Negotiated (same id on both sides), so neither waits for
    // the other to announce it.
    this.#channel = this.pc.createDataChannel('media-state', { negotiated: true, id: 0 });
    this.#channel.addEventListener('open', () => this.sendMediaState());
    this.#channel.addEventListener('message', ({ data }) => {
      let state;
      try {
        state = JSON.parse(data);
      } catch {
        return;
      }
      if (state && typeof state === 'object' && !this.#closed) onPeerState?.(state);
    });

    this.pc.addEventListener('icecandidate', ({ candidate }) => this.#gathered(candidate));
    this.pc.addEventListener('track', ({ track, streams }) => {
      onTrack(streams[0] ?? new MediaStream([track]), track);
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) this.#onStateChange(this.pc.connectionState);
    });
  }

  get roomCode() {
    return this.#roomCode;
  }

  /** Send `track` (or nothing, for null) as our `kind` ('audio' or 'video'), without renegotiating. */
  async setTrack(kind, track) {
    if (this.#closed) return;
    this.#tracks[kind] = track; // also for a responder that has not had the offer yet
    try {
      await this.#transceivers[kind]?.sender.replaceTrack(track);
    } catch (error) {
      if (!this.#closed) console.warn(`Could not send the new ${kind} track`, error);
    }
  }

  /** Tell the stranger what we share now (camera on or off, microphone on or off). */
  sendMediaState() {
    if (this.#closed || this.#channel.readyState !== 'open') return;
    this.#channel.send(JSON.stringify(this.#mediaState()));
  }

  /** Start the call as soon as we know of the room: the initiator makes the offer at once. */
  start() {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (this.#initiator) {
      this.#enqueue(async () => {
        await this.pc.setLocalDescription(await this.pc.createOffer());
        await this.#describe('offer');
      });
    }
  }

  /**
   * Apply a signal the stranger sent: an offer, an answer, a batch of ICE candidates, or one
   * candidate (from a page loaded before batches).
   */
  handleSignal(type, data) {
    this.#enqueue(async () => {
      if (type === 'offer' && !this.#initiator) {
        await this.pc.setRemoteDescription(data);
        await this.#takeOffered();
        await this.#applyPending();
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        await this.#describe('answer');
      } else if (type === 'answer' && this.#initiator) {
        await this.pc.setRemoteDescription(data);
        await this.#applyPending();
      } else if (type === 'candidates' && Array.isArray(data?.candidates)) {
        const batch = data.end === true ? [...data.candidates, null] : data.candidates;
        if (this.pc.remoteDescription) {
          for (const candidate of batch) await this.#addCandidate(candidate);
        } else {
          this.#pending.push(...batch);
        }
      } else if (type === 'candidate' && data) {
        if (this.pc.remoteDescription) await this.#addCandidate(data);
        else this.#pending.push(data);
      }
    });
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#batchTimer);
    this.#onGathered?.();
    this.pc.close();
  }

  #signal(type, data) {
    if (this.#closed) return;
    this.#send({ action: 'signal', room_code: this.#roomCode, type, data });
  }

  // Send our offer or answer once gathering is complete, or GATHER_WAIT_MS after it began: the
  // SDP then carries every candidate found so far, and only later ones need a batch.
  async #describe(type) {
    if (!this.#gatheringDone) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, GATHER_WAIT_MS);
        this.#onGathered = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#onGathered = null;
    }
    if (this.#closed) return;
    const description = this.pc.localDescription.toJSON();
    const lines = description.sdp.split(/\r?\n/).filter((line) => line.startsWith('a=candidate:'));
    this.#described = new Set(lines.map((line) => candidateKey(line.slice(2))));
    this.#unsent = this.#unsent.filter((candidate) => !this.#inDescription(candidate));
    this.#signal(type, description);
    if (this.#unsent.length) this.#flush();
  }

  // Whether the description we sent already carries `candidate` (as an `a=candidate:` line).
  #inDescription(candidate) {
    return this.#described?.has(candidateKey(candidate.candidate)) ?? false;
  }

  // A candidate from our ICE agent, or null once gathering is complete.
  #gathered(candidate) {
    if (this.#closed) return;
    if (candidate) {
      // An empty line ends one generation of candidates; the null that follows ends them all.
      const found = candidate.toJSON();
      if (!found.candidate || this.#inDescription(found)) return;
      this.#unsent.push(found);
      if (this.#described && this.#batchTimer === null) {
        this.#batchTimer = setTimeout(() => this.#flush(), BATCH_WINDOW_MS);
      }
      return;
    }
    this.#gatheringDone = true;
    this.#onGathered?.();
    if (this.#described) this.#flush();
  }

  // Send the candidates found since the last frame, with `end` once gathering is complete.
  // End-of-candidates rides on a batch and never costs a frame of its own (two billed messages):
  // a description sent after gathering finished already holds every candidate, and an ICE agent
  // connects without the marker, which only tells it that no more candidates will come.
  #flush() {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    const unsent = this.#unsent.splice(0);
    for (let i = 0; i < unsent.length; i += CANDIDATES_MAX) {
      const candidates = unsent.slice(i, i + CANDIDATES_MAX);
      const end = this.#gatheringDone && i + CANDIDATES_MAX >= unsent.length;
      this.#signal('candidates', { candidates, end });
    }
  }

  // The responder: send our tracks on the transceivers the offer made, both ways.
  async #takeOffered() {
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (this.#transceivers[kind] || transceiver.stopped) continue;
      this.#transceivers[kind] = transceiver;
      transceiver.direction = 'sendrecv';
      transceiver.sender.setStreams?.(this.#stream);
      const track = this.#tracks[kind];
      if (track) await transceiver.sender.replaceTrack(track);
    }
  }

  async #applyPending() {
    for (const candidate of this.#pending.splice(0)) await this.#addCandidate(candidate);
  }

  // A remote candidate, or null: the stranger's gathering is complete (end-of-candidates).
  async #addCandidate(candidate) {
    try {
      await (candidate === null ? this.pc.addIceCandidate() : this.pc.addIceCandidate(candidate));
    } catch (error) {
      // One bad candidate (say, an mDNS name we cannot resolve) must not stop the others.
      console.warn('Ignoring an ICE candidate', error);
    }
  }

  #enqueue(step) {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      try {
        await step();
      } catch (error) {
        if (!this.#closed) console.error('Signalling step failed', error);
      }
    });
  }
}
