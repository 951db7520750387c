// The embed page (app/web/embed.py): loads its resource's data with the token of its own
// URL, draws each widget with plotly.js, then extends them with live points from /ws opened
// by the same token. No cookie is used or needed. A notifications widget lists the tenant's
// latest notifications (read-only), asked again every NOTES_EVERY_MS: an embed's socket
// carries no notifications, being nobody's. When the token is revoked or expires the
// socket is closed by the server and the page says so.
(function () {
  "use strict";
  var token = decodeURIComponent(location.pathname.split("/")[2] || "");
  var root = document.getElementById("embed-root");
  var message = document.getElementById("embed-message");
  var widgets = [];
  var livePoints = 0;
  var stopped = false;
  var MAX_POINTS = 1500;
  var NOTES_EVERY_MS = 10000;
  var TEXTS = { revoked: "This embed was revoked.", expired: "This embed has expired.",
                invalid: "This embed link is not valid." };

  function setState(state, text) {
    document.body.setAttribute("data-state", state);
    message.textContent = text || "";
  }

  function stop(reason) {
    stopped = true;
    setState(reason, TEXTS[reason] || "This embed is no longer available.");
  }

  function glob(patterns) {
    var res = patterns.map(function (p) {
      return new RegExp("^" + p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*+/g, ".*") + "$");
    });
    return function (name) {
      return res.length === 0 || res.some(function (re) { return re.test(name); });
    };
  }

  function reasonOf(response) {
    return response.json().then(function (body) {
      var code = (body && body.error && body.error.code) || "";
      return code.indexOf("embed_") === 0 ? code.slice(6) : "invalid";
    }, function () { return "invalid"; });
  }

  // Drawn as the dashboard page draws them (components/dashboard_widgets.py): its colours,
  // its number format (components/overview.py format_value, as assets/dashboards.js has it)
  var COLORS = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#198754"];
  var TABLE_ROWS = 20;

  function nameOf(series) { return series.metric + " · " + series.source; }

  function fmt(v) {
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"]];
    for (var i = 0; i < units.length; i += 1) {
      if (Math.abs(v) >= units[i][0]) { return Number((v / units[i][0]).toPrecision(3)) + units[i][1]; }
    }
    var digits = Math.abs(v) >= 1000 ? 0 : 3;
    return v.toLocaleString("en-US", { maximumFractionDigits: digits, roundingMode: "halfEven" });
  }

  function traceOf(series, type, i) {
    var color = COLORS[i % COLORS.length];
    var trace = {
      x: series.points.map(function (p) { return new Date(p[0]); }),
      y: series.points.map(function (p) { return p[1]; }),
      name: nameOf(series),
    };
    if (type === "bar") {
      trace.type = "bar";
      trace.marker = { color: color };
    } else {
      trace.type = "scatter";
      trace.mode = "lines";
      trace.line = { width: 1.6, color: color };
      if (type === "area") { trace.fill = "tozeroy"; }
    }
    return trace;
  }

  function place(el, layout) {
    el.style.gridColumn = (layout.x + 1) + " / span " + layout.w;
    el.style.gridRow = "span " + Math.max(1, layout.h);
    el.style.minHeight = Math.max(160, layout.h * 40) + "px";
  }

  function lastValue(series) {
    var last = null;
    series.forEach(function (s) {
      var p = s.points[s.points.length - 1];
      if (p && (last === null || p[0] >= last[0])) { last = p; }
    });
    return last ? last[1] : null;
  }

  function drawKpi(w) {
    var value = lastValue(w.series);
    w.valueEl.textContent = value === null ? "—" : fmt(value);
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  // one row per series: its newest value and when (UTC time of day)
  function drawTable(w) {
    var table = document.createElement("table");
    table.className = "embed-table";
    w.series.slice(0, TABLE_ROWS).forEach(function (s) {
      var last = s.points[s.points.length - 1];
      var row = document.createElement("tr");
      row.appendChild(cell(nameOf(s)));
      row.appendChild(cell(last && last[1] !== null ? fmt(last[1]) : "—"));
      row.appendChild(cell(last ? new Date(last[0]).toISOString().slice(11, 19) : ""));
      table.appendChild(row);
    });
    w.body.replaceChildren(table);
  }

  // series by row, buckets by column, the value as colour (as components/dashboard_widgets.py)
  function heatmapTrace(w) {
    var seen = {};
    w.series.forEach(function (s) { s.points.forEach(function (p) { seen[p[0]] = true; }); });
    var xs = Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
    var column = {};
    xs.forEach(function (ts, i) { column[ts] = i; });
    var z = w.series.map(function (s) {
      var row = xs.map(function () { return null; });
      s.points.forEach(function (p) { row[column[p[0]]] = p[1]; });
      return row;
    });
    return { type: "heatmap", x: xs.map(function (ts) { return new Date(ts); }),
             y: w.series.map(nameOf), z: z };
  }

  function drawNotes(w) {
    var list = document.createElement("ul");
    list.className = "embed-notes";
    if (w.notes.length === 0) {
      var none = document.createElement("li");
      none.textContent = "No notifications.";
      list.appendChild(none);
    }
    w.notes.forEach(function (n) {
      var li = document.createElement("li");
      var badge = document.createElement("span");
      badge.className = "embed-badge embed-" + (n.state === "firing" ? "firing" : "resolved");
      badge.textContent = n.severity;
      li.appendChild(badge);
      li.appendChild(document.createTextNode(" " + n.message));
      list.appendChild(li);
    });
    w.body.replaceChildren(list);
    w.body.setAttribute("data-count", String(w.notes.length));
  }

  function drawChart(w) {
    if (w.type === "heatmap") {
      var layout = Object.assign({}, w.layout, { showlegend: false, hovermode: "closest",
                                                 yaxis: { automargin: true } });
      Plotly.react(w.body, [heatmapTrace(w)], layout, w.config);
      return;
    }
    if (w.type === "pie") {
      // each series' share of the total of its buckets over the range
      var labels = w.series.map(nameOf);
      var values = w.series.map(function (s) {
        return s.points.reduce(function (sum, p) { return p[1] === null ? sum : sum + p[1]; }, 0);
      });
      var pie = { type: "pie", labels: labels, values: values, hole: 0.4 };
      var round = Object.assign({}, w.layout, { showlegend: true, hovermode: "closest" });
      Plotly.react(w.body, [pie], round, w.config);
      return;
    }
    var traces = w.series.map(function (s, i) { return traceOf(s, w.type, i); });
    var legend = { showlegend: w.series.length > 1 };
    Plotly.react(w.body, traces, Object.assign({}, w.layout, legend), w.config);
  }

  function draw(w) {
    if (w.type === "kpi") { drawKpi(w); }
    else if (w.type === "table") { drawTable(w); }
    else if (w.type === "notifications") { drawNotes(w); }
    else { drawChart(w); }
  }

  // ?theme=dark (the server marks <html>): the dark palette of Pulse's pages (assets/theme.js)
  function themed(layout) {
    if (document.documentElement.getAttribute("data-theme") !== "dark") { return layout; }
    var axis = { gridcolor: "#343a40", linecolor: "#495057", zerolinecolor: "#495057" };
    return Object.assign(layout, {
      paper_bgcolor: "#212529", plot_bgcolor: "#212529", font: { color: "#dee2e6" },
      xaxis: Object.assign({}, layout.xaxis, axis), yaxis: Object.assign({}, layout.yaxis, axis),
    });
  }

  function build(doc) {
    root.innerHTML = "";
    root.appendChild(message);
    doc.widgets.forEach(function (spec) {
      var el = document.createElement("section");
      el.className = "embed-widget";
      el.id = "embed-widget-" + spec.id;
      place(el, spec.layout);
      var title = document.createElement("h2");
      title.textContent = spec.title || (spec.scope.metric || []).join(", ");
      el.appendChild(title);
      var body = document.createElement("div");
      body.className = spec.type === "kpi" ? "embed-kpi"
        : spec.type === "notifications" ? "embed-list" : "embed-chart";
      el.appendChild(body);
      root.appendChild(el);
      var w = { id: spec.id, type: spec.type, live: spec.live, series: spec.series, body: body,
                valueEl: body, metricOk: glob(spec.scope.metric), sourceOk: glob(spec.scope.source),
                locked: doc.locked_sources, step: spec.step_ms || null, notes: spec.notifications || [],
                buckets: {},
                layout: themed({ margin: { l: 40, r: 10, t: 10, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)",
                          plot_bgcolor: "rgba(0,0,0,0)", hovermode: "x unified", uirevision: "live",
                          legend: { orientation: "h", y: -0.25 },
                          xaxis: { type: "date", showgrid: false },
                          yaxis: { gridcolor: "#eee", zeroline: false } }),
                config: { displayModeBar: false, responsive: true, staticPlot: false } };
      widgets.push(w);
      draw(w);
    });
  }

  function wants(w, point) {
    if (!w.live || !w.metricOk(point.metric) || !w.sourceOk(point.source)) { return false; }
    return w.locked.length === 0 || w.locked.indexOf(point.source) >= 0;
  }

  // A heatmap's live point joins its bucket, folded as the query's agg folds it; a bucket
  // the history already drew counts that value as one sample (exact again on reload).
  function fold(w, series, point) {
    var bucket = Math.floor(point.ts / w.step) * w.step;
    var last = series.points[series.points.length - 1];
    var key = series.metric + "|" + series.source;
    var acc = w.buckets[key];
    if (!acc || acc.ts !== bucket) {
      acc = w.buckets[key] = { ts: bucket, n: 0, sum: 0, min: Infinity, max: -Infinity };
      if (last && last[0] === bucket && last[1] !== null) { take(acc, last[1]); }
    }
    take(acc, point.value);
    var agg = series.agg || "avg";
    var value = agg === "sum" ? acc.sum : agg === "min" ? acc.min : agg === "max" ? acc.max
      : agg === "count" ? acc.n : agg === "last" ? point.value : acc.sum / acc.n;
    if (last && last[0] === bucket) { last[1] = value; return; }
    series.points.push([bucket, value]);
  }

  function take(acc, v) {
    acc.n += 1; acc.sum += v; acc.min = Math.min(acc.min, v); acc.max = Math.max(acc.max, v);
  }

  function addPoint(w, point) {
    var series = w.series.find(function (s) { return s.metric === point.metric && s.source === point.source; });
    if (!series) {
      series = { metric: point.metric, source: point.source, points: [] };
      w.series.push(series);
    }
    if (w.type === "heatmap" && w.step) { fold(w, series, point); }
    else { series.points.push([point.ts, point.value]); }
    if (series.points.length > MAX_POINTS) { series.points.shift(); }
  }

  function onPoints(points) {
    var touched = {};
    points.forEach(function (point) {
      widgets.forEach(function (w) {
        if (wants(w, point)) { addPoint(w, point); touched[w.id] = w; }
      });
    });
    Object.keys(touched).forEach(function (id) { draw(touched[id]); });
    livePoints += points.length;
    document.body.setAttribute("data-live-points", String(livePoints));
  }

  function patterns() {
    var out = {};
    widgets.forEach(function (w) {
      if (w.live && w.type !== "notifications") {
        (w.scopeMetrics || []).forEach(function (m) { out[m] = true; });
      }
    });
    return Object.keys(out);
  }

  function connect(metrics, delay, cursor) {
    if (stopped || metrics.length === 0) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws?token=" + encodeURIComponent(token));
    ws.onopen = function () {
      var subscribe = { type: "subscribe", metrics: metrics, sources: ["*"] };
      if (cursor) { subscribe.cursor = cursor; }
      ws.send(JSON.stringify(subscribe));
      setState("live", "");
    };
    ws.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "points") { onPoints(frame.points); cursor = frame.cursor; }
    };
    ws.onclose = function (event) {
      if (stopped) { return; }
      if (event.code === 4401 || event.code === 4403) {
        fetch(location.pathname + "/data", { credentials: "omit" }).then(function (response) {
          if (response.ok) { setTimeout(function () { connect(metrics, 1000, cursor); }, delay); return; }
          return reasonOf(response).then(stop);
        });
        return;
      }
      setTimeout(function () { connect(metrics, Math.min(delay * 2, 30000), cursor); }, delay);
    };
  }

  function pollNotes() {
    var listing = widgets.filter(function (w) { return w.type === "notifications"; });
    if (stopped || listing.length === 0) { return; }
    fetch(location.pathname + "/notifications", { credentials: "omit" }).then(function (response) {
      if (!response.ok) {
        if (response.status === 401) { return reasonOf(response).then(stop); }
        return null;
      }
      return response.json().then(function (body) {
        listing.forEach(function (w) { w.notes = body.notifications; draw(w); });
      });
    }, function () { return null; }).then(function () {
      setTimeout(pollNotes, NOTES_EVERY_MS);
    });
  }

  fetch(location.pathname + "/data", { credentials: "omit" }).then(function (response) {
    if (!response.ok) { return reasonOf(response).then(stop); }
    return response.json().then(function (doc) {
      build(doc);
      doc.widgets.forEach(function (spec, i) { widgets[i].scopeMetrics = spec.scope.metric; });
      setState("loaded", "");
      connect(patterns(), 1000, doc.cursor);
      setTimeout(pollNotes, NOTES_EVERY_MS);
    });
  }, function () { setState("error", "Pulse could not be reached."); });
})();
