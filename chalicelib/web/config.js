// Where the WebSocket API is and the protocol limits, from the app's `config` route.

/**
 * Fetch the page's settings. The URL is relative so that it also works behind
 * API Gateway, where the page lives at https://…/{stage}/.
 */
export async function loadConfig() {
  const response = await fetch('config', { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`config answered HTTP ${response.status}`);
  const raw = await response.json();
  return {
    websocketUrl: raw.websocket_url || sameHostUrl(raw.websocket_path || '/ws'),
    maxChatChars: Number(raw.max_chat_chars) || 1000,
    pingIntervalMs: Math.max(5, Number(raw.ping_interval_seconds) || 300) * 1000,  // the server asks for half its idle timeout
  };
}

// Without a deploy-time URL, the local gateway serves the WebSocket on the page's own host.
function sameHostUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path.startsWith('/') ? path : `/${path}`}`;
}
