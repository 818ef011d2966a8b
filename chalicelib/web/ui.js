// The page's elements and how each phase of the app shows on them. No protocol logic here.

const byId = (id) => document.getElementById(id);

export const el = {
  status: byId('status'),
  statusText: byId('status-text'),
  online: byId('online'),
  onlineText: byId('online-text'),
  remoteTile: byId('remote-tile'),
  remoteVideo: byId('remote-video'),
  remotePlaceholder: byId('remote-placeholder-text'),
  remoteReason: byId('remote-placeholder-reason'),
  remoteName: byId('remote-name'),
  remoteMuted: byId('remote-muted'),
  commonInterests: byId('common-interests'),
  unmute: byId('unmute'),
  report: byId('report'),
  reportDialog: byId('report-dialog'),
  reportName: byId('report-name'),
  localTile: byId('local-tile'),
  localVideo: byId('local-video'),
  localPlaceholder: byId('local-placeholder-text'),
  localReason: byId('local-placeholder-reason'),
  tools: byId('tools'),
  toggleMic: byId('toggle-mic'),
  toggleCamera: byId('toggle-camera'),
  devices: byId('devices'),
  devicesDialog: byId('devices-dialog'),
  cameraSelect: byId('camera-select'),
  micSelect: byId('mic-select'),
  devicesNote: byId('devices-note'),
  notice: byId('notice'),
  noticeText: byId('notice-text'),
  noticeShort: byId('notice-short'),
  noticeNext: byId('notice-next'),
  welcome: byId('welcome'),
  chatLog: byId('chat-log'),
  typing: byId('typing'),
  typingText: byId('typing-text'),
  escHint: byId('esc-hint'),
  chatForm: byId('chat-form'),
  chatInput: byId('chat-input'),
  chatSend: byId('chat-send'),
  nameField: byId('name-field'),
  nameInput: byId('name-input'),
  interestsField: byId('interests-field'),
  interestsBox: byId('interests-box'),
  interestsList: byId('interests-list'),
  interestsInput: byId('interests-input'),
  interestsHint: byId('interests-hint'),
  agree: byId('agree'),
  start: byId('start'),
  textOnly: byId('text-only'),
  next: byId('next'),
  stop: byId('stop'),
};

// ---- The status line -------------------------------------------------------------------
//
// What the session last said, unless the browser is offline: then the line says so, and shows
// the session's latest word again as soon as the network is back.

const COUNTDOWN_TICK_MS = 250;
let wanted = { text: '', tone: 'idle' };
let offline = false;
let countdownTimer = null;

/** The status line. `tone` is one of idle, busy, ok, warn, error (it picks the dot's colour). */
export function setStatus(text, tone = 'idle') {
  stopCountdown();
  wanted = { text, tone };
  renderStatus();
}

/**
 * A status that counts down to an event `ms` from now: `format(seconds)` gives the text for the
 * whole seconds left (0 once the time is up). It ticks until the next setStatus().
 */
export function setCountdown(format, ms, tone = 'warn') {
  stopCountdown();
  const deadline = performance.now() + ms;
  const tick = () => {
    const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    wanted = { text: format(left), tone };
    renderStatus();
    countdownTimer = left > 0 ? setTimeout(tick, Math.min(COUNTDOWN_TICK_MS, deadline - performance.now())) : null;
  };
  tick();
}

function stopCountdown() {
  clearTimeout(countdownTimer);
  countdownTimer = null;
}

/** The browser went offline (true) or back online (false). */
export function setOffline(isOffline) {
  offline = isOffline;
  renderStatus();
}

function renderStatus() {
  let { text, tone } = wanted;
  if (offline) {
    tone = 'error';
    text = document.body.dataset.phase === 'idle'
      ? 'You are offline. Connect to the internet to start.'
      : 'You are offline. Waiting for the network…';
  }
  if (el.statusText.textContent !== text) el.statusText.textContent = text;
  el.status.dataset.tone = tone;
}

// ---- Controls and focus ----------------------------------------------------------------

/** Which controls exist and work in each phase of the app. */
export function setControls(phase) {
  const idle = phase === 'idle';
  const inRoom = phase === 'room';
  const ended = phase === 'ended';
  // Taken first: Chromium may move focus to <body> as soon as the focused control is hidden.
  const focused = document.activeElement;
  document.body.dataset.phase = phase; // for the layout: the idle form needs room on phones
  el.start.hidden = !idle;
  el.textOnly.hidden = !idle;
  el.nameField.hidden = !idle;
  el.interestsField.hidden = !idle;
  el.agree.hidden = !idle;
  el.report.hidden = !inRoom;
  el.next.hidden = idle;
  el.next.disabled = !(inRoom || ended);
  el.next.classList.toggle('btn-primary', ended);
  el.stop.hidden = idle;
  el.tools.hidden = idle || phase === 'starting';
  el.chatInput.disabled = !inRoom;
  el.chatSend.disabled = !inRoom;
  if (!inRoom) hideEscHint();
  renderStatus(); // the offline text depends on the phase
  keepFocusVisible(focused);
}

// A focused control that disappears would drop keyboard users back at the top of the page.
// Focus never goes to Stop, where the next Enter or space bar would end everything: Next if it
// works, else the chat box, else Start, else the chat log (a quiet place: keys do nothing there).
// Not Next for someone typing when the stranger leaves: the next space bar would start a search.
function keepFocusVisible(focused) {
  if (!(focused instanceof HTMLElement) || focused === document.body) return;
  const still = document.activeElement === focused;
  if (still && focused.checkVisibility() && !focused.disabled) return;
  if (!still && document.activeElement !== document.body) return; // it moved on by itself
  if (el.reportDialog.open || el.devicesDialog.open) return; // a dialog gives focus back when it closes
  const typing = focused === el.chatInput || focused === el.chatSend;
  for (const candidate of [typing ? null : el.next, el.chatInput, el.start, el.chatLog]) {
    if (candidate && candidate.checkVisibility() && !candidate.disabled) {
      candidate.focus();
      return;
    }
  }
}

/** A stranger is here: on a computer, start typing at once (on a phone, that would open the keyboard). */
export function focusChatInput() {
  if (el.reportDialog.open || el.devicesDialog.open || el.chatInput.disabled) return;
  if (!matchMedia('(pointer: fine)').matches) return;
  el.chatInput.focus();
}

/** The chat is over: whatever was typed was for that stranger, not the next one. */
export function clearDraft() {
  el.chatInput.value = '';
  hideEscHint();
}

export function showEscHint() {
  el.escHint.hidden = false;
}

export function hideEscHint() {
  el.escHint.hidden = true;
}

/** The first-visit notice: age, rules and Report, shown before the first Start. */
export function showWelcome(shown) {
  el.welcome.hidden = !shown;
}

// ---- The stranger's tile ---------------------------------------------------------------

/** The remote tile's caption and the text shown while no video plays. */
export function setRemoteLabel(name, placeholder, { busy = false, reason = '' } = {}) {
  el.remoteName.textContent = name;
  el.remotePlaceholder.textContent = placeholder;
  el.remoteReason.textContent = reason;
  el.remoteTile.dataset.busy = String(busy);
}

/**
 * What the stranger says about their camera and microphone (null: nothing yet). A camera turned
 * off still sends black frames; the tile shows the placeholder instead of them.
 */
export function setPeerMedia(media) {
  el.remoteTile.dataset.peerCamera = media === null ? 'unknown' : media.textOnly ? 'text' : media.video ? 'on' : 'off';
  el.remoteMuted.hidden = media === null || media.audio || media.textOnly;
  refreshRemoteVideo();
}

export function showRemoteStream(stream) {
  const video = el.remoteVideo;
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch((error) => {
    if (error.name !== 'NotAllowedError') return;
    // Autoplay with sound needs a user gesture; start muted and offer to turn sound on.
    video.muted = true;
    el.unmute.hidden = false;
    video.play().catch(() => {});
  });
  refreshRemoteVideo();
}

export function clearRemote() {
  el.remoteVideo.srcObject = null;
  el.unmute.hidden = true;
  setPeerMedia(null);
}

/** Show the remote picture only while a live, unmuted video track actually has frames. */
export function refreshRemoteVideo() {
  const video = el.remoteVideo;
  const track = video.srcObject?.getVideoTracks?.()[0];
  const camera = el.remoteTile.dataset.peerCamera;
  const playing = Boolean(track && track.readyState === 'live' && !track.muted && video.videoWidth > 0)
    && camera !== 'off' && camera !== 'text';
  el.remoteTile.dataset.video = playing ? 'playing' : 'none';
}

export function remoteVideoPlaying() {
  return el.remoteTile.dataset.video === 'playing';
}

// ---- Our own tile ----------------------------------------------------------------------

/**
 * The local preview, or a note that explains text-only mode, and the toggles: a toggle is
 * pressed while its track is on; without a track it offers to turn the device on.
 */
export function showLocal(stream, reason) {
  if (el.localVideo.srcObject !== stream) el.localVideo.srcObject = stream;
  const video = stream?.getVideoTracks().find((track) => track.readyState === 'live') ?? null;
  const audio = stream?.getAudioTracks().find((track) => track.readyState === 'live') ?? null;
  el.localTile.dataset.video = video?.enabled ? 'playing' : 'none';
  const textOnly = !video && !audio;
  el.localPlaceholder.textContent = textOnly && reason ? 'Text-only mode' : 'Camera off';
  el.localReason.textContent = video ? '' : reason;
  setTool(el.toggleMic, audio, 'microphone');
  setTool(el.toggleCamera, video, 'camera');
  el.devices.hidden = textOnly;
}

function setTool(button, track, what) {
  const on = Boolean(track?.enabled);
  button.setAttribute('aria-pressed', String(on));
  button.dataset.state = track ? (on ? 'on' : 'off') : 'none';
  button.title = track ? `Turn ${what} ${on ? 'off' : 'on'}` : `Turn ${what} on (it is not in use)`;
}

// ---- The notice over the video ---------------------------------------------------------

/**
 * The message over the video, with its "Find someone else" button. `tone`: 'problem' or 'report'.
 * `short` is what small screens show instead of `text`.
 */
export function showNotice(text, { tone = 'problem', short = text } = {}) {
  el.noticeText.textContent = text;
  el.noticeShort.textContent = short;
  el.notice.dataset.tone = tone;
  el.notice.hidden = false;
}

/** "You both like: music, films" on the stranger's video; nothing when there is nothing shared. */
export function showCommonInterests(tags) {
  el.commonInterests.textContent = tags.length ? `You both like: ${tags.join(', ')}` : '';
  el.commonInterests.hidden = tags.length === 0;
}

export function hideNotice() {
  el.notice.hidden = true;
}

for (const event of ['playing', 'resize', 'loadeddata', 'emptied']) {
  el.remoteVideo.addEventListener(event, refreshRemoteVideo);
}

el.unmute.addEventListener('click', () => {
  el.remoteVideo.muted = false;
  el.unmute.hidden = true;
  el.remoteVideo.play().catch(() => {});
});
