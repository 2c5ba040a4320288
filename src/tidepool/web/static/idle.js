// The idle-timeout panel: how long the signed-in user's workspaces may sit idle before they
// are stopped (GET/PUT/DELETE /api/me/idle-timeout), within the bounds the admin set. Uses
// app.js's `api` and loads once app.js is `signedIn`; hidden where users may not choose.
"use strict";

(() => {
  const card = document.getElementById("idle-card");
  const form = document.getElementById("idle-form");
  const field = document.getElementById("idle-minutes");
  const state = document.getElementById("idle-state");
  const error = document.getElementById("idle-error");
  const reset = document.getElementById("idle-default");

  const minutes = (value) => {
    if (value <= 0) return "never";
    const hours = Math.floor(value / 60), rest = Math.round(value % 60);
    return `${hours ? `${hours} h` : ""}${hours && rest ? " " : ""}${rest || !hours ? `${rest} min` : ""}`;
  };

  function show(shown) {
    card.hidden = !shown.may_choose;
    field.min = shown.min_minutes;
    field.max = shown.max_minutes;
    field.value = shown.minutes ?? "";
    field.placeholder = `${shown.default_minutes}`;
    reset.hidden = shown.minutes === null;
    state.textContent = shown.minutes === null
      ? `Your workspaces take the default: ${minutes(shown.default_minutes)} (or their template's).`
      : `Your workspaces stop after ${minutes(shown.minutes)} without activity.`;
    document.getElementById("idle-bounds").textContent =
      `From ${minutes(shown.min_minutes)} to ${minutes(shown.max_minutes)}.`;
  }

  async function load() {
    try { show(await api("GET", "/me/idle-timeout")); } catch (_) { /* none kept here */ }
  }

  // A refused choice leaves what was typed in place, with the API's reason beside it.
  async function choose(method, body) {
    error.textContent = "";
    try { show(await api(method, "/me/idle-timeout", body)); }
    catch (failure) { error.textContent = failure.message; field.focus(); }
  }

  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const value = Number(field.value);
    if (!field.value.trim() || !Number.isFinite(value) || value <= 0) {
      error.textContent = "Give a number of minutes.";
      field.focus();
      return;
    }
    choose("PUT", { minutes: value });
  });
  reset.addEventListener("click", () => choose("DELETE"));

  signedIn.then(load);
})();
