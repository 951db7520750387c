/* /admin's "Test now": the browser asks POST /api/sources/{id}/test (one poll, nothing
 * stored) and shows what came back, so the page's server callbacks never run a poll. A Dash
 * clientside callback (namespace "pulseAdmin"). */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;

  function describe(name, trial) {
    if (!trial.ok) return `Test of ${name} failed: ${trial.error}`;
    const first = trial.sample[0];
    const sample = first ? `; first: ${first.metric} = ${first.value} (${first.source})` : "";
    const skipped = trial.skipped ? `, ${trial.skipped} skipped` : "";
    return `Test of ${name}: ${trial.points} points${skipped}${sample}. Nothing was stored.`;
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseAdmin = {
    describe,

    async testSource(clicks) {
      const ctx = window.dash_clientside.callback_context;
      const fired = ctx.triggered && ctx.triggered[0];
      if (!fired || !fired.value || !(clicks || []).some(Boolean)) return NO();
      const id = ctx.triggered_id && ctx.triggered_id.index;
      if (!id) return NO();
      const row = document.getElementById(`source-${id}`);
      const name = row ? row.querySelector("td").textContent : "the source";
      try {
        const resp = await fetch(`/api/sources/${encodeURIComponent(id)}/test`, {
          method: "POST",
          headers: {"Content-Type": "application/json"},
          body: "{}",
          credentials: "same-origin",
        });
        const body = await resp.json();
        if (!resp.ok) return `Test of ${name} refused: ${body.error ? body.error.message : resp.status}`;
        return describe(name, body);
      } catch (err) {
        return `Test of ${name} could not be run: ${err}`;
      }
    },
  };
})();
