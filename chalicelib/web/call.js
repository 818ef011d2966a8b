// One RTCPeerConnection for one room: offer/answer by role, trickle ICE over the WebSocket.

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
   */
  constructor({ roomCode, initiator, iceServers, localStream, send, onTrack, onStateChange }) {
    this.#roomCode = roomCode;
    this.#initiator = initiator;
    this.#send = send;
    this.#onStateChange = onStateChange;
    this.pc = new RTCPeerConnection({ iceServers: iceServers ?? [] });

    // Always negotiate audio and video, receive-only for what we do not have, so a text-only
    // visitor still sees the stranger and ICE always has something to connect.
    const tracks = localStream?.getTracks() ?? [];
    for (const kind of ['audio', 'video']) {
      const track = tracks.find((t) => t.kind === kind);
      if (track) this.pc.addTrack(track, localStream);
      else this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }

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
