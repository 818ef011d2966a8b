// One room on the page: entering it, its video, the stranger typing, dropping out and back, leaving.

import { ChatOrder } from './chatorder.js';
import { INTERESTS_MAX, listInWords, normaliseTag } from './interests.js';
import { mediaState } from './ownmedia.js';
import { Room } from './room.js';
import { app, chat, gate, peerName, send, setPhase } from './state.js';
import { TypingIndicator, TypingNotifier } from './typing.js';
import * as ui from './ui.js';

// How long ICE may take before we call the video connection failed and offer Next. On one
// network a call connects in about a second; through TURN in a few. Past this the status line
// would keep saying "connecting" about a call that is not coming.
export const VIDEO_CONNECT_TIMEOUT_MS = 12_000;
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
      track.addEventListener('mute', remoteTrackChanged);
      track.addEventListener('unmute', remoteTrackChanged);
      ui.showRemoteStream(stream);
    },
    onCallState,
    mediaState,
    onPeerState,
  });
  setPhase('room');
  ui.focusChatInput();
  typingNotifier.reset();
  ui.showCommonInterests(common);
  if (resumed) {
    chat.system(`Reconnected. You are back with ${name}.`);
  } else {
    chat.clear();
    chat.system(`You are now chatting with ${name}. Say hi!`);
    if (common.length) chat.system(`You both like ${listInWords(common)}.`);
    else if (app.interests.length) chat.system(`No one who shares your interests was free, so you met ${name} at random.`);
    if (app.textOnly) {
      chat.system(`Text-only mode: ${app.textOnlyReason} ${name} cannot see or hear you. `
        + 'The camera button on your picture turns your camera on.');
    }
  }
  // Both of us dropped and we are back first: the call starts when they are back, whichever
  // of us makes the offer.
  if (event.peer_reconnecting) peerAway();
  app.room.start();
  if (!event.peer_reconnecting) waitForVideo();
}

function remoteTrackChanged() {
  ui.refreshRemoteVideo();
  showPeerMedia();
}

// What `matched` says we share, as the server normalised it; anything odd is left out.
function commonInterests(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((tag) => typeof tag === 'string' && tag !== '' && tag === normaliseTag(tag)).slice(0, INTERESTS_MAX);
}

/**
 * Leave the room on the page (the caller tells the server, or the server told us). The draft in
 * the chat box goes with it, unless we mean to come back to this room (`keepDraft`, after our own
 * socket dropped): whatever was typed was for this stranger, never for the next.
 */
export function endRoom({ keepDraft = false } = {}) {
  incoming.flush(); // lines still waiting for a gap belong above whatever ends the room
  if (!keepDraft) ui.clearDraft();
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

// The chat works (it goes through the server) but the call is not up yet: say so, not in green.
function waitForVideo() {
  const name = peerName();
  app.room.callState = 'new';
  ui.setStatus(`Connected to ${name}. Video still connecting…`, 'busy');
  ui.setRemoteLabel(name, `Connecting video with ${name}…`, { busy: true });
  clearTimeout(app.videoTimer);
  app.videoTimer = setTimeout(videoFailed, VIDEO_CONNECT_TIMEOUT_MS);
}

function onCallState(state) {
  if (!app.room) return;
  const name = peerName();
  const was = app.room.callState;
  app.room.callState = state;
  if (state === 'connected') {
    clearTimeout(app.videoTimer);
    ui.hideNotice();
    ui.setStatus(`Connected to ${name}`, 'ok');
    if (was !== 'disconnected') {
      ui.setRemoteLabel(name, `Waiting for ${name}'s video…`);
      // Frames follow the connection within a moment; still none later means no camera there.
      app.videoTimer = setTimeout(() => {
        if (!app.room) return;
        app.room.noFrames = true;
        showPeerMedia();
      }, NO_VIDEO_AFTER_MS);
    }
    showPeerMedia();
  } else if (state === 'disconnected') {
    ui.setStatus(`The video link to ${name} is unstable. Trying to recover…`, 'warn');
  } else if (state === 'failed') {
    videoFailed();
  }
}

// The stranger told us, on the call's own channel, what they share.
function onPeerState(state) {
  if (!app.room) return;
  const name = peerName();
  const before = app.room.peerMedia;
  const media = { audio: state.audio === true, video: state.video === true, textOnly: state.textOnly === true };
  app.room.peerMedia = media;
  ui.setPeerMedia(media);
  if (media.textOnly && !before?.textOnly) {
    chat.system(`${name} is chatting by text only: no camera or microphone.`);
  } else if (before?.textOnly && !media.textOnly) {
    chat.system(`${name} turned their ${media.video ? 'camera' : 'microphone'} on.`);
  }
  showPeerMedia();
}

// The stranger's tile while the call is up: their picture, or why there is none.
function showPeerMedia() {
  const room = app.room;
  if (app.phase !== 'room' || !room || room.callState !== 'connected' || ui.remoteVideoPlaying()) return;
  const name = room.peerName;
  const media = room.peerMedia;
  if (media?.textOnly) ui.setRemoteLabel(name, `${name} is not sharing video.`, { reason: 'Chatting by text only.' });
  else if (media && !media.video) ui.setRemoteLabel(name, `${name} turned their camera off.`);
  else if (room.noFrames) ui.setRemoteLabel(name, `${name} is not sharing video.`);
}

function videoFailed() {
  if (app.phase !== 'room' || app.room?.peerAway) return;
  const name = peerName();
  ui.setRemoteLabel(name, 'No video connection.');
  ui.setStatus(`No video with ${name}. Press Next to meet someone else.`, 'warn');
  ui.showNotice(`The video connection with ${name} failed: your networks may not allow a direct link. `
    + 'You can keep chatting, or find someone else.', { short: `No video link with ${name}. Keep chatting, or press Next.` });
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
  app.room.peerMedia = null;
  app.room.noFrames = false;
  chat.system(`${peerName()} is back.`);
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
