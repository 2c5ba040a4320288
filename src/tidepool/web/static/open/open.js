// Opening a workspace origin: asks the control plane for its one-time code with the
// session's proof (a navigation cannot send it), then goes there. Not signed in, or the
// proof is gone: the sign-in page, and back here afterwards.
"use strict";

(async function open() {
  const to = new URLSearchParams(window.location.search).get("to") || "";
  const here = window.location.pathname + window.location.search;
  const failed = (text) => {
    document.getElementById("opening").hidden = true;
    const error = document.getElementById("open-error");
    error.textContent = text;
    error.hidden = false;
  };
  try {
    const response = await fetch("/api/auth/handshake", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": sessionProof.get() },
      body: JSON.stringify({ to }),
    });
    if (response.status === 401) {
      sessionProof.forget();
      window.location.replace(`/app/login/?next=${encodeURIComponent(here)}`);
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok && data.url) { window.location.replace(data.url); return; }
    failed(data.detail || `Could not open the workspace (HTTP ${response.status}).`);
  } catch (_) {
    failed("Tidepool did not answer; reload to try again.");
  }
})();
