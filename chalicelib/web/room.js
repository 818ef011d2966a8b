// One room with one stranger: its call, and the stranger dropping out and back.

import { Call } from './call.js';

/**
 * The protocol inside a room. The server keeps a dropped member's seat for a grace period: the
 * other side hears `peer-reconnecting`, and `peer-resumed` when a new connection took the seat
 * over. Neither RTCPeerConnection survives that (the returning side starts from nothing), so
 * the call is dropped on `peer-reconnecting` and a fresh one starts on `peer-resumed`, with the
 * same roles. Signals that arrive while there is no call wait for the next one.
 */
export class Room {
  #callOptions;
  #held = [];
  #started = false;

  /**
   * @param {object} options
   * @param {string} options.code
   * @param {boolean} options.initiator
   * @param {string} options.peerName
   * @param {string} options.token       resume token for this seat
   * @param {string[]} options.interests   the interests we share with the stranger
   * @param {RTCIceServer[]} options.iceServers
   * @param {MediaStream|null} options.localStream
   * @param {(message: object) => boolean} options.send
   * @param {(stream: MediaStream, track: MediaStreamTrack) => void} options.onTrack
   * @param {(state: string) => void} options.onCallState
   * @param {() => object} options.mediaState   what we tell the stranger about our camera and microphone
   * @param {(state: object) => void} options.onPeerState  what the stranger tells us about theirs
   */
  constructor({
    code, initiator, peerName, token, interests, iceServers, localStream, send, onTrack, onCallState, mediaState,
    onPeerState,
  }) {
    this.code = code;
    this.initiator = initiator;
    this.peerName = peerName;
    this.token = token;
    this.interests = interests;
    this.peerAway = false;
    this.peerMedia = null; // { audio, video, textOnly } as the stranger last told us, on the call's channel
    this.callState = 'new'; // the call's connectionState
    this.noFrames = false; // connected a while ago, and still no picture
    this.#callOptions = {
      roomCode: code, initiator, iceServers, localStream, send, onTrack, onStateChange: onCallState, mediaState, onPeerState,
    };
    this.call = new Call(this.#callOptions);
  }

  /**
   * Start the call: the initiator sends its offer now, or, while the stranger is away, as soon
   * as they are back. No `join` first: the server takes our first signal as the sign that we
   * heard of the room.
   */
  start() {
    this.#started = true;
    this.call?.start();
  }

  signal(type, data) {
    if (this.call) this.call.handleSignal(type, data);
    else this.#held.push([type, data]);
  }

  /** The stranger's connection dropped; the server holds their seat for a while. */
  peerLeftForNow() {
    this.peerAway = true;
    this.call?.close();
    this.call = null;
  }

  /** The stranger is back on a new connection: negotiate a new call from scratch. */
  peerReturned() {
    this.peerAway = false;
    this.call?.close();
    this.call = new Call(this.#callOptions);
    if (this.#started) this.call.start();
    for (const [type, data] of this.#held.splice(0)) this.call.handleSignal(type, data);
  }

  /** Our camera or microphone changed: send `track` as `kind`, now and in any later call. */
  setTrack(kind, track, stream) {
    this.#callOptions.localStream = stream;
    this.call?.setTrack(kind, track);
  }

  sendMediaState() {
    this.call?.sendMediaState();
  }

  close() {
    this.call?.close();
    this.call = null;
  }
}
