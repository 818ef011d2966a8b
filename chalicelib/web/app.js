// The page's wiring: controls, keys and the test hook. The logic lives in session.js.

import { openDevices, toggle } from './ownmedia.js';
import { openReport } from './reporting.js';
import * as session from './session.js';
import { app, onPhase } from './state.js';
import { watchOnlineCount } from './stats.js';
import * as ui from './ui.js';

ui.el.start.addEventListener('click', () => start());
ui.el.textOnly.addEventListener('click', () => start({ textOnly: true }));
ui.el.next.addEventListener('click', session.next);
ui.el.noticeNext.addEventListener('click', session.next);
ui.el.stop.addEventListener('click', (event) => {
  // Stop appears where Text only was: the second click of a double click (detail 2) was meant
  // for that, not for Stop. A click of its own, or Enter or space (detail 0), stops.
  if (event.detail > 1) return;
  session.stop();
});
ui.el.report.addEventListener('click', openReport);
ui.el.toggleMic.addEventListener('click', () => toggle('audio'));
ui.el.toggleCamera.addEventListener('click', () => toggle('video'));
ui.el.devices.addEventListener('click', openDevices);

ui.el.chatForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (session.sendChat(ui.el.chatInput.value)) ui.el.chatInput.value = '';
});
ui.el.chatInput.addEventListener('input', () => {
  ui.hideEscHint();
  session.typed();
});

// Enter in the name field, or in an empty interests field (Enter with text there makes a chip),
// starts. preventDefault: the same Enter must not also press whatever gets focus next.
for (const field of [ui.el.nameInput, ui.el.interestsInput]) {
  field.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing || event.defaultPrevented) return;
    event.preventDefault();
    start();
  });
}

// Esc is Next anywhere on the page, also while typing a message (a typed message makes it ask
// first: see session.escape); in a dialog it only closes the dialog.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.isComposing || event.repeat) return;
  if (ui.el.reportDialog.open || ui.el.devicesDialog.open) return;
  event.preventDefault();
  session.escape();
});

window.addEventListener('pagehide', session.leaveNow);

// The browser's own word on the network: the status line says so while it is offline.
for (const type of ['online', 'offline']) window.addEventListener(type, () => ui.setOffline(!navigator.onLine));

// ---- The first visit -------------------------------------------------------------------

const WELCOMED_KEY = 'rvc.welcomed';

function welcomed() {
  try {
    return localStorage.getItem(WELCOMED_KEY) === '1';
  } catch {
    return false; // storage is blocked: tell them every time
  }
}

function start(options) {
  if (app.phase !== 'idle') return;
  // Pressing Start is taking the notice in: it is not shown again on this browser.
  try {
    localStorage.setItem(WELCOMED_KEY, '1');
  } catch {
    // storage is blocked
  }
  ui.showWelcome(false);
  session.start(options);
}

session.reset();
ui.showWelcome(!welcomed());
ui.setOffline(!navigator.onLine);

// Who the page knows to be online by its phase: us once our socket is open, and our stranger.
const KNOWN_ONLINE = { searching: 1, room: 2, ended: 1 };
const onlineChanged = watchOnlineCount(ui.el.online, ui.el.onlineText, () => KNOWN_ONLINE[app.phase] ?? 0);
onPhase(onlineChanged);

// A small handle for automated browser tests and for debugging in the console. `deliver`
// feeds an event to this page's own handler as if the server had sent it; it cannot reach
// the server or any other page.
window.__rvc = Object.freeze({
  pc: session.view.pc,
  state: session.view.phase,
  room: session.view.room,
  initiator: session.view.initiator,
  textOnly: session.view.textOnly,
  typingShown: session.view.typingShown,
  remoteVideoPlaying: ui.remoteVideoPlaying,
  localTracks: session.view.localTracks,
  deliver: session.handleServerEvent,
});
