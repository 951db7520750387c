/* Pulse's colour mode and time zone in the browser, for every page and every chart.
 *
 * The server writes the user's preferences onto <html> (app/web/theme.py):
 * data-pulse-theme (light | dark | system), data-pulse-tz (an IANA zone) and
 * data-pulse-range. Here "system" follows prefers-color-scheme live, and every Plotly
 * figure, whoever built it (the server, a clientside callback), is drawn with the theme's
 * template: Plotly.react and Plotly.newPlot are wrapped once, so no page needs to know.
 * A figure whose layout.meta.pulse_time is "epoch" has epoch-ms x values; they are shown
 * as wall-clock times of the user's zone (Plotly itself only knows UTC), live extensions
 * included. */
(function () {
  "use strict";
  const root = document.documentElement;
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  // Bootstrap 5.3's dark palette (--bs-body-bg, --bs-body-color, --bs-border-color, …)
  const DARK = {
    pulseDark: true,
    layout: {
      paper_bgcolor: "#212529", plot_bgcolor: "#212529",
      font: {color: "#dee2e6"},
      colorway: ["#6ea8fe", "#3dd5f3", "#feb272", "#a98eda", "#e685b5", "#75b798"],
      xaxis: {gridcolor: "#343a40", linecolor: "#495057", zerolinecolor: "#495057"},
      yaxis: {gridcolor: "#343a40", linecolor: "#495057", zerolinecolor: "#495057"},
      hoverlabel: {bgcolor: "#2b3035", font: {color: "#dee2e6"}},
      legend: {font: {color: "#dee2e6"}},
    },
  };
  const AXIS_COLOURS = ["gridcolor", "linecolor", "zerolinecolor"];

  function preference() { return root.getAttribute("data-pulse-theme") || "light"; }
  function mode() {
    const pref = preference();
    if (pref === "system") return darkQuery && darkQuery.matches ? "dark" : "light";
    return pref === "dark" ? "dark" : "light";
  }

  // -- time zone --------------------------------------------------------------------------
  const formats = {};
  const offsets = {};
  function zone() {
    const chosen = root.getAttribute("data-pulse-tz");
    if (chosen) return chosen;
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
    catch (e) { return "UTC"; }
  }
  function offsetMs(ts, tz) {
    // zones change offset on quarter hours at most: one lookup per quarter hour
    const key = `${tz}|${Math.floor(ts / 900000)}`;
    if (offsets[key] !== undefined) return offsets[key];
    const fmt = formats[tz] || (formats[tz] = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
    const p = {};
    fmt.formatToParts(new Date(ts)).forEach((part) => { p[part.type] = part.value; });
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    offsets[key] = wall - Math.floor(ts / 1000) * 1000;
    return offsets[key];
  }
  function local(ts) {
    try { return ts + offsetMs(ts, zone()); }
    catch (e) { return ts - new Date(ts).getTimezoneOffset() * 60000; }  // an unknown zone
  }
  const shiftXs = (xs) => (Array.isArray(xs) ? xs.map((x) => (typeof x === "number" ? local(x) : x)) : xs);

  // -- figures ----------------------------------------------------------------------------
  function restyledAxes(layout, dark, saved) {
    Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k)).forEach((k) => {
      const axis = Object.assign({}, layout[k]);
      AXIS_COLOURS.forEach((c) => {
        if (dark) {
          if (!saved.has(`${k}.${c}`)) saved.set(`${k}.${c}`, axis[c]);
          axis[c] = DARK.layout.xaxis[c];
        } else if (saved.has(`${k}.${c}`)) {
          axis[c] = saved.get(`${k}.${c}`);
        }
      });
      layout[k] = axis;
    });
  }

  function themed(gd, figure) {
    const ours = figure.layout && figure.layout.template && figure.layout.template.pulseDark;
    const layout = Object.assign({}, figure.layout || {});
    if (!ours) gd.__pulseSaved = {template: layout.template, axes: new Map()};
    const saved = gd.__pulseSaved || {template: undefined, axes: new Map()};
    const dark = mode() === "dark";
    if (dark) layout.template = DARK;
    else if (ours) layout.template = saved.template || {};
    restyledAxes(layout, dark, saved.axes);
    let data = figure.data;
    if (layout.meta && layout.meta.pulse_time === "epoch") {
      data = (data || []).map((trace) => Object.assign({}, trace, {x: shiftXs(trace.x)}));
      layout.meta = Object.assign({}, layout.meta, {pulse_time: "wall"});
    }
    return Object.assign({}, figure, {data: data, layout: layout});
  }

  function asFigure(args) {
    // Plotly.react(gd, figure) or Plotly.react(gd, data, layout, config)
    if (args.length === 2 && args[1] && !Array.isArray(args[1])) return [args[1], true];
    return [{data: args[1], layout: args[2], config: args[3]}, false];
  }

  function wrapDrawing(plotly, name) {
    const draw = plotly[name];
    if (typeof draw !== "function" || draw.__pulse) return;
    plotly[name] = function (gd, ...rest) {
      const node = typeof gd === "string" ? document.getElementById(gd) : gd;
      if (!node) return draw.call(this, gd, ...rest);  // Plotly's own error to give
      const [figure, single] = asFigure([gd, ...rest]);
      const out = themed(node, figure);
      return single ? draw.call(this, gd, out) : draw.call(this, gd, out.data, out.layout, out.config);
    };
    plotly[name].__pulse = true;
  }

  function wrapExtending(plotly) {
    const extend = plotly.extendTraces;
    if (typeof extend !== "function" || extend.__pulse) return;
    plotly.extendTraces = function (gd, update, ...rest) {
      const node = typeof gd === "string" ? document.getElementById(gd) : gd;
      const meta = node && node.layout && node.layout.meta;
      if (meta && meta.pulse_time === "wall" && update && update.x) {
        update = Object.assign({}, update, {x: update.x.map(shiftXs)});
      }
      return extend.call(this, gd, update, ...rest);
    };
    plotly.extendTraces.__pulse = true;
  }

  function wrap(plotly) {
    if (!plotly) return;
    wrapDrawing(plotly, "react");
    wrapDrawing(plotly, "newPlot");
    wrapExtending(plotly);
  }

  // dcc.Graph loads plotly.js lazily and calls the global Plotly: wrap it as it arrives
  let plotlyRef = window.Plotly;
  wrap(plotlyRef);
  try {
    Object.defineProperty(window, "Plotly", {
      configurable: true,
      get() { return plotlyRef; },
      set(value) { plotlyRef = value; wrap(value); },
    });
  } catch (e) { /* defined already, not configurable: wrapped above */ }

  function redrawFigures() {
    if (!window.Plotly) return;
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (gd.data && gd.layout) window.Plotly.react(gd, gd.data, gd.layout);
    });
  }

  function apply() {
    const next = mode();
    if (root.getAttribute("data-bs-theme") !== next) {
      root.setAttribute("data-bs-theme", next);
      redrawFigures();
    }
  }

  apply();
  if (darkQuery) darkQuery.addEventListener("change", apply);

  window.pulseTheme = {
    local: local,
    zone: zone,
    defaultRange() { return root.getAttribute("data-pulse-range") || "now-6h"; },
    /* The settings page saved new preferences: apply them to this page at once. */
    set(preferences) {
      if (!preferences) return window.dash_clientside.no_update;
      if (preferences.timezone) root.setAttribute("data-pulse-tz", preferences.timezone);
      if (preferences.default_range) root.setAttribute("data-pulse-range", preferences.default_range);
      if (preferences.theme) root.setAttribute("data-pulse-theme", preferences.theme);
      apply();
      return preferences.theme || "";
    },
  };
}());
