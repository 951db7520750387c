/* Pulse notifications in every page's shell: one /ws socket per tab whose `notification`
 * messages open a toast and set the navbar's unread badge, in the browser (no server round
 * trip per message). Each function is a Dash clientside callback (namespace "pulseNotify"). */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const HOUR = 3600000, QUARTER = 900000;
  const COLOR = {critical: "danger", warning: "warning", info: "info"};
  let attempt = 0;

  function rfc3339(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"); }

  // The /explore view of the notification's series around the moment it fired; the same
  // link as components/notifications.py chart_link.
  function chartLink(n) {
    const at = Date.parse(n.timestamp);
    const q = new URLSearchParams();
    q.append("metric", n.metric);
    if (n.source) q.append("source", n.source);
    if (!Number.isNaN(at)) {
      q.append("start", rfc3339(at - HOUR));
      q.append("end", rfc3339(at + QUARTER));
    }
    return `/explore?${q.toString()}`;
  }

  function badge(unread) { return unread > 0 ? (unread > 99 ? "99+" : String(unread)) : ""; }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseNotify = {
    chartLink,
    badge,

    connect(connection) {
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      return `${proto}//${window.location.host}/ws?shell=${(connection && connection.nonce) || 0}`;
    },

    onSocketState(state, connection) {
      if (!state) return NO();
      window.__pulseShellOpen = state.readyState === 1;  // for tests and diagnostics
      if (state.readyState === 1) attempt = 0;
      if (state.readyState === 3) {
        // Reconnect with exponential backoff and jitter: a new nonce is a new socket.
        const nonce = ((connection && connection.nonce) || 0) + 1;
        const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.75 + Math.random() / 2);
        attempt += 1;
        setTimeout(() => window.dash_clientside.set_props(
          "shell-connection", {data: {nonce}}), delay);
      }
      return NO();
    },

    onMessage(message) {
      // The last output is pattern-matching (one store per page that lists notifications,
      // none on the others): one value per matched store.
      const perPage = (value) => window.dash_clientside.callback_context.outputs_list[6]
        .map(() => value);
      const skip = [NO(), NO(), NO(), NO(), NO(), NO(), perPage(NO())];
      if (!message) return skip;
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return skip; }
      if (msg.type !== "notification" || !msg.notification) return skip;
      const n = msg.notification;
      const resolved = n.state === "resolved";
      const level = n.severity || "info";
      const header = resolved ? `Resolved · ${level}` : `${level[0].toUpperCase()}${level.slice(1)}`;
      const unread = msg.unread === undefined ? NO() : badge(msg.unread);
      return [true, header, resolved ? "success" : (COLOR[level] || "secondary"), n.message,
              chartLink(n), unread, perPage({id: n.notification_id, at: Date.now()})];
    },
  };
})();
