// The page's wiring: controls, keys and the test hook. The logic lives in session.js.

import { openReport } from './reporting.js';
import * as session from './session.js';
import { app, onPhase } from './state.js';
import { watchOnlineCount } from './stats.js';
import * as ui from './ui.js';

ui.el.start.addEventListener('click', session.start);
ui.el.next.addEventListener('click', session.next);
ui.el.noticeNext.addEventListener('click', session.next);
ui.el.stop.addEventListener('click', session.stop);
ui.el.report.addEventListener('click', openReport);

ui.el.chatForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (session.sendChat(ui.el.chatInput.value)) ui.el.chatInput.value = '';
});
ui.el.chatInput.addEventListener('input', session.typed);

// Enter in the name field, or in an empty interests field (Enter with text there makes a chip),
// starts. Start moves focus to Stop; without preventDefault this same Enter would then press it.
for (const field of [ui.el.nameInput, ui.el.interestsInput]) {
  field.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing || event.defaultPrevented) return;
    event.preventDefault();
    session.start();
  });
}

// Esc is Next anywhere on the page, also while typing a message; in the Report dialog it only
// closes the dialog.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.isComposing || event.repeat || ui.el.reportDialog.open) return;
  event.preventDefault();
  session.next();
});

window.addEventListener('pagehide', session.leaveNow);

session.reset();
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
  textOnly: session.view.textOnly,
  typingShown: session.view.typingShown,
  remoteVideoPlaying: ui.remoteVideoPlaying,
  deliver: session.handleServerEvent,
});
