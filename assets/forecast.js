/* Pulse forecasts: ask for a fresh forecast when the live edge reaches the next bucket.
 * The server's plan ({due_ms, step_ms, keys}) says when the bucket after the last one drawn
 * starts; a live point at or after it sets the "due" store (at most once per step, never
 * once per point), and the page's server callback redraws the chart with the forecast
 * recomputed from there.
 * Each function is a Dash clientside callback (namespace "pulseForecast"). */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const MIN_ASK_MS = 5000;  // never more often than this, whatever the step

  function newest(last, keys) {
    let top = -Infinity;
    (keys || Object.keys(last || {})).forEach((k) => {
      if (last && last[k] !== undefined && last[k] > top) top = last[k];
    });
    return top;
  }
  // A plan whose redraw found no newer bucket yet (the point not yet in PostgreSQL) keeps
  // its due time: it is asked again on a later live point, at most once per step.
  function due(plan, asked, last) {
    if (!plan || !plan.due_ms || newest(last, plan.keys) < plan.due_ms) return NO();
    const now = Date.now();
    const again = Math.max(plan.step_ms || 0, MIN_ASK_MS);
    if (asked && asked.due_ms === plan.due_ms && now - asked.at < again) return NO();
    return {due_ms: plan.due_ms, at: now};
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
