// The local camera and microphone, with a text-only fallback when there are none.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

// Errors after which trying a smaller set of devices can still succeed.
const RETRY_SMALLER = new Set(['NotFoundError', 'NotReadableError', 'OverconstrainedError', 'AbortError']);

const NO_MEDIA = 'This browser cannot use a camera on this page (it needs HTTPS).';

// The camera and microphone last chosen, asked for first next time (when that one has gone, the
// usual devices are asked for). Nothing else about the person is stored.
const CHOSEN = { video: 'rvc.camera', audio: 'rvc.microphone' };

/** Remember `deviceId` as the `kind` ('audio' or 'video') to use from now on. */
export function rememberDevice(kind, deviceId) {
  try {
    localStorage.setItem(CHOSEN[kind], deviceId);
  } catch {
    // Storage may be off (private mode, policy): the choice then lasts until the page closes.
  }
}

function chosen(kind) {
  try {
    return localStorage.getItem(CHOSEN[kind]) ?? '';
  } catch {
    return '';
  }
}

// The constraints for `kind`, from the device chosen last (`remembered`) or any.
function wanted(kind, remembered = true) {
  const base = kind === 'video' ? VIDEO : AUDIO;
  const id = remembered ? chosen(kind) : '';
  return id ? { ...base, deviceId: { exact: id } } : base;
}

/**
 * Ask for camera and microphone. Resolves to `{ stream, reason }`: `stream` is null in
 * text-only mode and `reason` then says why, in words for the user.
 */
export async function openLocalMedia() {
  if (!navigator.mediaDevices?.getUserMedia) return { stream: null, reason: NO_MEDIA };
  let lastError = null;
  const video = wanted('video', false);
  const audio = wanted('audio', false);
  const attempts = [{ video, audio }, { video }, { audio }];
  if (chosen('video') || chosen('audio')) attempts.unshift({ video: wanted('video'), audio: wanted('audio') });
  for (const constraints of attempts) {
    try {
      return { stream: await navigator.mediaDevices.getUserMedia(constraints), reason: '' };
    } catch (error) {
      lastError = error;
      if (!RETRY_SMALLER.has(error.name)) break;
    }
  }
  return { stream: null, reason: describe(lastError) };
}

/**
 * One track of `kind` ('audio' or 'video'), from device `deviceId` when given. Resolves to
 * `{ track, reason }`: `track` is null when it could not be had, and `reason` says why.
 */
export async function openTrack(kind, deviceId = '') {
  if (!navigator.mediaDevices?.getUserMedia) return { track: null, reason: NO_MEDIA };
  const base = kind === 'video' ? VIDEO : AUDIO;
  const attempts = deviceId ? [{ ...base, deviceId: { exact: deviceId } }] : chosen(kind) ? [wanted(kind), base] : [base];
  let lastError = null;
  for (const constraints of attempts) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
      return { track: stream.getTracks()[0] ?? null, reason: '' };
    } catch (error) {
      lastError = error;
      if (!RETRY_SMALLER.has(error.name)) break;
    }
  }
  return { track: null, reason: describe(lastError, kind) };
}

/** The cameras and microphones the browser lists, as `{ video: [{id, label}], audio: [...] }`. */
export async function listDevices() {
  const found = { video: [], audio: [] };
  if (!navigator.mediaDevices?.enumerateDevices) return found;
  for (const device of await navigator.mediaDevices.enumerateDevices()) {
    const kind = device.kind === 'videoinput' ? 'video' : device.kind === 'audioinput' ? 'audio' : null;
    if (kind === null || !device.deviceId) continue;
    const number = found[kind].length + 1;
    found[kind].push({ id: device.deviceId, label: device.label || `${kind === 'video' ? 'Camera' : 'Microphone'} ${number}` });
  }
  return found;
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

function describe(error, kind = null) {
  const what = kind === 'video' ? 'camera' : kind === 'audio' ? 'microphone' : 'camera and microphone';
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `${capitalise(what)} permission was denied.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return kind ? `No ${what} was found.` : 'No camera or microphone was found.';
    case 'NotReadableError':
      return `The ${kind === 'audio' ? 'microphone' : 'camera'} is in use by another application.`;
    default:
      return `The ${what} could not be started.`;
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
