// The embed page (app/web/embed.py): loads its resource's data with the token of its own
// URL, draws each widget with plotly.js, then extends them with live points from /ws opened
// by the same token. No cookie is used or needed. When the token is revoked or expires the
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

  function traceOf(series, type) {
    var trace = {
      x: series.points.map(function (p) { return new Date(p[0]); }),
      y: series.points.map(function (p) { return p[1]; }),
      name: series.metric + " · " + series.source,
      type: type === "bar" ? "bar" : "scatter",
      mode: series.points.length > 60 ? "lines" : "lines+markers",
      marker: { size: 4 },
    };
    if (type === "area") { trace.fill = "tozeroy"; }
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
    w.valueEl.textContent = value === null ? "–" : String(Math.round(value * 100) / 100);
  }

  function drawTable(w) {
    var rows = w.series.map(function () { return "<tr><td></td><td></td><td></td></tr>"; });
    w.body.innerHTML = "<table class='embed-table'><tr><th>metric</th><th>source</th><th>value</th></tr>"
      + rows.join("") + "</table>";
    var cells = w.body.querySelectorAll("tr");
    w.series.forEach(function (s, i) {
      var p = s.points[s.points.length - 1];
      var tds = cells[i + 1].querySelectorAll("td");
      tds[0].textContent = s.metric; tds[1].textContent = s.source;
      tds[2].textContent = p ? String(p[1]) : "–";
    });
  }

  function drawChart(w) {
    if (w.type === "pie") {
      var labels = w.series.map(function (s) { return s.metric + " · " + s.source; });
      var values = w.series.map(function (s) { var p = s.points[s.points.length - 1]; return p ? p[1] : 0; });
      Plotly.react(w.body, [{ type: "pie", labels: labels, values: values }], w.layout, w.config);
      return;
    }
    Plotly.react(w.body, w.series.map(function (s) { return traceOf(s, w.type); }), w.layout, w.config);
  }

  function draw(w) {
    if (w.type === "kpi") { drawKpi(w); }
    else if (w.type === "table") { drawTable(w); }
    else if (w.type !== "notifications") { drawChart(w); }
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
      body.className = spec.type === "kpi" ? "embed-kpi" : "embed-chart";
      el.appendChild(body);
      root.appendChild(el);
      var w = { id: spec.id, type: spec.type, live: spec.live, series: spec.series, body: body,
                valueEl: body, metricOk: glob(spec.scope.metric), sourceOk: glob(spec.scope.source),
                locked: doc.locked_sources,
                layout: themed({ margin: { l: 40, r: 10, t: 10, b: 30 },
                                 showlegend: spec.series.length > 1,
                                 legend: { orientation: "h" }, xaxis: { type: "date" } }),
                config: { displayModeBar: false, responsive: true, staticPlot: false } };
      widgets.push(w);
      draw(w);
    });
  }

  function wants(w, point) {
    if (!w.live || !w.metricOk(point.metric) || !w.sourceOk(point.source)) { return false; }
    return w.locked.length === 0 || w.locked.indexOf(point.source) >= 0;
  }

  function addPoint(w, point) {
    var series = w.series.find(function (s) { return s.metric === point.metric && s.source === point.source; });
    if (!series) {
      series = { metric: point.metric, source: point.source, points: [] };
      w.series.push(series);
    }
    series.points.push([point.ts, point.value]);
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

  fetch(location.pathname + "/data", { credentials: "omit" }).then(function (response) {
    if (!response.ok) { return reasonOf(response).then(stop); }
    return response.json().then(function (doc) {
      build(doc);
      doc.widgets.forEach(function (spec, i) { widgets[i].scopeMetrics = spec.scope.metric; });
      setState("loaded", "");
      connect(patterns(), 1000, doc.cursor);
    });
  }, function () { setState("error", "Pulse could not be reached."); });
})();
