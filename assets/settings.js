/* Pulse /settings: each form is sent to the JSON API (/api/me…, /api/tenant/preferences)
 * and the API's answer is shown: every refused field gets its own message under it, and a
 * saved preference applies to this page at once (assets/theme.js). Clientside callbacks of
 * namespace "pulseSettings" (callbacks/settings.py). */
(function () {
  "use strict";
  const INHERIT = "inherit";  // "the organisation's default" (components/settings.py): null

  async function send(method, path, body) {
    let resp;
    try {
      resp = await fetch(path, {
        method: method,
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (e) {
      return {ok: false, status: 0, doc: null};
    }
    let doc = null;
    try { doc = await resp.json(); } catch (e) { /* 204: no body */ }
    return {ok: resp.ok, status: resp.status, doc: doc};
  }

  function feedbackSlots(position) {
    const outputs = window.dash_clientside.callback_context.outputs_list[position];
    return (Array.isArray(outputs) ? outputs : [outputs]).map((o) => o.id.index);
  }

  // One message per slot of `form`: the details naming its field, joined; others blank.
  function messages(slots, form, details, fallbackField) {
    const byField = {};
    (details || []).forEach((d) => {
      const field = d.field === "body" && fallbackField ? fallbackField : d.field;
      byField[field] = byField[field] ? `${byField[field]}; ${d.message}` : d.message;
    });
    return slots.map((slot) => {
      const cut = slot.indexOf("-");
      return slot.slice(0, cut) === form ? byField[slot.slice(cut + 1)] || "" : "";
    });
  }

  function refusal(answer) {
    if (answer.status === 0) return "Not saved: Pulse could not be reached. Try again.";
    const error = (answer.doc && answer.doc.error) || {};
    return `Not saved: ${error.message || `the server answered ${answer.status}`}`;
  }

  const orNull = (value) => (value === INHERIT || value === undefined ? null : value);

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.pulseSettings = {
    async saveEmail(n, email) {
      const slots = feedbackSlots(1);
      const answer = await send("PUT", "/api/me", {email: email || ""});
      const details = answer.ok ? [] : (answer.doc && answer.doc.error.details) || [];
      // with an SMTP server a new address is unproven until its mailed link is opened
      const unproven = answer.ok && answer.doc && answer.doc.email_verified === false;
      const saved = unproven ? "E-mail saved. Open the link we sent to it to confirm it."
        : "E-mail saved.";
      return [answer.ok ? saved : refusal(answer), messages(slots, "profile", details)];
    },

    async changePassword(n, current, next) {
      const slots = feedbackSlots(1);
      const answer = await send("POST", "/api/me/password", {current: current || "", new: next || ""});
      if (answer.ok) {
        return ["Password changed. Your other sessions are signed out.",
                messages(slots, "password", []), "", ""];
      }
      const details = (answer.doc && answer.doc.error && answer.doc.error.details) || [];
      const NO = window.dash_clientside.no_update;
      return [refusal(answer), messages(slots, "password", details), NO, NO];
    },

    async savePreferences(n, theme, timezone, range, home) {
      const slots = feedbackSlots(1);
      const body = {theme: orNull(theme), timezone: orNull(timezone),
                    default_range: orNull(range), home_dashboard: orNull(home)};
      const answer = await send("PUT", "/api/me/preferences", body);
      if (answer.ok) {
        window.pulseTheme.set(answer.doc.preferences);
        return ["Preferences saved.", messages(slots, "preferences", [])];
      }
      let details = (answer.doc && answer.doc.error && answer.doc.error.details) || [];
      if (answer.status === 404) {
        details = [{field: "home_dashboard", message: "is not a dashboard you can see"}];
      }
      return [refusal(answer), messages(slots, "preferences", details)];
    },

    async saveOrganisation(n, theme, timezone, range) {
      const slots = feedbackSlots(1);
      const body = {theme: orNull(theme), timezone: orNull(timezone), default_range: orNull(range)};
      const answer = await send("PUT", "/api/tenant/preferences", body);
      if (answer.ok) {  // the admin's own page follows the defaults they did not override
        try {
          const me = await (await fetch("/api/me", {credentials: "same-origin"})).json();
          window.pulseTheme.set(me.preferences);
        } catch (e) { /* shown on the next page load */ }
      }
      const details = answer.ok ? [] : (answer.doc && answer.doc.error && answer.doc.error.details) || [];
      const status = answer.ok ? "Organisation defaults saved." : refusal(answer);
      return [status, messages(slots, "organisation", details)];
    },
  };
}());
