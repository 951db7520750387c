/* Pulse forecasts: ask for a fresh forecast when the live edge reaches the next bucket.
 * The server's plan ({due_ms, keys}) says when the bucket after the last one drawn starts;
 * a live point at or after it changes the "due" store once (never once per point), and the
 * page's server callback redraws the chart with the forecast recomputed from there.
 * Each function is a Dash clientside callback (namespace "pulseForecast"). */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;

  function newest(last, keys) {
    let top = -Infinity;
    (keys || Object.keys(last || {})).forEach((k) => {
      if (last && last[k] !== undefined && last[k] > top) top = last[k];
    });
    return top;
  }
  function due(plan, asked, last) {
    if (!plan || !plan.due_ms || asked === plan.due_ms) return NO();
    return newest(last, plan.keys) >= plan.due_ms ? plan.due_ms : NO();
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseForecast = {
    exploreDue(liveState, plan, asked) {
      return due(plan, asked, liveState && liveState.last);
    },

    dashDue(liveState, plans, asked) {
      const seen = (liveState && liveState.seen) || {};
      return (plans || []).map((plan, i) => due(plan, (asked || [])[i], seen));
    },
  };
})();
