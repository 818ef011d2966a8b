// What the session's modules share: the app's state, the chat log and the phase.
//
// Phases: idle → starting → connecting → searching → room → (ended | searching) … → idle.
// "reconnecting" is entered whenever the WebSocket drops while the app is running.

import { ChatLog } from './chat.js';
import { RoomGate } from './gate.js';
import * as ui from './ui.js';

export const app = {
  phase: 'idle',
  config: null,
  signalling: null,
  localStream: null,
  textOnly: false,
  textOnlyReason: '',
  room: null, // the Room we are in
  resume: null, // { token, peerName, interests } of the room our dropped socket left behind
  interests: [], // the tags our last `register` carried
  report: null, // { name } of a report the server has not confirmed yet
  resumeSearch: true, // whether a reconnect without a room to resume should search again
  serviceAttempt: 0,
  chatSentAt: -Infinity, // performance.now() of our last chat message
  lastChat: null, // { room, peerName, at, refused, told } of our last chat message
  banned: false, // the server banned our address, and no socket has opened since
  videoTimer: null,
  leaveTimer: null,
  retryTimer: null,
  retryAt: -Infinity, // performance.now() of a retry retryLater() set up
  reportTimer: null,
};

export const chat = new ChatLog(ui.el.chatLog);
export const gate = new RoomGate();

const phaseListeners = [];

export function setPhase(phase) {
  app.phase = phase;
  // Listeners first: a dialog they close gives focus back before the controls change, so a
  // control that disappears can hand focus on to a visible one.
  for (const listener of phaseListeners) listener(phase);
  ui.setControls(phase);
}

/** Call `listener(phase)` after every phase change. */
export function onPhase(listener) {
  phaseListeners.push(listener);
}

const ownMediaListeners = [];

/** Call `listener()` after our own camera or microphone changed (text-only mode may have ended). */
export function onOwnMedia(listener) {
  ownMediaListeners.push(listener);
}

export function ownMediaChanged() {
  for (const listener of ownMediaListeners) listener();
}

/** Put one message on the WebSocket; false when it is not open. */
export function send(message) {
  return app.signalling?.send(message) ?? false;
}

export function peerName() {
  return app.room?.peerName ?? 'Stranger';
}
