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
  remoteName: byId('remote-name'),
  commonInterests: byId('common-interests'),
  unmute: byId('unmute'),
  report: byId('report'),
  reportDialog: byId('report-dialog'),
  reportName: byId('report-name'),
  localTile: byId('local-tile'),
  localVideo: byId('local-video'),
  localPlaceholder: byId('local-placeholder-text'),
  localReason: byId('local-placeholder-reason'),
  notice: byId('notice'),
  noticeText: byId('notice-text'),
  noticeNext: byId('notice-next'),
  chatLog: byId('chat-log'),
  typing: byId('typing'),
  typingText: byId('typing-text'),
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
  start: byId('start'),
  next: byId('next'),
  stop: byId('stop'),
};

/** The status line. `tone` is one of idle, busy, ok, warn, error (it picks the dot's colour). */
export function setStatus(text, tone = 'idle') {
  el.statusText.textContent = text;
  el.status.dataset.tone = tone;
}

/** Which controls exist and work in each phase of the app. */
export function setControls(phase) {
  const idle = phase === 'idle';
  const inRoom = phase === 'room';
  const ended = phase === 'ended';
  // Taken first: Chromium may move focus to <body> as soon as the focused control is hidden.
  const focused = document.activeElement;
  document.body.dataset.phase = phase; // for the layout: the idle form needs room on phones
  el.start.hidden = !idle;
  el.nameField.hidden = !idle;
  el.interestsField.hidden = !idle;
  el.report.hidden = !inRoom;
  el.next.hidden = idle;
  el.next.disabled = !(inRoom || ended);
  el.next.classList.toggle('btn-primary', ended);
  el.stop.hidden = idle;
  el.chatInput.disabled = !inRoom;
  el.chatSend.disabled = !inRoom;
  keepFocusVisible(focused);
}

// A focused control that disappears would drop keyboard users back at the top of the page.
// Not for the chat box: someone typing when the stranger leaves must not land on Next, where
// the next space bar would start a new search.
function keepFocusVisible(focused) {
  if (!(focused instanceof HTMLElement) || focused === document.body) return;
  if (focused === el.chatInput || focused === el.chatSend) return;
  const still = document.activeElement === focused;
  if (still && !focused.hidden && !focused.disabled && focused.offsetParent !== null) return;
  if (!still && document.activeElement !== document.body) return; // it moved on by itself
  if (el.reportDialog.open) return; // the dialog keeps focus, and gives it back when it closes
  for (const candidate of [el.next, el.stop, el.start]) {
    if (!candidate.hidden && !candidate.disabled) {
      candidate.focus();
      return;
    }
  }
}

/** The remote tile's caption and the text shown while no video plays. */
export function setRemoteLabel(name, placeholder, { busy = false } = {}) {
  el.remoteName.textContent = name;
  el.remotePlaceholder.textContent = placeholder;
  el.remoteTile.dataset.busy = String(busy);
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
  refreshRemoteVideo();
}

/** Show the remote picture only while a live, unmuted video track actually has frames. */
export function refreshRemoteVideo() {
  const video = el.remoteVideo;
  const track = video.srcObject?.getVideoTracks?.()[0];
  const playing = Boolean(track && track.readyState === 'live' && !track.muted && video.videoWidth > 0);
  el.remoteTile.dataset.video = playing ? 'playing' : 'none';
}

export function remoteVideoPlaying() {
  return el.remoteTile.dataset.video === 'playing';
}

/** The local preview, or a note that explains text-only mode. */
export function showLocal(stream, reason) {
  el.localVideo.srcObject = stream;
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  el.localTile.dataset.video = hasVideo ? 'playing' : 'none';
  el.localPlaceholder.textContent = !stream && reason ? 'Text-only mode' : 'Camera off';
  el.localReason.textContent = stream ? '' : reason;
}

/** The message over the video, with its "Find someone else" button. `tone`: 'problem' or 'report'. */
export function showNotice(text, { tone = 'problem' } = {}) {
  el.noticeText.textContent = text;
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
