// Tidepool's sign-in page: posts the name and password as JSON (which another site's form
// cannot send), then goes back to where the browser was sent from.
"use strict";

// Only a path on this site: never an absolute URL or a "//host" one someone put in the link.
function destination() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  return /^\/(?![\/\\])/.test(next) ? next : "/app/";
}

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
      body: JSON.stringify({ name: form.user.value, password: form.password.value }),
    });
    if (response.ok) { window.location.assign(destination()); return; }
    const data = await response.json().catch(() => ({}));
    error.textContent = data.detail || `Sign-in failed (HTTP ${response.status}).`;
    form.password.value = "";
    form.password.focus();
  } catch (_) {
    error.textContent = "Tidepool did not answer; try again.";
  } finally {
    button.disabled = false;
  }
});
