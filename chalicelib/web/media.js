// The local camera and microphone, with a text-only fallback when there are none.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

// Errors after which trying a smaller set of devices can still succeed.
const RETRY_SMALLER = new Set(['NotFoundError', 'NotReadableError', 'OverconstrainedError', 'AbortError']);

/**
 * Ask for camera and microphone. Resolves to `{ stream, reason }`: `stream` is null in
 * text-only mode and `reason` then says why, in words for the user.
 */
export async function openLocalMedia() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, reason: 'This browser cannot use a camera on this page (it needs HTTPS).' };
  }
  let lastError = null;
  for (const constraints of [{ video: VIDEO, audio: AUDIO }, { video: VIDEO }, { audio: AUDIO }]) {
    try {
      return { stream: await navigator.mediaDevices.getUserMedia(constraints), reason: '' };
    } catch (error) {
      lastError = error;
      if (!RETRY_SMALLER.has(error.name)) break;
    }
  }
  return { stream: null, reason: describe(lastError) };
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

function describe(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera and microphone permission was denied.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found.';
    case 'NotReadableError':
      return 'The camera is in use by another application.';
    default:
      return 'The camera could not be started.';
  }
}
