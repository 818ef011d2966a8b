// "N people online" in the header, from the app's `stats` route, refreshed while the page is seen.

const REFRESH_MS = 15_000;
// The server lets the answer be cached for 5 s; a refresh after our own change waits that out.
const AFTER_CHANGE_MS = 5_500;

/**
 * Keep `line` showing how many people are online; hidden whenever the figure is unavailable.
 * Returns `soon()`, to call when this page joins or leaves, so its own change shows quickly.
 */
export function watchOnlineCount(line, text) {
  let inFlight = false;
  let soonTimer = null;

  async function refresh() {
    if (document.hidden || inFlight) return;
    inFlight = true;
    try {
      // Relative, for the API Gateway stage.
      const response = await fetch('stats', { headers: { Accept: 'application/json' } });
      const online = response.ok ? Number((await response.json()).online) : NaN;
      if (!Number.isInteger(online) || online < 0) throw new Error(`stats answered HTTP ${response.status}`);
      text.textContent = online === 1 ? '1 person online' : `${online.toLocaleString('en')} people online`;
      line.hidden = false;
    } catch {
      line.hidden = true; // a figure we cannot trust is worse than none
    } finally {
      inFlight = false;
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
  document.addEventListener('visibilitychange', refresh);
  return function soon() {
    clearTimeout(soonTimer);
    soonTimer = setTimeout(refresh, AFTER_CHANGE_MS);
  };
}
