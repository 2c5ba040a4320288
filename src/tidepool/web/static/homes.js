// Homes on their own volumes, in each workspace row: the "image outdated" badge, Rebuild
// (POST /api/workspaces/NAME/rebuild), Fork (/fork), the Snapshots panel (GET/POST
// /snapshots, DELETE /snapshots/SNAPSHOT, POST /restore), and the form that brings back a
// deleted workspace (POST /undelete). A workspace made before home volumes has none of these
// until its next start moves its home (`home_volume`), and says so. Uses app.js's `api`,
// `upsert`, `nameRule` and its `onRender` hook; asks in one dialog of its own.
"use strict";

(() => {
  // A restore or a rebuild waits for a workspace at rest (the API refuses it otherwise).
  const AT_REST = ["running", "stopped", "failed"];
  const dialog = document.getElementById("home-dialog");
  const input = document.getElementById("home-dialog-input");
  const okButton = document.getElementById("home-dialog-ok");
  const path = (name, rest = "") => `/workspaces/${encodeURIComponent(name)}${rest}`;

  // One question at a time, in a modal: resolves to the name typed (or true, when nothing is
  // typed), or null when cancelled. Enter confirms (the form's first button is Cancel).
  function ask({ title, text, label, ok, danger }) {
    document.getElementById("home-dialog-title").textContent = title;
    document.getElementById("home-dialog-text").textContent = text;
    document.getElementById("home-dialog-field").hidden = !label;
    document.getElementById("home-dialog-label").textContent = label || "";
    input.value = "";
    // A name is needed to confirm; Cancel skips the check (formnovalidate).
    input.required = Boolean(label);
    okButton.textContent = ok;
    okButton.className = danger ? "danger" : "primary";
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.onclose = () => {
        if (dialog.returnValue !== "ok") resolve(null);
        else resolve(label ? input.value.trim() : true);
      };
      dialog.showModal();
      (label ? input : okButton).focus();
    });
  }

  input.addEventListener("keydown", (key) => {
    if (key.key !== "Enter") return;
    key.preventDefault();
    if (input.reportValidity()) dialog.close("ok");
  });

  // What a row's home action answers goes beside it; a refusal is the API's own sentence.
  async function attempt(entry, work) {
    const error = entry.element.querySelector(".home-error");
    error.textContent = "";
    try {
      await work();
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  const when = (iso) => {
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? iso
      : at.toLocaleString([], { year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  };

  function snapshotItem(entry, snapshot) {
    const { name } = entry.data;
    const row = document.createElement("li");
    row.dataset.snapshot = snapshot.name;
    const label = Object.assign(document.createElement("span"),
      { className: "key-name", textContent: snapshot.name });
    const about = Object.assign(document.createElement("span"), { className: "muted",
      textContent: ` ${when(snapshot.taken_at)} · ${snapshot.automatic ? "automatic" : "yours"} ` });
    const restore = Object.assign(document.createElement("button"),
      { type: "button", textContent: "Restore", disabled: !AT_REST.includes(entry.data.status) });
    restore.setAttribute("aria-label", `Restore ${name} from snapshot ${snapshot.name}`);
    restore.addEventListener("click", () => restoreFrom(entry, snapshot.name));
    const remove = Object.assign(document.createElement("button"),
      { type: "button", textContent: "Delete", className: "danger" });
    remove.setAttribute("aria-label", `Delete snapshot ${snapshot.name} of ${name}`);
    remove.addEventListener("click", () => removeSnapshot(entry, snapshot.name));
    row.append(label, about, restore, " ", remove);
    return row;
  }

  // Read when the panel opens, and again when the workspace changes status while it is open
  // (a restore adds its auto-restore snapshot as the workspace stops).
  async function loadSnapshots(entry) {
    const panel = entry.element.querySelector(".snapshots");
    entry.snapshotsSeenAt = entry.data.status;
    if (!panel.open) return;
    let found;
    // (Not through `attempt`: a reading leaves the answer to the action before it in place.)
    try { found = await api("GET", path(entry.data.name, "/snapshots")); } catch (failure) {
      entry.element.querySelector(".home-error").textContent = failure.message;
      return;
    }
    panel.querySelector(".snapshot-list")
      .replaceChildren(...found.data.map((snapshot) => snapshotItem(entry, snapshot)));
    panel.querySelector(".snapshots-empty").hidden = found.data.length > 0;
  }

  async function takeSnapshot(entry) {
    const { name } = entry.data;
    const snapshot = await ask({
      title: "Take a snapshot",
      text: `A copy of ${name}'s home as it is now, running or not; it stays until you `
        + "delete it.",
      label: "Snapshot name",
      ok: "Take snapshot",
    });
    if (!snapshot) return;
    await attempt(entry, () => api("POST", path(name, "/snapshots"), { name: snapshot }));
    loadSnapshots(entry);
  }

  async function restoreFrom(entry, snapshot) {
    const { name } = entry.data;
    const sure = await ask({
      title: "Restore from a snapshot",
      text: `${name} stops, its home as it is now is kept in an automatic auto-restore `
        + `snapshot first (to undo this), its home is put back as ${snapshot} has it, and `
        + `${name} starts again if it was running.`,
      ok: "Restore",
      danger: true,
    });
    if (!sure) return;
    await attempt(entry, async () => {
      upsert(await api("POST", path(name, "/restore"), { snapshot }));
    });
  }

  async function removeSnapshot(entry, snapshot) {
    const sure = await ask({
      title: "Delete a snapshot",
      text: `Snapshot ${snapshot} of ${entry.data.name} is deleted; home as it is now stays.`,
      ok: "Delete snapshot",
      danger: true,
    });
    if (!sure) return;
    await attempt(entry, () => api("DELETE", path(entry.data.name, `/snapshots/${encodeURIComponent(snapshot)}`)));
    loadSnapshots(entry);
  }

  async function rebuild(entry) {
    const { name } = entry.data;
    const sure = await ask({
      title: "Rebuild workspace",
      text: `${name} is made again from its template's current image. Home (/home/dev) is `
        + "kept; everything outside home (installed packages, /etc, /tmp, ...) is replaced. "
        + `${name} stops for it and starts again if it was running.`,
      ok: "Rebuild",
      danger: true,
    });
    if (!sure) return;
    await attempt(entry, async () => {
      upsert(await api("POST", path(name, "/rebuild"), { template: null }));
    });
  }

  async function fork(entry) {
    const { name } = entry.data;
    const made = await ask({
      title: `Fork ${name}`,
      text: `A new workspace of yours with a copy of ${name}'s home as it is now, its `
        + `template and size; ${name} itself is not changed.`,
      label: "New workspace name",
      ok: "Fork",
    });
    if (!made) return;
    await attempt(entry, async () => {
      upsert(await api("POST", path(name, "/fork"), { name: made }));
    });
  }

  function wire(entry) {
    const { element } = entry;
    element.querySelector(".rebuild").addEventListener("click", () => rebuild(entry));
    element.querySelector(".fork").addEventListener("click", () => fork(entry));
    element.querySelector(".snapshots").addEventListener("toggle", () => loadSnapshots(entry));
    element.querySelector(".snapshot-take").addEventListener("click", () => takeSnapshot(entry));
  }

  function draw(entry) {
    if (!entry.homesWired) { wire(entry); entry.homesWired = true; }
    const { data, element } = entry;
    const onVolume = Boolean(data.home_volume) && data.status !== "deleting";
    element.querySelector(".outdated").hidden = !data.image_outdated;
    for (const part of [".rebuild", ".fork", ".snapshots"]) {
      element.querySelector(part).hidden = !onVolume;
    }
    element.querySelector(".home-later").hidden = Boolean(data.home_volume);
    const rebuildButton = element.querySelector(".rebuild");
    rebuildButton.disabled = !AT_REST.includes(data.status);
    rebuildButton.setAttribute("aria-label", `Rebuild ${data.name}`);
    element.querySelector(".fork").setAttribute("aria-label", `Fork ${data.name}`);
    element.querySelector(".snapshots summary").setAttribute("aria-label", `Snapshots of ${data.name}`);
    element.querySelector(".snapshot-take")
      .setAttribute("aria-label", `Take a snapshot of ${data.name}`);
    if (entry.snapshotsSeenAt !== data.status) loadSnapshots(entry);
  }

  onRender.push(draw);

  // Bring back a deleted workspace by name: the API says why not (no longer kept, or the
  // name is taken by another workspace now).
  document.getElementById("undelete").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const form = submit.target;
    const error = document.getElementById("undelete-error");
    const done = document.getElementById("undelete-done");
    error.textContent = "";
    done.textContent = "";
    const name = form.name.value.trim();
    if (!name || (nameRule && !nameRule.test(name))) {
      error.textContent = "Type the deleted workspace's name: a lowercase letter first, then "
        + "lowercase letters, digits and hyphens.";
      form.name.focus();
      return;
    }
    try {
      upsert(await api("POST", path(name, "/undelete")));
      form.reset();
      done.textContent = `${name} is coming back.`;
    } catch (failure) {
      error.textContent = failure.message;
      form.name.focus();
    }
  });
})();
