/* Pulse dashboards: edit mode's toggle, and the page's one /ws socket keeping its live
 * widgets live (kpi, line, area, table, notifications). Each function is a Dash clientside
 * callback (namespace "pulseDash"); no server round trip happens per point. */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const CHART_MAX = 1500;
  const TABLE_ROWS = 20;

  function outputIds(i) {
    const o = window.dash_clientside.callback_context.outputs_list[i];
    return (Array.isArray(o) ? o : [o]).map((x) => x.id.index);
  }
  // `*` matches any run, as the server's globs do (data/domain/patterns.py)
  function globMatch(pattern, name) {
    if (pattern.indexOf("*") < 0) return pattern === name;
    const parts = pattern.split("*");
    if (!name.startsWith(parts[0]) || !name.endsWith(parts[parts.length - 1])) return false;
    let at = parts[0].length;
    const end = name.length - parts[parts.length - 1].length;
    for (const part of parts.slice(1, -1)) {
      const found = name.indexOf(part, at);
      if (found < 0 || found + part.length > end) return false;
      at = found + part.length;
    }
    return at <= end;
  }
  function wants(widget, p) {
    return widget.metrics.some((m) => globMatch(m, p.metric)) &&
      (!widget.sources.length || widget.sources.some((s) => globMatch(s, p.source)));
  }
  function fmt(v) {
    for (const [limit, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"]]) {
      if (Math.abs(v) >= limit) return `${Number((v / limit).toPrecision(3))}${suffix}`;
    }
    const digits = Math.abs(v) >= 1000 ? 0 : 3;
    return v.toLocaleString("en-US", {maximumFractionDigits: digits, roundingMode: "halfEven"});
  }
  function cell(text) {
    return {namespace: "dash_html_components", type: "Td", props: {children: text}};
  }
  function tableRows(latest) {
    return Object.keys(latest).sort().slice(0, TABLE_ROWS).map((key) => {
      const [ts, value] = latest[key];
      // the time of day in the user's zone (assets/theme.js), as the server drew it
      const wall = window.pulseTheme ? window.pulseTheme.local(ts) : ts;
      const when = new Date(wall).toISOString().slice(11, 19);
      return {namespace: "dash_html_components", type: "Tr",
              props: {children: [cell(key.replace("|", " · ")), cell(fmt(value)), cell(when)]}};
    });
  }
  function noteRows(notes) {
    return notes.slice(0, 8).map((n) => ({
      namespace: "dash_html_components", type: "Li",
      props: {className: "small mb-1", children: [
        {namespace: "dash_bootstrap_components", type: "Badge",
         props: {children: n.severity, color: n.state === "firing" ? "danger" : "success"}},
        " ", n.message]}}));
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseDash = {
    toggleEdit(clicks, editing) {
      if (!clicks) return [NO(), NO(), NO(), NO(), NO()];  // a new button, not a click
      const on = !editing;
      return [on, on ? "pulse-editing" : "", on, on, on ? "Done" : "Edit"];
    },

    countReload(clicks, count) {
      return clicks ? (count || 0) + 1 : NO();
    },

    connect(plan, connection) {
      if (!plan || !plan.widgets.length) return "";
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      return `${proto}//${window.location.host}/ws?v=${plan.rev}.${(connection && connection.nonce) || 0}`;
    },

    onSocketState(state, plan, connection, live) {
      if (!state || !plan) return NO();
      if (state.readyState === 1) {
        window.__pulseDashOpen = plan.rev;
        if (!plan.metrics.length) return NO();  // notifications reach every socket anyway
        const cursor = (live && live.rev === plan.rev && live.cursor) || plan.cursor;
        return JSON.stringify({type: "subscribe", metrics: plan.metrics, sources: ["*"],
                               cursor: cursor || undefined, opened: state.timeStamp});
      }
      if (state.readyState === 3) {
        const attempt = (connection && connection.attempt) || 0;
        const nonce = ((connection && connection.nonce) || 0) + 1;
        const delay = Math.min(30000, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
        setTimeout(() => window.dash_clientside.set_props(
          "dash-connection", {data: {attempt: attempt + 1, nonce}}), delay);
      }
      return NO();
    },

    onMessage(message, plan, live) {
      const figs = outputIds(0), kpis = outputIds(1), rows = outputIds(2);
      const skip = [figs.map(NO), kpis.map(NO), rows.map(NO), NO()];
      if (!message || !plan) return skip;
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return skip; }
      const state = (live && live.rev === plan.rev) ? live : {rev: plan.rev, seen: {},
        latest: Object.fromEntries(plan.widgets.map((w) => [w.id, Object.assign({}, w.latest)])),
        notes: Object.assign({}, plan.rows || {})};
      const widgets = Object.fromEntries(plan.widgets.map((w) => [w.id, w]));
      if (msg.type === "notification") {
        const out = rows.map((id) => {
          const w = widgets[id];
          if (!w || w.type !== "notifications") return NO();
          state.notes[id] = [msg.notification].concat(state.notes[id] || []).slice(0, 8);
          return noteRows(state.notes[id]);
        });
        return [figs.map(NO), kpis.map(NO), out, state];
      }
      if (msg.type !== "points") return skip;
      state.cursor = msg.cursor;
      const fresh = msg.points.filter((p) => {
        const key = `${p.metric}|${p.source}`;
        if (state.seen[key] !== undefined && p.ts <= state.seen[key]) return false;
        state.seen[key] = p.ts;
        return true;
      });
      if (!fresh.length) return skip;
      const figOut = figs.map((id) => {
        const w = widgets[id];
        if (!w || (w.type !== "line" && w.type !== "area")) return NO();
        const byTrace = {};
        fresh.forEach((p) => {
          const i = w.traces.indexOf(`${p.metric}|${p.source}`);
          if (i >= 0 && wants(w, p)) (byTrace[i] = byTrace[i] || []).push(p);
        });
        const traces = Object.keys(byTrace).map(Number);
        if (!traces.length) return NO();
        return [{x: traces.map((i) => byTrace[i].map((p) => p.ts)),
                 y: traces.map((i) => byTrace[i].map((p) => p.value))}, traces, CHART_MAX];
      });
      const kpiOut = kpis.map((id) => {
        const w = widgets[id];
        const mine = w ? fresh.filter((p) => wants(w, p)) : [];
        return mine.length ? fmt(mine[mine.length - 1].value) : NO();
      });
      const rowOut = rows.map((id) => {
        const w = widgets[id];
        if (!w || w.type !== "table") return NO();
        const mine = fresh.filter((p) => wants(w, p));
        if (!mine.length) return NO();
        const latest = (state.latest[id] = state.latest[id] || {});
        mine.forEach((p) => { latest[`${p.metric}|${p.source}`] = [p.ts, p.value]; });
        return tableRows(latest);
      });
      return [figOut, kpiOut, rowOut, state];
    },
  };
})();
