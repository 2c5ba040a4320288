// The dotfiles and git credentials panel (/api/me/dotfiles, /api/me/git-credentials): what
// the signed-in user sets once for all their workspaces. A secret goes in and is never read
// back: the list shows hosts and user names. Uses app.js's `api` and loads once `signedIn`.
"use strict";

(() => {
  const card = document.getElementById("personal-card");
  const dotfilesForm = document.getElementById("dotfiles-form");
  const dotfilesUrl = document.getElementById("dotfiles-url");
  const dotfilesError = document.getElementById("dotfiles-error");
  const clear = document.getElementById("dotfiles-clear");
  const credentialForm = document.getElementById("credential-form");
  const credentialError = document.getElementById("credential-error");
  const field = (id) => document.getElementById(id);

  function item(credential) {
    const row = document.createElement("li");
    row.dataset.host = credential.host;
    const name = Object.assign(document.createElement("span"),
      { className: "key-name", textContent: credential.host });
    const about = Object.assign(document.createElement("span"),
      { className: "muted", textContent: ` as ${credential.username} ` });
    const remove = Object.assign(document.createElement("button"),
      { type: "button", textContent: "Remove", className: "danger" });
    remove.setAttribute("aria-label", `Remove the git credential for ${credential.host}`);
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try { await api("DELETE", `/me/git-credentials/${encodeURIComponent(credential.host)}`); }
      catch (failure) { credentialError.textContent = failure.message; }
      load();
    });
    row.append(name, about, remove);
    return row;
  }

  // Shown only where the platform keeps these (elsewhere the API answers 404).
  async function load() {
    let dotfiles, credentials;
    try {
      [dotfiles, credentials] = await Promise.all(
        [api("GET", "/me/dotfiles"), api("GET", "/me/git-credentials")]);
    } catch (_) { return; }
    card.hidden = false;
    dotfilesUrl.value = dotfiles.url || "";
    clear.hidden = !dotfiles.url;
    document.getElementById("credentials").replaceChildren(...credentials.items.map(item));
  }

  dotfilesForm.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    dotfilesError.textContent = "";
    const url = dotfilesUrl.value.trim();
    try { await api("PUT", "/me/dotfiles", { url: url || null }); }
    catch (failure) { dotfilesError.textContent = failure.message; dotfilesUrl.focus(); return; }
    load();
  });

  clear.addEventListener("click", async () => {
    try { await api("DELETE", "/me/dotfiles"); }
    catch (failure) { dotfilesError.textContent = failure.message; return; }
    load();
  });

  // A refused credential leaves what was typed in place (but the secret), with the reason.
  credentialForm.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    credentialError.textContent = "";
    const host = field("credential-host").value.trim();
    const body = {
      username: field("credential-username").value.trim(),
      secret: field("credential-secret").value,
    };
    if (!host || !body.username || !body.secret) {
      credentialError.textContent = "Give the host, your user name on it and a secret.";
      return;
    }
    try {
      await api("PUT", `/me/git-credentials/${encodeURIComponent(host)}`, body);
      credentialForm.reset();
    } catch (failure) {
      credentialError.textContent = failure.message;
      field("credential-secret").value = "";
      return;
    }
    load();
  });

  signedIn.then(load);
})();
