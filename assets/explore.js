/* Pulse explore: the address bar, the filter toggle and the live tail, all in the browser.
 * Each function is a Dash clientside callback (namespace "pulseExplore"). The live tail:
 * the server answers the query with the tenant's live cursor read *before* it; the page
 * subscribes on /ws from that cursor, so nothing is missed, and drops every point at or
 * before the last one drawn for its series, so nothing is drawn twice. */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const MAX_POINTS = 10000;  // per trace; older points scroll out as live ones arrive
  const RELOAD_EVERY_MS = 6000;  // a new series reloads the view at most this often
  // Plotly shows epoch numbers as UTC; shifting by the offset shows the viewer's local time
  // of the user's zone (the server draws the history the same way, in timeZone()'s zone).
  const local = (ts) => (window.pulseTheme ? window.pulseTheme.local(ts)
    : ts - new Date(ts).getTimezoneOffset() * 60000);

  function cursorAfter(a, b) {
    if (!b) return true;
    const [am, as] = String(a).split("-").map(Number), [bm, bs] = String(b).split("-").map(Number);
    return am > bm || (am === bm && as > bs);
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseExplore = {
    timeZone() {  // the user's preference (assets/theme.js), else the browser's
      if (window.pulseTheme) return window.pulseTheme.zone();
      try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
      catch (e) { return "UTC"; }
    },

    toggle(n, open) { return n ? !open : open; },

    writeSearch(search) {
      // replaceState, not pushState: a filter change is not a page to go back to
      const loc = window.location;
      if (search && loc.pathname === "/explore" && loc.search !== search) {
        window.history.replaceState(window.history.state, "", loc.pathname + search + loc.hash);
      }
      return NO();
    },

    connect(live, connection) {
      if (!live) return "";
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      // a new query or a reconnect makes a new URL, hence a new socket
      return `${proto}//${window.location.host}/ws?explore=${live.nonce}.` +
        `${(connection && connection.nonce) || 0}`;
    },

    onSocketState(state, live, liveState, connection) {
      if (!state || !live) return NO();
      const nonce = (connection && connection.nonce) || 0;
      if (state.readyState === 1) {
        window.dash_clientside.set_props("explore-connection", {data: {attempt: 0, nonce}});
        const mine = liveState && liveState.nonce === live.nonce;
        // `opened` makes each socket's subscribe differ (the component drops a repeated send)
        return JSON.stringify({type: "subscribe", metrics: live.metrics, sources: live.sources,
                               cursor: (mine && liveState.cursor) || live.cursor,
                               opened: state.timeStamp});
      }
      if (state.readyState === 3) {
        const attempt = (connection && connection.attempt) || 0;
        const delay = Math.min(30000, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
        setTimeout(() => window.dash_clientside.set_props(
          "explore-connection", {data: {attempt: attempt + 1, nonce: nonce + 1}}), delay);
      }
      return NO();
    },

    onMessage(message, live, liveState, reload) {
      if (!message || !live) return [NO(), NO(), NO()];
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return [NO(), NO(), NO()]; }
      if (msg.type === "reset") return [NO(), NO(), (reload || 0) + 1];
      const mine = liveState && liveState.nonce === live.nonce;
      const state = mine ? liveState : {nonce: live.nonce, cursor: live.cursor, last: live.last,
                                        reloadedAt: liveState && liveState.reloadedAt};
      if (msg.type !== "points" || !cursorAfter(msg.cursor, state.cursor)) {
        return [NO(), mine ? NO() : state, NO()];
      }
      const last = Object.assign({}, state.last), byTrace = {};
      let unknown = false;
      for (const p of msg.points) {
        const key = `${p.metric}|${p.source}`;
        const trace = live.traces.indexOf(key);
        if (trace < 0) { unknown = true; continue; }
        if (last[key] !== undefined && p.ts <= last[key]) continue;  // already drawn
        last[key] = p.ts;
        (byTrace[trace] = byTrace[trace] || []).push(p);
      }
      const next = {nonce: live.nonce, cursor: msg.cursor, last, reloadedAt: state.reloadedAt};
      let bump = NO();
      if (unknown && Date.now() - (state.reloadedAt || 0) > RELOAD_EVERY_MS) {
        next.reloadedAt = Date.now();  // a series the chart has no trace for yet: redraw
        bump = (reload || 0) + 1;
      }
      const traces = Object.keys(byTrace).map(Number);
      const extend = traces.length ? [{
        x: traces.map((t) => byTrace[t].map((p) => local(p.ts))),
        y: traces.map((t) => byTrace[t].map((p) => p.value)),
      }, traces, MAX_POINTS] : NO();
      return [extend, next, bump];
    },

    status(state, live) {
      if (!live) return ["", "secondary"];
      if (state && state.readyState === 1) return ["live", "success"];
      if (state && state.readyState === 3) return ["reconnecting", "warning"];
      return ["connecting", "secondary"];
    },
  };
})();
