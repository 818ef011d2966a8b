// Reporting the stranger: the dialog asks why, the chat ends at once, and the server confirms.

import { ReportDialog } from './reportdialog.js';
import { endRoom } from './roomview.js';
import { app, chat, onPhase, peerName, send, setPhase } from './state.js';
import * as ui from './ui.js';

// A report the server has not confirmed by then most likely never counted (the chat had ended).
const REPORT_CONFIRM_MS = 5_000;

const dialog = new ReportDialog(ui.el.reportDialog, ui.el.reportName, report);

// Once the chat is over there is no one left to report: a dialog still open closes.
onPhase((phase) => {
  if (phase !== 'room') dialog.dismiss();
});

/** Open the Report dialog for the stranger we are chatting with. */
export function openReport() {
  if (app.phase === 'room' && app.room) dialog.open(peerName());
}

/** Report the stranger for `reason`. */
export function report(reason) {
  if (app.phase !== 'room' || !app.room) return;
  const name = peerName();
  if (!send({ action: 'report', reason })) {
    chat.system('Not reported: the connection is down. Press Next to leave this chat.');
    return;
  }
  app.report = { name };
  endRoom(); // the server ends it too, and tells the stranger only that they were disconnected
  setPhase('ended');
  chat.system(`You reported ${name} and left the chat.`);
  ui.setStatus(`You reported ${name}. Press Next or Esc to meet someone new.`, 'warn');
  ui.setRemoteLabel('Stranger', 'Chat ended.');
  ui.showNotice(`Reporting ${name}…`, { tone: 'report' });
  clearTimeout(app.reportTimer);
  app.reportTimer = setTimeout(reportUnconfirmed, REPORT_CONFIRM_MS);
}

/** The server's `reported`. */
export function reportConfirmed() {
  const pending = app.report;
  if (!pending) return;
  forgetReport();
  chat.system(`Thank you. ${pending.name} was reported, and you will not be matched with them again.`);
  if (app.phase === 'ended') {
    ui.showNotice(`You reported ${pending.name}. The chat has ended, and you will not meet them again.`,
      { tone: 'report', short: `You reported ${pending.name}. You will not meet them again. Press Next to go on.` });
  }
}

// No `reported`: the chat had most likely ended before the report arrived, or it was refused.
function reportUnconfirmed() {
  const pending = app.report;
  if (!pending) return;
  app.report = null;
  chat.system(`Your report about ${pending.name} was not confirmed; the chat may have ended before it arrived.`);
  if (app.phase === 'ended') {
    ui.hideNotice();
    send({ action: 'leave' }); // in case the server still has us in that room
  }
}

export function forgetReport() {
  app.report = null;
  clearTimeout(app.reportTimer);
}
