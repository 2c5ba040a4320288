// Activity, in words: what keeps each running workspace up and since when, when it stops if
// idle, why a stopped one stopped; its keepalive (POST/DELETE /api/workspaces/NAME/keepalive);
// the idle warnings of the event stream; and, for admins, each row's owner and a filter by
// owner. Uses app.js's `api`, `upsert` and `byId`, and its hooks `onRender` (each row as it
// is drawn) and `onStreamEvent`. Activity changes send no event, so the rows are read again
// now and then: soon while a running workspace has not been looked at yet, else every 30 s.
"use strict";

(() => {
  // What each signal means to the person at the keyboard (docs/lifecycle.md).
  const SIGNALS = {
    ide: () => "open IDE tab",
    connection: (detail) => `connections (${detail})`,
    ssh: (detail) => `SSH session (${detail})`,
    work: (detail) => `running work (${detail})`,
    keepalive: () => "kept alive on request",
    start: () => "started",
  };
  const STOPPED_BECAUSE = {
    user: "Stopped on request",
    idle: "Stopped for idleness",
    max_lifetime: "Stopped: it reached its longest lifetime",
    quota: "Stopped: over quota",
    admin: "Stopped by an admin",
  };
  const SOON = 3000;
  const LATER = 30000;
  const heading = document.getElementById("list-title");
  const filterField = document.getElementById("owner-filter");
  const filter = document.getElementById("owner");
  const filteredEmpty = document.getElementById("filtered-empty");
  let me = { name: "", admin: false };
  let ownersShown = "";

  // 15:00 today, "Tue 15:00" on another day: in the browser's time zone, on a 24-hour clock.
  function clock(iso) {
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return "";
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (at.toDateString() !== new Date().toDateString()) options.weekday = "short";
    return at.toLocaleString([], options);
  }

  function ago(iso) {
    const minutes = Math.floor((Date.now() - new Date(iso).getTime()) / 60000);
    if (!(minutes >= 1)) return "just now";
    return minutes < 60 ? `${minutes} min ago` : `since ${clock(iso)}`;
  }

  const words = (evidence) =>
    (SIGNALS[evidence.signal] || (() => evidence.signal))(evidence.detail);

  // "Active: running work (sleep 600), 2 min ago": the latest evidence, the one that counts
  // (the others seen at the last look may be older, as code-server's heartbeat from its boot).
  const activeLine = ({ last }) => `Active: ${words(last)}, ${ago(last.at)}`;

  function keptUntil(data) {
    const until = data.keepalive_until && new Date(data.keepalive_until);
    return until && until.getTime() > Date.now() ? data.keepalive_until : null;
  }

  function describe(entry) {
    const { data, element } = entry;
    const running = data.status === "running";
    const kept = running ? keptUntil(data) : null;
    let now = "";
    let stop = "";
    if (running) {
      now = data.activity ? activeLine(data.activity) : "Activity: not looked at yet";
      if (kept) stop = `Kept alive until ${clock(kept)}`;
      else if (data.activity && data.activity.idle_stop_at) {
        stop = `Stops if idle at ${clock(data.activity.idle_stop_at)}`;
      }
    } else if (data.status === "stopped" && data.stop_reason) {
      now = STOPPED_BECAUSE[data.stop_reason] || `Stopped (${data.stop_reason})`;
    }
    element.querySelector(".activity-now").textContent = now;
    element.querySelector(".activity-stop").textContent = stop;
    element.querySelector(".activity").hidden = !now && !stop;
    element.querySelector(".keepalive").hidden = !running;
    element.querySelector(".end-keepalive").hidden = !kept;
    warn(entry, running, kept);
  }

  // An idle warning stands until the workspace is used again (newer activity than the
  // warning), kept alive, or no longer running.
  function warn(entry, running, kept) {
    const { data, element } = entry;
    const warning = entry.idleWarning;
    const usedSince = warning && data.activity
      && new Date(data.activity.last.at).getTime() > new Date(warning.at).getTime();
    if (!running || kept || usedSince) entry.idleWarning = null;
    const shown = element.querySelector(".idle-warning");
    shown.hidden = !entry.idleWarning;
    if (!entry.idleWarning) { shown.textContent = ""; return; }
    const when = clock(entry.idleWarning.stopsAt);
    shown.textContent = when ? `Stops at ${when} unless used` : "Stops soon unless used";
  }

  function label(entry) {
    const { name } = entry.data;
    const { element } = entry;
    element.querySelector(".keepalive").setAttribute("aria-label", `Keep ${name} alive`);
    for (const button of element.querySelectorAll("[data-duration]")) {
      button.setAttribute("aria-label", `Keep ${name} alive for ${button.dataset.duration}`);
    }
    element.querySelector(".keepalive-other input")
      .setAttribute("aria-label", `How long to keep ${name} alive, as 90m, 3h or 1d`);
    element.querySelector(".keepalive-other button")
      .setAttribute("aria-label", `Keep ${name} alive for the time typed`);
    element.querySelector(".end-keepalive").setAttribute("aria-label", `End the keepalive of ${name}`);
  }

  // A refused keepalive (too long, not a duration) says why beside the control.
  async function keepAlive(entry, duration) {
    const error = entry.element.querySelector(".keepalive-error");
    error.textContent = "";
    const path = `/workspaces/${entry.data.name}/keepalive`;
    try {
      upsert(await (duration ? api("POST", path, { duration }) : api("DELETE", path)));
      entry.element.querySelector(".keepalive-other").reset();
      return true;
    } catch (failure) {
      error.textContent = failure.message;
      return false;
    }
  }

  function wire(entry) {
    const { element } = entry;
    for (const button of element.querySelectorAll("[data-duration]")) {
      button.addEventListener("click", () => keepAlive(entry, button.dataset.duration));
    }
    element.querySelector(".keepalive-other").addEventListener("submit", async (submit) => {
      submit.preventDefault();
      const input = submit.target.duration;
      if (!input.value.trim()) {
        element.querySelector(".keepalive-error").textContent =
          "Type how long, as 90m, 3h or 1d.";
        input.focus();
        return;
      }
      if (!(await keepAlive(entry, input.value.trim()))) input.focus();
    });
    element.querySelector(".end-keepalive").addEventListener("click", () => keepAlive(entry, null));
  }

  // Admins see everyone's workspaces: each row says whose, and a filter narrows the list to
  // one owner (the owners present, and the admin).
  function showOwners() {
    const owners = new Set([me.name, ...[...byId.values()].map((entry) => entry.data.owner)]);
    const sorted = [...owners].filter(Boolean).sort();
    if (sorted.join("\n") !== ownersShown) {
      ownersShown = sorted.join("\n");
      const chosen = filter.value;
      filter.replaceChildren(new Option("everyone", ""), ...sorted.map((o) => new Option(o, o)));
      filter.value = sorted.includes(chosen) ? chosen : "";
    }
  }

  function applyFilter() {
    let shown = 0;
    for (const entry of byId.values()) {
      entry.element.hidden = Boolean(filter.value) && entry.data.owner !== filter.value;
      if (!entry.element.hidden) shown += 1;
    }
    filteredEmpty.hidden = !(filter.value && byId.size > 0 && shown === 0);
    filteredEmpty.textContent = `No workspaces of ${filter.value}.`;
  }

  function draw(entry) {
    if (!entry.activityWired) { wire(entry); entry.activityWired = true; }
    label(entry);
    describe(entry);
    const owner = entry.element.querySelector(".owner");
    owner.hidden = !me.admin;
    owner.textContent = me.admin ? `Owner: ${entry.data.owner}` : "";
    if (me.admin) { showOwners(); applyFilter(); }
  }

  onRender.push(draw);

  onStreamEvent.push((event, entry) => {
    if (event.kind !== "idle" || !entry) return;
    entry.idleWarning = event.value === "warning"
      ? { at: event.at, stopsAt: event.detail.replace(/^stops at /, "") }
      : null;
    describe(entry);
  });

  filter.addEventListener("change", applyFilter);

  async function refresh() {
    if (!document.hidden) {
      try {
        const page = await api("GET", "/workspaces?limit=500");
        // Only rows still shown: a new or deleted workspace comes by the event stream.
        page.items.filter((data) => byId.has(data.id)).forEach(upsert);
      } catch (_) { /* the next time */ }
    }
    const waiting = [...byId.values()]
      .some((entry) => entry.data.status === "running" && !entry.data.activity);
    setTimeout(refresh, waiting ? SOON : LATER);
  }

  signedIn.then((signedInAs) => {
    if (signedInAs) me = { name: signedInAs.name, admin: Boolean(signedInAs.admin) };
    if (me.admin) heading.textContent = "All workspaces";
    filterField.hidden = !me.admin;
    byId.forEach(draw);
    setTimeout(refresh, SOON);
  });
})();
