// Our own camera and microphone during a session: the toggles on our tile, turning a device on
// later (after starting in text-only mode), and choosing which camera and microphone to use.
//
// The stranger learns what we share on the call's data channel (call.js), not from the server:
// a camera turned off with `track.enabled = false` still sends black frames, which would look
// like a frozen call.

import { listDevices, openTrack, rememberDevice } from './media.js';
import { app, chat, onPhase, ownMediaChanged, peerName } from './state.js';
import * as ui from './ui.js';

const WHAT = { audio: 'microphone', video: 'camera' };
const opening = { audio: false, video: false };

function liveTrack(kind) {
  return app.localStream?.getTracks().find((track) => track.kind === kind && track.readyState === 'live') ?? null;
}

/** What we tell the stranger: is our microphone on, our camera on, or are we chatting by text only. */
export function mediaState() {
  const audio = liveTrack('audio');
  const video = liveTrack('video');
  return { audio: Boolean(audio?.enabled), video: Boolean(video?.enabled), textOnly: !audio && !video };
}

/** Our tracks changed (a toggle, a new device, a device that went away): show it and tell the stranger. */
export function mediaChanged() {
  ui.showLocal(app.localStream, app.textOnlyReason);
  app.room?.sendMediaState();
  ownMediaChanged();
}

/** Watch the tracks of a stream we just got: an unplugged camera ends its track. */
export function watchTracks(stream) {
  for (const track of stream?.getTracks() ?? []) track.addEventListener('ended', mediaChanged);
}

/** The microphone ('audio') or camera ('video') toggle on our tile. */
export async function toggle(kind) {
  if (app.phase === 'idle' || app.phase === 'starting') return;
  const track = liveTrack(kind);
  if (track) {
    track.enabled = !track.enabled;
    mediaChanged();
  } else {
    await turnOn(kind);
  }
}

// No track of this kind (text-only mode, or the device went away): ask the browser for one.
async function turnOn(kind, deviceId = '') {
  if (opening[kind]) return;
  opening[kind] = true;
  let result;
  try {
    result = await openTrack(kind, deviceId);
  } finally {
    opening[kind] = false;
  }
  const { track, reason } = result;
  if (app.phase === 'idle') {
    track?.stop(); // Stop was pressed while the browser asked
    return;
  }
  if (!track) {
    chat.system(`Could not turn the ${WHAT[kind]} on: ${reason}`);
    return;
  }
  useTrack(kind, track);
  const who = app.room ? `${peerName()} can ${kind === 'video' ? 'see' : 'hear'} you now.` : '';
  chat.system(`Your ${WHAT[kind]} is on. ${who}`.trim());
}

// Send `track` from now on, in place of the one of its kind (keeping that one's on or off).
function useTrack(kind, track) {
  const old = app.localStream?.getTracks().find((t) => t.kind === kind) ?? null;
  if (old) {
    track.enabled = old.enabled;
    old.removeEventListener('ended', mediaChanged);
    old.stop();
  }
  const others = app.localStream?.getTracks().filter((t) => t !== old) ?? [];
  // A new stream, so that the preview picks the new track up; calls send it by replaceTrack().
  app.localStream = new MediaStream([...others, track]);
  watchTracks(app.localStream);
  app.textOnly = false;
  app.textOnlyReason = '';
  app.room?.setTrack(kind, track, app.localStream);
  mediaChanged();
}

// ---- Choosing the camera and microphone -------------------------------------------------

const selects = { video: ui.el.cameraSelect, audio: ui.el.micSelect };
const NOT_IN_USE = '';

/** Open the dialog that lists cameras and microphones; a choice applies at once. */
export async function openDevices() {
  if (app.phase === 'idle' || ui.el.devicesDialog.open) return;
  const devices = await listDevices();
  for (const kind of ['video', 'audio']) {
    const current = liveTrack(kind)?.getSettings().deviceId ?? NOT_IN_USE;
    const options = devices[kind].map(({ id, label }) => new Option(label, id, false, id === current));
    if (current === NOT_IN_USE) options.unshift(new Option('Not in use', NOT_IN_USE, true, true));
    selects[kind].replaceChildren(...options);
    selects[kind].disabled = devices[kind].length === 0;
  }
  ui.el.devicesNote.textContent = '';
  if (app.phase !== 'idle' && !ui.el.devicesDialog.open) ui.el.devicesDialog.showModal();
}

async function chooseDevice(kind) {
  const deviceId = selects[kind].value;
  if (deviceId === NOT_IN_USE || deviceId === liveTrack(kind)?.getSettings().deviceId) return;
  ui.el.devicesNote.textContent = `Switching the ${WHAT[kind]}…`;
  const { track, reason } = await openTrack(kind, deviceId);
  if (app.phase === 'idle') {
    track?.stop();
    return;
  }
  if (!track) {
    ui.el.devicesNote.textContent = `Could not use that ${WHAT[kind]}: ${reason}`;
    return;
  }
  useTrack(kind, track);
  rememberDevice(kind, track.getSettings().deviceId || deviceId);
  selects[kind].querySelector(`option[value="${NOT_IN_USE}"]`)?.remove();
  ui.el.devicesNote.textContent = `${track.label || 'The new device'} is in use.`;
}

for (const kind of ['video', 'audio']) selects[kind].addEventListener('change', () => chooseDevice(kind));

// Stop releases the devices; there is nothing left to choose.
onPhase((phase) => {
  if (phase === 'idle' && ui.el.devicesDialog.open) ui.el.devicesDialog.close();
});
