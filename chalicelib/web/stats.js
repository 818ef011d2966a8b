// "N people online" in the header, from the app's `stats` route, refreshed while the page is seen.
//
// The server's figure may be up to 7 s old (it is cached), so on its own it can say "0 people
// online" to someone who is online and talking to a stranger. The page knows a lower bound (us,
// and our stranger) and never shows less; and it never shows "0 people online" at all.

const REFRESH_MS = 15_000;
// The server lets the answer be cached for 5 s, after computing it at most once per 2 s for
// everyone (STATS_CACHE_SECONDS); a refresh after our own change waits both out.
const AFTER_CHANGE_MS = 7_500;

/**
 * Keep `line` showing how many people are online; hidden whenever the figure is unavailable.
 * `atLeast()` is how many the page itself knows to be online. Returns `changed()`, to call when
 * that number may have changed: it shows at once and asks the server again once its cache ran out.
 */
export function watchOnlineCount(line, text, atLeast) {
  let inFlight = false;
  let soonTimer = null;
  let reported = NaN; // the server's last figure; NaN when it could not be had

  function show() {
    if (!Number.isInteger(reported)) {
      line.hidden = true; // a figure we cannot trust is worse than none
      return;
    }
    const online = Math.max(reported, atLeast());
    // "0 people online" greets a first visitor with an empty room: say nothing rather than that.
    if (online === 0) {
      line.hidden = true;
      text.textContent = '';
      return;
    }
    text.textContent = online === 1 ? '1 person online' : `${online.toLocaleString('en')} people online`;
    line.hidden = false;
  }

  async function refresh() {
    if (document.hidden || inFlight) return;
    inFlight = true;
    try {
      // Relative, for the API Gateway stage.
      const response = await fetch('stats', { headers: { Accept: 'application/json' } });
      const online = response.ok ? Number((await response.json()).online) : NaN;
      reported = Number.isInteger(online) && online >= 0 ? online : NaN;
    } catch {
      reported = NaN;
    } finally {
      inFlight = false;
    }
    show();
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
  document.addEventListener('visibilitychange', refresh);
  return function changed() {
    show();
    clearTimeout(soonTimer);
    soonTimer = setTimeout(refresh, AFTER_CHANGE_MS);
  };
}
