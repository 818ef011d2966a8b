// One RTCPeerConnection for one room: offer/answer by role, trickle ICE over the WebSocket.

// `?ice=relay` in the page's address sends every packet through the TURN relay, as on a network
// where nothing else gets through: the relay tests use it, and so can anyone checking a relay.
const ICE_TRANSPORT_POLICY = new URLSearchParams(location.search).get('ice') === 'relay' ? 'relay' : 'all';

/**
 * A call with the stranger in one room.
 *
 * The server only relays signals after this side's `join` is verified, and only an offer from
 * the initiator and an answer from the responder. So outgoing signals wait in `#outbox` until
 * begin(), and remote candidates that arrive before the remote description wait in `#pending`
 * (the server runs messages concurrently, so a candidate can overtake its offer).
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
  #joined = false;
  #closed = false;
  #outbox = [];
  #pending = [];
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
    this.pc = new RTCPeerConnection({ iceServers: iceServers ?? [], iceTransportPolicy: ICE_TRANSPORT_POLICY });

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

    this.pc.addEventListener('icecandidate', ({ candidate }) => {
      // The end of gathering (null) is not sent: the remote side does not need it to connect.
      if (candidate) this.#signal('candidate', candidate.toJSON());
    });
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

  /** Our join is verified: flush what waited, and the initiator makes the offer. */
  begin() {
    if (this.#joined || this.#closed) return;
    this.#joined = true;
    for (const [type, data] of this.#outbox.splice(0)) this.#signal(type, data);
    if (this.#initiator) {
      this.#enqueue(async () => {
        await this.pc.setLocalDescription(await this.pc.createOffer());
        this.#signal('offer', this.pc.localDescription.toJSON());
      });
    }
  }

  /** Apply a signal the stranger sent: an offer, an answer or an ICE candidate. */
  handleSignal(type, data) {
    this.#enqueue(async () => {
      if (type === 'offer' && !this.#initiator) {
        await this.pc.setRemoteDescription(data);
        await this.#takeOffered();
        await this.#applyPending();
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.#signal('answer', this.pc.localDescription.toJSON());
      } else if (type === 'answer' && this.#initiator) {
        await this.pc.setRemoteDescription(data);
        await this.#applyPending();
      } else if (type === 'candidate' && data) {
        if (this.pc.remoteDescription) await this.#addCandidate(data);
        else this.#pending.push(data);
      }
    });
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.pc.close();
  }

  #signal(type, data) {
    if (this.#closed) return;
    if (!this.#joined) {
      this.#outbox.push([type, data]);
      return;
    }
    this.#send({ action: 'signal', room_code: this.#roomCode, type, data });
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

  async #addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
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
