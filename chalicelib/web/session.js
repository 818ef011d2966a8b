// The session: the state machine that ties the server's events, the rooms, the chat and the page.
// The shared state is in state.js, one room's life on the page in roomview.js, reports in reporting.js.

import { LineNumbers } from './chatorder.js';
import { loadConfig } from './config.js';
import { keepIdentity } from './identity.js';
import { InterestsField, listInWords } from './interests.js';
import { openLocalMedia, stopStream } from './media.js';
import { mediaChanged, watchTracks } from './ownmedia.js';
import { forgetReport, reportConfirmed } from './reporting.js';
import { endRoom, enterRoom, peerAway, peerBack, peerChat, peerLeft, peerTyping, typingIndicator, typingNotifier } from './roomview.js';
import { Signalling, backoffDelay } from './signalling.js';
import { app, chat, gate, onOwnMedia, peerName, send, setPhase } from './state.js';
import * as ui from './ui.js';

// After Stop, how long to wait for the server's `left` before closing the socket anyway.
const LEAVE_GRACE_MS = 2_000;
const NAME_MAX = 32;
// An error `peer_reconnecting` this soon after a chat message is taken to be about it.
const CHAT_ANSWER_MS = 5_000;
// The same words for the `banned` event and for an `error` with code `banned`.
const BANNED_TEXT = 'Your address was reported by several people and is banned for a while. Try again later.';
const STILL_BANNED_TEXT = 'Could not connect: your address may still be banned. Try again later.';
const CHOSE_TEXT_ONLY = 'You chose to chat by text.';
// Esc with a message typed and not sent asks first; a second Esc within this long skips.
export const ESC_CONFIRM_MS = 2_000;

// The `seq` of each line we send: 0, 1, 2, … per room (see chatorder.js).
const lineNumbers = new LineNumbers();

const interestsField = new InterestsField({
  box: ui.el.interestsBox,
  list: ui.el.interestsList,
  input: ui.el.interestsInput,
  hint: ui.el.interestsHint,
});

// ---- Starting and stopping -------------------------------------------------------------

/** Start a session: with camera and microphone, or by text only (`textOnly`), asking for no device. */
export async function start({ textOnly = false } = {}) {
  if (app.phase !== 'idle') return;
  clearTimeout(app.leaveTimer);
  setPhase('starting');
  if (textOnly) {
    ui.setStatus('Getting ready…', 'busy');
  } else {
    ui.setStatus('Asking for your camera and microphone…', 'busy');
  }
  ui.setRemoteLabel('Stranger', 'Getting ready…', { busy: true });
  const { stream, reason } = textOnly ? { stream: null, reason: CHOSE_TEXT_ONLY } : await openLocalMedia();
  if (app.phase !== 'starting') {
    stopStream(stream); // Stop was pressed while the browser asked
    return;
  }
  app.localStream = stream;
  app.textOnly = stream === null;
  app.textOnlyReason = reason;
  watchTracks(stream);
  mediaChanged();
  if (app.textOnly) chat.system(`Text-only mode: ${reason} You can still chat.`);

  try {
    app.config ??= await loadConfig();
  } catch (error) {
    console.error(error);
    stop();
    ui.setStatus("Can't reach the chat service. Check your connection and press Start again.", 'error');
    return;
  }
  if (app.phase !== 'starting') return;
  ui.el.chatInput.maxLength = app.config.maxChatChars;
  app.signalling ??= createSignalling(app.config);
  app.resumeSearch = true;
  setPhase('connecting');
  ui.setStatus('Connecting…', 'busy');
  ui.setRemoteLabel('Stranger', 'Connecting…', { busy: true });
  if (app.signalling.isOpen) search();
  else app.signalling.connect();
}

export function stop() {
  if (app.phase === 'idle') return;
  const wasInRoom = goIdle();
  ui.setStatus('Stopped. Press Start to meet someone new.', 'idle');
  if (wasInRoom) chat.system('You left the chat.');
  // Say goodbye so the stranger hears at once, then close: a stopped page holds no socket.
  if (send({ action: 'leave' })) app.leaveTimer = setTimeout(closeSocket, LEAVE_GRACE_MS);
  else closeSocket();
}

// Leave any room, forget what would bring us back, release the camera. True if we were in a room.
function goIdle() {
  const wasInRoom = app.room !== null;
  endRoom();
  ui.clearDraft(); // also the one kept for a room we meant to resume
  app.resume = null;
  forgetReport();
  gate.clear();
  clearTimeout(app.retryTimer);
  app.retryAt = -Infinity;
  setPhase('idle');
  stopStream(app.localStream);
  app.localStream = null;
  app.textOnly = false;
  app.textOnlyReason = '';
  ui.showLocal(null, '');
  ui.setRemoteLabel('Stranger', 'Press Start to meet someone.');
  return wasInRoom;
}

// The server banned our address (the `banned` event, or an `error` with code `banned` for
// anything this address does) and closes the socket. Every new socket from here is refused
// until the ban ends, so the page stops instead of reconnecting; Start tries once more.
function banned(text = BANNED_TEXT) {
  app.banned = true;
  clearTimeout(app.leaveTimer);
  app.signalling?.close(); // no reconnecting: it would only be refused
  if (app.phase === 'idle') return; // told twice (the event and an error), or after Stop
  goIdle();
  ui.setStatus(text, 'error');
  chat.system(text);
}

function closeSocket() {
  clearTimeout(app.leaveTimer);
  if (app.phase === 'idle') app.signalling?.close();
}

// ---- Searching -------------------------------------------------------------------------

function search() {
  const name = ui.el.nameInput.value.trim().replace(/\s+/g, ' ').slice(0, NAME_MAX);
  // Always sent, also when empty: `register` replaces the interests the server remembers.
  app.interests = interestsField.tags;
  const message = { action: 'register', interests: app.interests };
  if (name) message.name = name;
  send(message);
  setPhase('searching');
  ui.hideNotice();
  ui.setStatus(searchingText(), 'busy');
  ui.setRemoteLabel('Stranger', 'Looking for someone…', { busy: true });
}

let searchingFresh = false; // the search under way began with Next ("someone new")

function searchingText(fresh = false) {
  searchingFresh = fresh;
  let text = fresh ? 'Looking for someone new' : 'Looking for someone';
  if (app.interests.length) text += ` into ${listInWords(app.interests, 'or')}`;
  return app.textOnly ? `${text}… (text-only mode)` : `${text}…`;
}

// Turning the camera on while looking ends text-only mode: the status must stop saying so. Only
// the "Looking for someone" status is redone; a countdown or an offline notice says more.
onOwnMedia(() => {
  if (app.phase === 'searching' && ui.el.statusText.textContent.startsWith('Looking')) {
    ui.setStatus(searchingText(searchingFresh), 'busy');
  }
});

let escTimer = null;

/**
 * Esc. With nothing typed it is Next at once. With a message typed and not sent, the first press
 * only says that a second one skips (and discards the message); a second within ESC_CONFIRM_MS,
 * while that hint shows, does. One stray key never throws away a chat, nor hands a half-typed
 * line to the next stranger. The hint goes (and the next Esc asks again) when the time is up,
 * when they type on, and when the chat ends.
 */
export function escape() {
  if (ui.el.next.hidden || ui.el.next.disabled) return;
  if (app.phase === 'room' && ui.el.chatInput.value.trim() && ui.el.escHint.hidden) {
    ui.showEscHint();
    clearTimeout(escTimer);
    escTimer = setTimeout(ui.hideEscHint, ESC_CONFIRM_MS);
    return;
  }
  clearTimeout(escTimer);
  next();
}

export function next() {
  if (ui.el.next.hidden || ui.el.next.disabled) return;
  if (app.phase === 'room') {
    endRoom();
    chat.system('You left the chat.');
    send({ action: 'next' }); // ends the room on the server and searches again in one step
    setPhase('searching');
    ui.setStatus(searchingText(true), 'busy');
    ui.setRemoteLabel('Stranger', 'Looking for someone…', { busy: true });
  } else if (app.phase === 'ended') {
    search();
  }
}

// ---- Server events ---------------------------------------------------------------------

// Room events apply to the current room only; the gate holds early ones and drops stale ones.
function inRoom(event, apply) {
  if (app.room !== null && event.room_code === app.room.code) apply(event);
  else if (app.phase !== 'idle') gate.hold(event);
}

function enter(event, options) {
  enterRoom(event, options);
  for (const early of gate.take(app.room.code)) handleServerEvent(early);
}

const handlers = {
  queued() {
    if (app.phase !== 'searching') return;
    app.serviceAttempt = 0;
    // A `queued` late for an earlier register does not cut short the countdown to a retry.
    if (performance.now() < app.retryAt) return;
    if (!ui.el.statusText.textContent.startsWith('Looking')) ui.setStatus(searchingText(), 'busy');
  },
  matched(event) {
    if (app.phase === 'idle') return; // Stop was pressed; our `leave` ends this room
    // The server announces a room again when we ask while never having joined it (the answer
    // to our register was lost); we may have heard of it after all: keep the call going.
    if (app.room?.code === event.room_code) return;
    enter(event);
  },
  resumed(event) {
    if (app.phase === 'idle') return;
    enter(event, { resumed: true });
  },
  signal(event) {
    inRoom(event, () => app.room.signal(event.type, event.data));
  },
  chat(event) {
    inRoom(event, peerChat); // in the order the stranger sent their lines, by `seq`
  },
  typing(event) {
    inRoom(event, peerTyping);
  },
  reported: reportConfirmed,
  'peer-reconnecting'(event) {
    inRoom(event, peerAway);
  },
  'peer-resumed'(event) {
    inRoom(event, peerBack);
  },
  'peer-disconnected'(event) {
    inRoom(event, () => {
      peerLeft();
      if (app.lastChat?.room === event.room_code && app.lastChat.refused) notDelivered();
    });
  },
  left() {
    if (app.phase === 'idle') closeSocket();
    // Stop then Start at once: the server may run our `register` before the `leave`.
    else if (app.phase === 'searching') search();
  },
  pong() {},
  identity(event) {
    keepIdentity(event.token);
  },
  banned() {
    banned();
  },
  error: onServerError,
};

function onServerError({ code, message, action, retry_after_ms: retryAfterMs }) {
  switch (code) {
    case 'banned':
      banned();
      break;
    case 'not_connected':
      // The server lost our connection record, and with it any room: a fresh socket and a
      // new registration fix it.
      if (app.room) {
        chat.system(`The server lost this connection. The chat with ${peerName()} has ended.`);
        endRoom();
      }
      app.signalling.reconnect();
      break;
    case 'invalid_token':
      // The room we dropped out of ended while we were away.
      if (app.resume) {
        chat.system(`The chat with ${app.resume.peerName} ended while you were away.`);
        app.resume = null;
        ui.clearDraft();
        search();
      }
      break;
    case 'in_room':
      if (app.phase === 'searching') send({ action: 'next' }); // leave a room we did not know of
      break;
    case 'peer_reconnecting':
      // Also the answer to a `typing` or a late ICE candidate; only a chat message is worth a word.
      if (app.phase === 'room' && performance.now() - app.chatSentAt < CHAT_ANSWER_MS) {
        chat.system(`Not sent: ${peerName()} is reconnecting.`);
      }
      break;
    case 'rate_limited':
      slowDown(retryAfterMs);
      break;
    case 'unavailable':
    case 'internal':
      if (app.phase === 'room') chat.system('The server had a problem; your last message may not have arrived.');
      else retryLater('The service is busy.', backoffDelay(app.serviceAttempt++));
      break;
    case 'too_large':
    case 'invalid_field':
      if (app.phase === 'room') chat.system(`Not sent: ${message}`);
      else console.warn('Server rejected a message:', code, message);
      break;
    case 'wrong_room':
    case 'not_in_room':
      // A race, not a mistake: the room ended (Next, or the stranger left) while our frame was
      // on its way. For `typing` or a signal that means nothing; a chat line did not arrive.
      if (action === 'chat') chatRefused();
      else console.debug('Server error', code, message, action);
      break;
    default:
      // wrong_role: the answer to a signal of a room that already ended. Nothing to do.
      console.debug('Server error', code, message, action);
  }
}

// The server refused a chat line because its room had ended. When the line was our last one,
// sent a moment ago to a room we have left, say once that it did not reach that stranger. When
// the page still shows that room, the room's end is on its way: the note follows it.
function chatRefused() {
  const last = app.lastChat;
  if (last === null || last.refused || performance.now() - last.at > CHAT_ANSWER_MS) return;
  last.refused = true;
  if (app.room?.code !== last.room) notDelivered();
}

function notDelivered() {
  const last = app.lastChat;
  if (last === null || last.told) return;
  last.told = true;
  chat.system(`Your last message was not delivered: the chat with ${last.peerName} had already ended.`);
}

function slowDown(retryAfterMs) {
  if (app.phase === 'room') chat.system('Not sent: you are sending too fast. Wait a moment.');
  else retryLater('Too many tries in a row.', Math.max(1000, Number(retryAfterMs) || 0));
}

// A refused search or resume (busy service, rate limit) is tried again after `delay`.
function retryLater(why, delay) {
  const phase = app.phase;
  if (phase !== 'searching' && phase !== 'reconnecting') return;
  ui.setCountdown((s) => (s > 0 ? `${why} Trying again in ${s} s…` : `${why} Trying again…`), delay);
  clearTimeout(app.retryTimer);
  app.retryAt = performance.now() + delay;
  app.retryTimer = setTimeout(() => {
    app.retryAt = -Infinity;
    if (app.phase !== phase) return;
    if (phase === 'searching') search();
    else onSocketOpen();
  }, delay);
}

export function handleServerEvent(event) {
  const handler = Object.hasOwn(handlers, event?.event) ? handlers[event.event] : null;
  if (handler) handler(event);
  else console.debug('Ignoring an event this page does not use', event);
}

// ---- The WebSocket ---------------------------------------------------------------------

function createSignalling(config) {
  const signalling = new Signalling(config.websocketUrl, { pingIntervalMs: config.pingIntervalMs });
  signalling.addEventListener('open', onSocketOpen);
  signalling.addEventListener('message', ({ detail }) => handleServerEvent(detail));
  signalling.addEventListener('close', ({ detail }) => onSocketClosed(detail));
  return signalling;
}

function onSocketOpen() {
  app.banned = false; // a socket opened: whatever ban there was is over
  if (app.phase !== 'connecting' && app.phase !== 'reconnecting') return;
  if (app.resume) {
    // Take our seat back within the server's grace period; `invalid_token` if it is gone.
    send({ action: 'resume', token: app.resume.token });
    ui.setStatus(`Reconnected. Getting back to ${app.resume.peerName}…`, 'busy');
  } else if (app.resumeSearch) {
    search();
  } else {
    setPhase('ended');
    ui.setStatus('Reconnected. Press Next or Esc to meet someone new.', 'idle');
  }
}

function onSocketClosed({ retryInMs, everOpened }) {
  if (app.phase === 'idle' || retryInMs === null) return;
  if (app.banned && app.phase === 'connecting') {
    // Start after a ban, and the new socket was refused (browsers hide the 403): still banned.
    banned(STILL_BANNED_TEXT);
    return;
  }
  // The server keeps our seat for a short grace period: remember how to claim it back.
  if (app.room) {
    const { token, interests } = app.room;
    const name = peerName();
    app.resume = token ? { token, peerName: name, interests } : null;
    endRoom({ keepDraft: app.resume !== null }); // the draft is for the stranger we hope to get back to
    chat.system(app.resume ? `Connection lost. Trying to get back to ${name}…` : 'Connection lost. The chat has ended.');
  }
  if (app.phase !== 'reconnecting') app.resumeSearch = app.phase !== 'ended';
  clearTimeout(app.retryTimer);
  app.retryAt = -Infinity;
  setPhase('reconnecting');
  // "Connection lost" only for a connection there was: no socket opened since Start, none was lost.
  const why = everOpened ? 'Connection lost.' : "Can't reach the chat service.";
  ui.setCountdown((s) => (s > 0 ? `${why} Retrying in ${s} s…` : `${why} Reconnecting…`), retryInMs, 'warn');
  ui.setRemoteLabel('Stranger', everOpened ? 'Reconnecting…' : 'Trying to reach the chat service…', { busy: true });
}

// ---- For the page ----------------------------------------------------------------------

/** Send a chat message typed by the user; true when it went out (the input may be cleared). */
export function sendChat(text) {
  if (app.phase !== 'room' || app.room === null || !text.trim()) return false;
  const limit = app.config?.maxChatChars ?? 1000;
  if (text.length > limit) {
    chat.system(`Messages are limited to ${limit} characters.`);
    return false;
  }
  const room = app.room.code;
  if (!send({ action: 'chat', room_code: room, message: text, seq: lineNumbers.peek(room) })) {
    chat.system('Not sent: the connection is down.');
    return false;
  }
  lineNumbers.advance(); // a line that did not go out leaves no gap in the stranger's count
  chat.message('me', 'You', text);
  app.chatSentAt = performance.now();
  app.lastChat = { room, peerName: peerName(), at: app.chatSentAt, refused: false, told: false };
  typingNotifier.reset();
  return true;
}

/** The user typed in the message box: the stranger may see that they are typing. */
export function typed() {
  if (app.phase === 'room' && !app.room?.peerAway && ui.el.chatInput.value.trim()) typingNotifier.typed();
}

/** The page is going away: tell the server now rather than when the socket times out. */
export function leaveNow() {
  if (app.phase !== 'idle') send({ action: 'leave' });
}

export function reset() {
  setPhase('idle');
  ui.setStatus('Press Start to meet a random stranger.', 'idle');
  ui.setRemoteLabel('Stranger', 'Press Start to meet someone.');
  ui.showLocal(null, '');
}

/** Read-only views of the state, for the test hook. */
export const view = Object.freeze({
  phase: () => app.phase,
  pc: () => app.room?.call?.pc ?? null,
  room: () => app.room?.code ?? null,
  initiator: () => app.room?.initiator ?? null,
  textOnly: () => app.textOnly,
  typingShown: () => typingIndicator.shown,
  // Our tracks as the stranger gets them: kind, label, enabled, readyState.
  localTracks: () => (app.localStream?.getTracks() ?? []).map(({ kind, label, enabled, readyState }) => (
    { kind, label, enabled, readyState })),
});
