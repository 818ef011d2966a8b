// The page's wiring: controls, keys and the test hook. The logic lives in session.js.

import * as session from './session.js';
import * as ui from './ui.js';

ui.el.start.addEventListener('click', session.start);
ui.el.next.addEventListener('click', session.next);
ui.el.noticeNext.addEventListener('click', session.next);
ui.el.stop.addEventListener('click', session.stop);

ui.el.chatForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (session.sendChat(ui.el.chatInput.value)) ui.el.chatInput.value = '';
});

ui.el.nameInput.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || event.isComposing) return;
  // Start moves focus to Stop; without preventDefault this same Enter would then press it.
  event.preventDefault();
  session.start();
});

// Esc is Next anywhere on the page, also while typing a message.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.isComposing || event.repeat) return;
  event.preventDefault();
  session.next();
});

window.addEventListener('pagehide', session.leaveNow);

session.reset();

// A small handle for automated browser tests and for debugging in the console. `deliver`
// feeds an event to this page's own handler as if the server had sent it; it cannot reach
// the server or any other page.
window.__rvc = Object.freeze({
  pc: session.view.pc,
  state: session.view.phase,
  room: session.view.room,
  textOnly: session.view.textOnly,
  remoteVideoPlaying: ui.remoteVideoPlaying,
  deliver: session.handleServerEvent,
});
