// The SSH keys panel: the signed-in user's public keys (GET/POST /api/keys,
// DELETE /api/keys/{id}), which open their workspaces over SSH. Uses app.js's `api`, which
// sends the session's proof with every write, and loads once app.js is `signedIn`.
"use strict";

(() => {
  const card = document.getElementById("keys-card");
  const form = document.getElementById("key-add");
  const error = document.getElementById("key-error");
  const publicKeyField = document.getElementById("key-public");
  const nameField = document.getElementById("key-name");

  const added = (created) => {
    const when = new Date(created);
    return Number.isNaN(when.getTime()) ? created : when.toLocaleDateString();
  };

  function item(key) {
    const row = document.createElement("li");
    row.dataset.fingerprint = key.fingerprint;
    const name = Object.assign(document.createElement("span"),
      { className: "key-name", textContent: key.name || key.type });
    const about = Object.assign(document.createElement("span"), { className: "muted",
      textContent: ` ${key.type} · added ${added(key.created)}` });
    const fingerprint = Object.assign(document.createElement("code"),
      { className: "fingerprint", textContent: key.fingerprint });
    const remove = Object.assign(document.createElement("button"),
      { type: "button", textContent: "Remove", className: "danger" });
    remove.setAttribute("aria-label", `Remove key ${key.name || key.fingerprint}`);
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try { await api("DELETE", `/keys/${encodeURIComponent(key.id)}`); }
      catch (failure) { error.textContent = failure.message; }
      load();
    });
    row.append(name, about, document.createElement("br"), fingerprint, " ", remove);
    return row;
  }

  // Shown only where the platform keeps keys (elsewhere /api/keys answers 404); the page's
  // SSH commands and VS Code links show with it (app.css, `body[data-ssh]`).
  async function load() {
    let page;
    try { page = await api("GET", "/keys"); } catch (_) { return; }
    card.hidden = false;
    document.body.dataset.ssh = "on";
    document.getElementById("keys").replaceChildren(...page.items.map(item));
    document.getElementById("keys-empty").hidden = page.items.length > 0;
  }

  document.getElementById("config-ssh").textContent =
    `tidepool config-ssh --url ${window.location.origin}`;

  // A refused key leaves what was typed in place, with the API's reason beside it.
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    error.textContent = "";
    const publicKey = publicKeyField.value.trim();
    if (!publicKey) {
      error.textContent = "Paste one line of a .pub file.";
      publicKeyField.focus();
      return;
    }
    const body = { public_key: publicKey };
    if (nameField.value.trim()) body.name = nameField.value.trim();
    try {
      await api("POST", "/keys", body);
      form.reset();
    } catch (failure) {
      error.textContent = failure.message;
      publicKeyField.focus();
      return;
    }
    load();
  });

  signedIn.then(load);
})();
