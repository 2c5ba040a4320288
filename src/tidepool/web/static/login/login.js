// Tidepool's sign-in page: posts the name and password as JSON (which another site's form
// cannot send), then goes back to where the browser was sent from.
"use strict";

// Where the browser was going. The server checks it and answers where it may go (a page of
// this Tidepool, never another site).
const next = new URLSearchParams(window.location.search).get("next") || "";

document.getElementById("sign-in").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.target;
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  if (!form.user.value || !form.password.value) {
    error.textContent = "Enter your user name and password.";
    (form.user.value ? form.password : form.user).focus();
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/api/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: form.user.value, password: form.password.value, next }),
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      if (data.csrf_token) sessionProof.keep(data.csrf_token);
      window.location.assign(data.next || "/app/");
      return;
    }
    error.textContent = data.detail || `Sign-in failed (HTTP ${response.status}).`;
    form.password.value = "";
    form.password.focus();
  } catch (_) {
    error.textContent = "Tidepool did not answer; try again.";
  } finally {
    button.disabled = false;
  }
});
