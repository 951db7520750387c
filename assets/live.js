/* Pulse overview: draws the snapshot and keeps it live from /ws, all in the browser.
 * Each function is a Dash clientside callback (namespace "pulse"); no server round trip
 * happens per point. */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const SPARK_MAX = 120;
  const CHART_MAX = 900;
  const COLORS = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#198754"];
  // Plotly shows epoch numbers as UTC; shifting by the offset shows the viewer's local time.
  const local = (ts) => (window.pulseTheme ? window.pulseTheme.local(ts)
    : ts - new Date(ts).getTimezoneOffset() * 60000);

  function cursorKey(c) {
    const [ms, seq] = String(c || "0-0").split("-");
    return [Number(ms), Number(seq || 0)];
  }
  function cursorAfter(a, b) {
    if (!b) return true;
    const [am, as] = cursorKey(a), [bm, bs] = cursorKey(b);
    return am > bm || (am === bm && as > bs);
  }
  function fmt(v) {
    for (const [limit, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"]]) {
      if (Math.abs(v) >= limit) return `${Number((v / limit).toPrecision(3))}${suffix}`;
    }
    const digits = Math.abs(v) >= 1000 ? 0 : 3;
    // Ties to even, as Python's format() does for the value the page loaded with.
    return v.toLocaleString("en-US", {maximumFractionDigits: digits, roundingMode: "halfEven"});
  }
  function change(v, hourAgo) {
    // the same words as components/overview.py format_change
    if (hourAgo === null || hourAgo === undefined) return "— vs 1 h ago (no value then)";
    if (hourAgo === 0) return "— vs 1 h ago (was 0)";
    const pct = ((v - hourAgo) / Math.abs(hourAgo)) * 100;
    const arrow = pct > 0 ? "▲" : pct < 0 ? "▼" : "■";
    return `${arrow} ${Math.abs(pct).toFixed(1)}% vs 1 h ago`;
  }
  function outputIds(i) {
    const o = window.dash_clientside.callback_context.outputs_list[i];
    return (Array.isArray(o) ? o : [o]).map((x) => x.id.index);
  }
  function baseLayout(extra) {
    return Object.assign({
      margin: {l: 40, r: 10, t: 10, b: 30}, showlegend: false, hovermode: "x unified",
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: {type: "date", showgrid: false}, yaxis: {gridcolor: "#eee", zeroline: false},
      uirevision: "live",
    }, extra || {});
  }
  function visibilityListener() {
    if (window.__pulseVisibility) return;
    window.__pulseVisibility = true;
    document.addEventListener("visibilitychange", () => {
      try { window.dash_clientside.set_props("page-visible", {data: !document.hidden}); }
      catch (e) { /* not on a live page */ }
    });
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulse = {
    drawFigures(data) {
      visibilityListener();
      const cards = Object.fromEntries(data.cards.map((c) => [c.key, c]));
      const raw = {};  // recent raw points per series, for sparklines with under 2 minutes
      data.charts.forEach((c) => c.sources.forEach((s, i) => {
        raw[`${c.metric}|${s}`] = c.traces[i];
      }));
      const sparks = outputIds(0).map((key) => {
        const c = cards[key];
        const pts = c.spark.length >= 2 ? c.spark
          : (raw[key] || [[c.ts, c.value]]).slice(-SPARK_MAX);
        return {data: [{x: pts.map((p) => local(p[0])), y: pts.map((p) => p[1]), mode: "lines",
                        type: "scatter", line: {width: 1.5, color: "#0d6efd"}, fill: "tozeroy",
                        fillcolor: "rgba(13,110,253,0.08)", hoverinfo: "skip"}],
                layout: baseLayout({margin: {l: 0, r: 0, t: 2, b: 2}, hovermode: false,
                                    xaxis: {visible: false, type: "date"},
                                    yaxis: {visible: false}})};
      });
      const charts = Object.fromEntries(data.charts.map((c) => [c.metric, c]));
      const figures = outputIds(1).map((metric) => {
        const c = charts[metric];
        return {data: c.sources.map((s, i) => ({
                  name: s, type: "scatter", mode: "lines", line: {width: 1.6, color: COLORS[i % 6]},
                  x: c.traces[i].map((p) => local(p[0])), y: c.traces[i].map((p) => p[1])})),
                layout: baseLayout({showlegend: c.sources.length > 1,
                                    legend: {orientation: "h", y: -0.2}})};
      });
      const seen = Object.fromEntries(data.cards.map((c) => [c.key, c.ts]));
      const sparkAt = Object.fromEntries(data.cards.map((c) => [c.key, c.ts]));
      return [sparks, figures, {cursor: data.cursor, seen, sparkAt, epoch: data.now}];
    },

    connect(data, visible, connection) {
      if (!data || visible === false) return "";
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      // A new nonce (a reconnect) or new data (a reload) makes a new URL, hence a new socket.
      return `${proto}//${window.location.host}/ws?v=${data.now}.${connection.nonce || 0}`;
    },

    onSocketState(state, data, connection, visible, live) {
      if (!state || !data) return NO();
      if (state.readyState === 1) {
        const nonce = (connection && connection.nonce) || 0;
        window.dash_clientside.set_props("connection", {data: {attempt: 0, nonce, open: true}});
        const metrics = data.charts.map((c) => c.metric)
          .concat(data.cards.map((c) => c.metric));
        // Subscribing with the cursor replays what was missed before going live, in order.
        // The WebSocket component drops a `send` equal to the previous one, so each socket's
        // subscribe carries its open time (the gateway ignores the field).
        return JSON.stringify({type: "subscribe", metrics: Array.from(new Set(metrics)),
                               sources: ["*"], cursor: (live && live.cursor) || data.cursor,
                               opened: state.timeStamp});
      }
      if (state.readyState === 3 && visible !== false) {
        // Reconnect with exponential backoff and jitter; resume picks up from the cursor.
        const attempt = (connection && connection.attempt) || 0;
        const nonce = ((connection && connection.nonce) || 0) + 1;
        const delay = Math.min(30000, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
        setTimeout(() => window.dash_clientside.set_props(
          "connection", {data: {attempt: attempt + 1, nonce, open: false}}), delay);
      }
      return NO();
    },

    onMessage(message, data, live, reload) {
      const skip = [outputIds(0).map(NO), outputIds(1).map(NO), outputIds(2).map(NO),
                    outputIds(3).map(NO), NO(), NO()];
      if (!message || !data) return skip;
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return skip; }
      if (msg.type === "reset") { skip[5] = (reload || 0) + 1; return skip; }
      if (msg.type !== "points" || !cursorAfter(msg.cursor, live.cursor)) return skip;
      const seen = Object.assign({}, live.seen), sparkAt = Object.assign({}, live.sparkAt);
      const newest = {}, sparkNew = {}, chartNew = {};
      const cards = Object.fromEntries(data.cards.map((c) => [c.key, c]));
      const charts = Object.fromEntries(data.charts.map((c) => [c.metric, c]));
      for (const p of msg.points) {
        const key = `${p.metric}|${p.source}`;
        if (seen[key] !== undefined && p.ts <= seen[key]) continue;  // already drawn
        seen[key] = p.ts;
        newest[key] = p;
        if (cards[key] && p.ts - (sparkAt[key] || 0) >= 60000) {
          sparkAt[key] = p.ts;
          (sparkNew[key] = sparkNew[key] || []).push(p);
        }
        const chart = charts[p.metric];
        const trace = chart ? chart.sources.indexOf(p.source) : -1;
        if (trace >= 0) {
          const byTrace = (chartNew[p.metric] = chartNew[p.metric] || {});
          (byTrace[trace] = byTrace[trace] || []).push(p);
        }
      }
      const values = outputIds(0).map((k) => newest[k] ? fmt(newest[k].value) : NO());
      const changes = outputIds(1).map((k) => newest[k] ? change(newest[k].value,
        cards[k].hour_ago) : NO());
      const sparks = outputIds(2).map((k) => sparkNew[k] ? [
        {x: [sparkNew[k].map((p) => local(p.ts))], y: [sparkNew[k].map((p) => p.value)]},
        [0], SPARK_MAX] : NO());
      const lines = outputIds(3).map((metric) => {
        const byTrace = chartNew[metric];
        if (!byTrace) return NO();
        const traces = Object.keys(byTrace).map(Number);
        return [{x: traces.map((t) => byTrace[t].map((p) => local(p.ts))),
                 y: traces.map((t) => byTrace[t].map((p) => p.value))}, traces, CHART_MAX];
      });
      return [values, changes, sparks, lines,
              {cursor: msg.cursor, seen, sparkAt, epoch: live.epoch}, NO()];
    },

    freshness(_n, live, data, state, visible) {
      const out = [outputIds(0).map(() => "…"), outputIds(1).map(() => "secondary"),
                   outputIds(2).map(() => "…"), outputIds(3).map(() => "secondary"),
                   "connecting", "secondary"];
      if (!data || !live) return out;
      const open = state && state.readyState === 1;
      const now = Date.now();
      const cards = Object.fromEntries(data.cards.map((c) => [c.key, c]));
      const status = (keys) => {
        if (document.hidden || visible === false) return ["paused", "secondary"];
        if (!open) return ["reconnecting", "warning"];
        const fresh = keys.some((k) => {
          const c = cards[k];
          const last = (live.seen || {})[k];
          return c && last !== undefined && now - last <= 2 * c.interval_ms + 1000;
        });
        return fresh ? ["live", "success"] : ["stale", "danger"];
      };
      const cardStatus = outputIds(0).map((k) => status([k]));
      const chartStatus = outputIds(2).map((metric) => {
        const c = data.charts.find((x) => x.metric === metric);
        return status(c ? c.sources.map((s) => `${metric}|${s}`) : []);
      });
      const [label, color] = document.hidden || visible === false ? ["paused", "secondary"]
        : open ? ["live", "success"] : ["reconnecting", "warning"];
      return [cardStatus.map((s) => s[0]), cardStatus.map((s) => s[1]),
              chartStatus.map((s) => s[0]), chartStatus.map((s) => s[1]), label, color];
    },
  };
})();
