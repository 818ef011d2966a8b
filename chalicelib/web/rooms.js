// One room on the page: entering it, its video, the stranger typing, dropping out and back, leaving.

import { ChatOrder } from './chatorder.js';
import { INTERESTS_MAX, listInWords, normaliseTag } from './interests.js';
import { Room } from './room.js';
import { app, chat, gate, peerName, send, setPhase } from './state.js';
import { TypingIndicator, TypingNotifier } from './typing.js';
import * as ui from './ui.js';

// How long ICE may take before we call the video connection failed and offer Next.
const VIDEO_CONNECT_TIMEOUT_MS = 30_000;
// Once connected, how long without remote frames before saying the stranger has no camera.
const NO_VIDEO_AFTER_MS = 4_000;

export const typingIndicator = new TypingIndicator(ui.el.typing, ui.el.typingText);
export const typingNotifier = new TypingNotifier(() => app.room !== null && send({ action: 'typing', room_code: app.room.code }));
// The stranger's lines, in the order they sent them.
const incoming = new ChatOrder(({ name, text }) => {
  typingIndicator.messageArrived();
  chat.message('peer', name, text);
});

/** Enter a room from `matched` (a new stranger) or `resumed` (the same one, after a drop). */
export function enterRoom(event, { resumed = false } = {}) {
  if (app.room) endRoom();
  incoming.enter(event.room_code); // a resumed room keeps counting the stranger's lines
  const name = event.peer?.name || 'Stranger';
  // `resumed` does not repeat them: they are the ones the dropped room had.
  const common = resumed ? app.resume?.interests ?? [] : commonInterests(event.interests);
  app.resume = null;
  app.serviceAttempt = 0;
  app.room = new Room({
    code: event.room_code,
    initiator: Boolean(event.initiator),
    peerName: name,
    token: event.resume_token ?? null,
    interests: common,
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
  typingNotifier.reset();
  ui.showCommonInterests(common);
  if (resumed) {
    chat.system(`Reconnected. You are back with ${name}.`);
  } else {
    chat.clear();
    chat.system(`You are now chatting with ${name}. Say hi!`);
    if (common.length) chat.system(`You both like ${listInWords(common)}.`);
    else if (app.interests.length) chat.system(`No one who shares your interests was free, so you met ${name} at random.`);
    if (app.textOnly) chat.system(`Text-only mode: ${app.textOnlyReason} ${name} cannot see or hear you.`);
  }
  if (event.peer_reconnecting) {
    peerAway(); // both of us dropped; we are back first
  } else {
    ui.setStatus(`Connected to ${name}`, 'ok');
    waitForVideo();
  }
}

// What `matched` says we share, as the server normalised it; anything odd is left out.
function commonInterests(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((tag) => typeof tag === 'string' && tag !== '' && tag === normaliseTag(tag)).slice(0, INTERESTS_MAX);
}

/** Leave the room on the page (the caller tells the server, or the server told us). */
export function endRoom() {
  incoming.flush(); // lines still waiting for a gap belong above whatever ends the room
  if (app.room) {
    gate.leave(app.room.code);
    app.room.close();
  }
  clearTimeout(app.videoTimer);
  app.room = null;
  typingIndicator.hide();
  ui.showCommonInterests([]);
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

/** The stranger's connection dropped; the server holds their seat for a while. */
export function peerAway() {
  const name = peerName();
  chat.system(`${name} lost their connection. Waiting for them to come back…`);
  app.room.peerLeftForNow();
  typingIndicator.hide();
  clearTimeout(app.videoTimer);
  ui.hideNotice();
  ui.clearRemote();
  ui.setStatus(`${name} lost their connection. Waiting for them to come back…`, 'warn');
  ui.setRemoteLabel(name, `${name} is reconnecting…`, { busy: true });
}

export function peerBack() {
  app.room.peerReturned();
  chat.system(`${peerName()} is back.`);
  ui.setStatus(`Connected to ${peerName()}`, 'ok');
  waitForVideo();
}

export function peerLeft() {
  const name = peerName();
  endRoom();
  setPhase('ended');
  chat.system(`${name} left the chat.`);
  ui.setStatus('Stranger disconnected. Press Next or Esc to meet someone new.', 'warn');
  ui.setRemoteLabel('Stranger', 'Stranger disconnected.');
}

/** A line from the stranger in the current room. */
export function peerChat(event) {
  incoming.add(event.seq, { name: String(event.sender || peerName()), text: String(event.message ?? '') });
}

/** The stranger sent `typing`. */
export function peerTyping() {
  if (!app.room.peerAway) typingIndicator.show(peerName());
}
