// The session: one state machine that ties the server's events, the room, the chat and the page.
//
// Phases: idle → starting → connecting → searching → room → (ended | searching) … → idle.
// "reconnecting" is entered whenever the WebSocket drops while the app is running.

import { ChatLog } from './chat.js';
import { loadConfig } from './config.js';
import { openLocalMedia, stopStream } from './media.js';
import { Room } from './room.js';
import { Signalling, backoffDelay } from './signalling.js';
import * as ui from './ui.js';

// How long ICE may take before we call the video connection failed and offer Next.
const VIDEO_CONNECT_TIMEOUT_MS = 30_000;
// After Stop, how long to wait for the server's `left` before closing the socket anyway.
const LEAVE_GRACE_MS = 2_000;
// Once connected, how long without remote frames before saying the stranger has no camera.
const NO_VIDEO_AFTER_MS = 4_000;
const NAME_MAX = 32;
// Room events that arrive before their room's `matched` are held this long, at most this many.
const EARLY_EVENT_TTL_MS = 15_000;
const EARLY_EVENTS_MAX = 64;
// Rooms we have left, remembered so their late events are recognised as stale.
const PAST_ROOMS_MAX = 32;

const app = {
  phase: 'idle',
  config: null,
  signalling: null,
  localStream: null,
  textOnly: false,
  textOnlyReason: '',
  room: null, // the Room we are in
  resume: null, // { token, peerName } of the room our dropped socket left behind
  pastRooms: new Set(),
  early: [], // [{ event, at }]: events for a room whose `matched` has not arrived yet
  resumeSearch: true, // whether a reconnect without a room to resume should search again
  serviceAttempt: 0,
  videoTimer: null,
  leaveTimer: null,
  retryTimer: null,
};

const chat = new ChatLog(ui.el.chatLog);

function setPhase(phase) {
  app.phase = phase;
  ui.setControls(phase);
}

function send(message) {
  return app.signalling?.send(message) ?? false;
}

function peerName() {
  return app.room?.peerName ?? 'Stranger';
}

// ---- Starting and stopping -------------------------------------------------------------

export async function start() {
  if (app.phase !== 'idle') return;
  clearTimeout(app.leaveTimer);
  setPhase('starting');
  ui.setStatus('Asking for your camera and microphone…', 'busy');
  ui.setRemoteLabel('Stranger', 'Getting ready…', { busy: true });
  const { stream, reason } = await openLocalMedia();
  if (app.phase !== 'starting') {
    stopStream(stream); // Stop was pressed while the browser asked
    return;
  }
  app.localStream = stream;
  app.textOnly = stream === null;
  app.textOnlyReason = reason;
  ui.showLocal(stream, reason);
  if (app.textOnly) chat.system(`Text-only mode: ${reason} You can still chat.`);

  try {
    app.config ??= await loadConfig();
  } catch (error) {
    console.error(error);
    stop();
    ui.setStatus('Could not reach the server. Check your connection and press Start again.', 'error');
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
  const wasInRoom = app.room !== null;
  endRoom();
  app.resume = null;
  app.early = [];
  clearTimeout(app.retryTimer);
  setPhase('idle');
  stopStream(app.localStream);
  app.localStream = null;
  ui.showLocal(null, '');
  ui.setRemoteLabel('Stranger', 'Press Start to meet someone.');
  ui.setStatus('Stopped. Press Start to meet someone new.', 'idle');
  if (wasInRoom) chat.system('You left the chat.');
  // Say goodbye so the stranger hears at once, then close: a stopped page holds no socket.
  if (send({ action: 'leave' })) app.leaveTimer = setTimeout(closeSocket, LEAVE_GRACE_MS);
  else closeSocket();
}

function closeSocket() {
  clearTimeout(app.leaveTimer);
  if (app.phase === 'idle') app.signalling?.close();
}

// ---- Searching and rooms ---------------------------------------------------------------

function search() {
  const name = ui.el.nameInput.value.trim().replace(/\s+/g, ' ').slice(0, NAME_MAX);
  send(name ? { action: 'register', name } : { action: 'register' });
  setPhase('searching');
  ui.setStatus(searchingText(), 'busy');
  ui.setRemoteLabel('Stranger', 'Looking for someone…', { busy: true });
}

function searchingText(fresh = false) {
  const text = fresh ? 'Looking for someone new…' : 'Looking for someone…';
  return app.textOnly ? `${text} (text-only mode)` : text;
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

/** Enter a room from `matched` (a new stranger) or `resumed` (the same one, after a drop). */
function enterRoom(event, { resumed = false } = {}) {
  if (app.room) endRoom();
  const name = event.peer?.name || 'Stranger';
  app.resume = null;
  app.serviceAttempt = 0;
  app.room = new Room({
    code: event.room_code,
    initiator: Boolean(event.initiator),
    peerName: name,
    token: event.resume_token ?? null,
    iceServers: event.ice_servers,
    localStream: app.localStream,
    send,
    onTrack: (stream, track) => {
      track.addEventListener('mute', ui.refreshRemoteVideo);
      track.addEventListener('unmute', ui.refreshRemoteVideo);
      ui.showRemoteStream(stream);
    },
    onCallState,
  });
  app.room.join();
  setPhase('room');
  if (resumed) {
    chat.system(`Reconnected. You are back with ${name}.`);
  } else {
    chat.clear();
    chat.system(`You are now chatting with ${name}. Say hi!`);
    if (app.textOnly) chat.system(`Text-only mode: ${app.textOnlyReason} ${name} cannot see or hear you.`);
  }
  if (event.peer_reconnecting) {
    peerAway(); // both of us dropped; we are back first
  } else {
    ui.setStatus(`Connected to ${name}`, 'ok');
    waitForVideo();
  }
  replayEarlyEvents(app.room.code);
}

function endRoom() {
  if (app.room) {
    rememberPastRoom(app.room.code);
    app.room.close();
  }
  clearTimeout(app.videoTimer);
  app.room = null;
  ui.hideNotice();
  ui.clearRemote();
}

function waitForVideo() {
  const name = peerName();
  ui.setRemoteLabel(name, `Connecting video with ${name}…`, { busy: true });
  clearTimeout(app.videoTimer);
  app.videoTimer = setTimeout(videoFailed, VIDEO_CONNECT_TIMEOUT_MS);
}

function onCallState(state) {
  const name = peerName();
  if (state === 'connected') {
    clearTimeout(app.videoTimer);
    ui.hideNotice();
    ui.setStatus(`Connected to ${name}`, 'ok');
    ui.setRemoteLabel(name, `Waiting for ${name}'s video…`);
    // Frames follow the connection within a moment; still none later means no camera there.
    app.videoTimer = setTimeout(() => {
      if (app.phase === 'room' && !ui.remoteVideoPlaying()) ui.setRemoteLabel(name, `${name} is not sharing video.`);
    }, NO_VIDEO_AFTER_MS);
  } else if (state === 'disconnected') {
    ui.setStatus(`The video link to ${name} is unstable. Trying to recover…`, 'warn');
  } else if (state === 'failed') {
    videoFailed();
  }
}

function videoFailed() {
  if (app.phase !== 'room' || app.room?.peerAway) return;
  const name = peerName();
  ui.setRemoteLabel(name, 'No video connection.');
  ui.setStatus(`Video with ${name} could not connect. Press Next to meet someone else.`, 'warn');
  ui.showNotice(`The video connection with ${name} failed: your networks may not allow a direct link. `
    + 'You can keep chatting, or find someone else.');
}

function peerAway() {
  const name = peerName();
  chat.system(`${name} lost their connection. Waiting for them to come back…`);
  app.room.peerLeftForNow();
  clearTimeout(app.videoTimer);
  ui.hideNotice();
  ui.clearRemote();
  ui.setStatus(`${name} lost their connection. Waiting for them to come back…`, 'warn');
  ui.setRemoteLabel(name, `${name} is reconnecting…`, { busy: true });
}

function peerBack() {
  app.room.peerReturned();
  chat.system(`${peerName()} is back.`);
  ui.setStatus(`Connected to ${peerName()}`, 'ok');
  waitForVideo();
}

function peerLeft() {
  const name = peerName();
  endRoom();
  setPhase('ended');
  chat.system(`${name} left the chat.`);
  ui.setStatus('Stranger disconnected. Press Next or Esc to meet someone new.', 'warn');
  ui.setRemoteLabel('Stranger', 'Stranger disconnected.');
}

// ---- Server events ---------------------------------------------------------------------

// Events that name a room are only for the current one: a late `peer-disconnected` from the
// previous stranger must not end the chat with the new one. An event for a room we have not
// entered yet is early, not stale: the stranger's offer is relayed by one server invocation
// while another is still posting our `matched`, so the offer can arrive first. Hold it.
function inRoom(event, apply) {
  const code = event.room_code;
  if (app.room !== null && code === app.room.code) {
    apply(event);
  } else if (typeof code === 'string' && !app.pastRooms.has(code) && app.phase !== 'idle') {
    const now = Date.now();
    app.early = app.early.filter((held) => now - held.at < EARLY_EVENT_TTL_MS).slice(-(EARLY_EVENTS_MAX - 1));
    app.early.push({ event, at: now });
  }
}

function replayEarlyEvents(code) {
  const now = Date.now();
  const held = app.early.filter((item) => item.event.room_code === code && now - item.at < EARLY_EVENT_TTL_MS);
  app.early = app.early.filter((item) => item.event.room_code !== code);
  for (const { event } of held) handleServerEvent(event);
}

function rememberPastRoom(code) {
  app.pastRooms.add(code);
  if (app.pastRooms.size > PAST_ROOMS_MAX) app.pastRooms.delete(app.pastRooms.values().next().value);
}

const handlers = {
  queued() {
    if (app.phase !== 'searching') return;
    app.serviceAttempt = 0;
    if (!ui.el.statusText.textContent.startsWith('Looking')) ui.setStatus(searchingText(), 'busy');
  },
  matched(event) {
    if (app.phase === 'idle') return; // Stop was pressed; our `leave` ends this room
    enterRoom(event);
  },
  resumed(event) {
    if (app.phase === 'idle') return;
    enterRoom(event, { resumed: true });
  },
  verified(event) {
    inRoom(event, () => app.room.verified());
  },
  signal(event) {
    inRoom(event, () => app.room.signal(event.type, event.data));
  },
  chat(event) {
    if (app.phase !== 'room') return;
    chat.message('peer', String(event.sender || peerName()), String(event.message ?? ''));
  },
  'peer-reconnecting'(event) {
    inRoom(event, peerAway);
  },
  'peer-resumed'(event) {
    inRoom(event, peerBack);
  },
  'peer-disconnected'(event) {
    inRoom(event, peerLeft);
  },
  left() {
    if (app.phase === 'idle') closeSocket();
    // Stop then Start at once: the server may run our `register` before the `leave`.
    else if (app.phase === 'searching') search();
  },
  pong() {},
  error: onServerError,
};

function onServerError({ code, message, retry_after_ms: retryAfterMs }) {
  switch (code) {
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
        search();
      }
      break;
    case 'in_room':
      if (app.phase === 'searching') send({ action: 'next' }); // leave a room we did not know of
      break;
    case 'peer_reconnecting':
      if (app.phase === 'room') chat.system(`Not sent: ${peerName()} is reconnecting.`);
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
    default:
      // wrong_room, not_in_room, not_joined, wrong_role: answers to signals of a room that
      // already ended. Nothing to do.
      console.debug('Server error', code, message);
  }
}

function slowDown(retryAfterMs) {
  if (app.phase === 'room') chat.system('Not sent: you are sending too fast. Wait a moment.');
  else retryLater('Too many tries in a row.', Math.max(1000, Number(retryAfterMs) || 0));
}

// A refused search or resume (busy service, rate limit) is tried again after `delay`.
function retryLater(why, delay) {
  const phase = app.phase;
  if (phase !== 'searching' && phase !== 'reconnecting') return;
  ui.setStatus(`${why} Trying again in ${Math.ceil(delay / 1000)} s…`, 'warn');
  clearTimeout(app.retryTimer);
  app.retryTimer = setTimeout(() => {
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

function onSocketClosed({ retryInMs }) {
  if (app.phase === 'idle' || retryInMs === null) return;
  // The server keeps our seat for a short grace period: remember how to claim it back.
  if (app.room) {
    const name = peerName();
    app.resume = app.room.token ? { token: app.room.token, peerName: name } : null;
    endRoom();
    chat.system(app.resume ? `Connection lost. Trying to get back to ${name}…` : 'Connection lost. The chat has ended.');
  }
  if (app.phase !== 'reconnecting') app.resumeSearch = app.phase !== 'ended';
  clearTimeout(app.retryTimer);
  setPhase('reconnecting');
  const seconds = Math.ceil(retryInMs / 1000);
  ui.setStatus(seconds > 0 ? `Connection lost. Retrying in ${seconds} s…` : 'Connection lost. Reconnecting…', 'warn');
  ui.setRemoteLabel('Stranger', 'Reconnecting…', { busy: true });
}

// ---- For the page ----------------------------------------------------------------------

/** Send a chat message typed by the user; true when it went out (the input may be cleared). */
export function sendChat(text) {
  if (app.phase !== 'room' || !text.trim()) return false;
  const limit = app.config?.maxChatChars ?? 1000;
  if (text.length > limit) {
    chat.system(`Messages are limited to ${limit} characters.`);
    return false;
  }
  if (!send({ action: 'chat', message: text })) {
    chat.system('Not sent: the connection is down.');
    return false;
  }
  chat.message('me', 'You', text);
  return true;
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
  textOnly: () => app.textOnly,
});
