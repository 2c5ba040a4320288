// Tidepool's web app: lists the user's workspaces, follows them live over server-sent
// events (one stream for all of them, no polling), and creates, starts, stops and deletes.
"use strict";

const PHASES = { instance_created: "instance created", booted: "booted",
  ide_healthy: "IDE healthy", cloned: "repository cloned", clone_failed: "clone failed (see the setup log)",
  route_live: "route live", from_pool: "taken from the warm pool", named: "named in the IDE",
  setup_started: "setup running behind the IDE (see the setup log)", setup_finished: "setup done" };
const ACTIONS_BY_STATUS = {
  pending: ["stop", "delete"], creating: ["stop", "delete"], starting: ["stop", "delete"],
  running: ["open", "stop", "delete"], stopping: ["delete"], stopped: ["start", "delete"],
  deleting: [], failed: ["retry", "stop", "delete"], unavailable: ["stop", "delete"],
};
const byId = new Map();   // workspace id -> {data, element, phases}
// What other scripts add (activity.js): to each row as it is drawn, and to each streamed event.
const onRender = [];
const onStreamEvent = [];
const list = document.getElementById("workspaces");
// The browser session's proof (its CSRF token, handed over at sign-in and by /api/me), kept
// in this host's own storage, which no workspace's page can touch: sent with every request,
// it tells the API which session cookie is this browser's own (a workspace's page may plant
// another; see docs/security.md).
let csrfToken = sessionProof.get();
// Set once this page is on its way to signing in again.
let leaving = false;
// Settled once /api/me has answered and the proof is in hand: the panels in other scripts
// (keys.js) load then. (A deferred script may run after this one's first requests answer.)
let settleSignedIn;
const signedIn = new Promise((resolve) => { settleSignedIn = resolve; });

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(`/api${path}`, {
    method, credentials: "same-origin", headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // Signed out (or the password changed): ask again, by the browser's password prompt
  // (basic auth says so in WWW-Authenticate) or the sign-in page.
  if (response.status === 401) {
    // Once: the requests still in flight get 401s too, and a second navigation to the same
    // page can cancel the first.
    if (leaving) throw new Error("sign in");
    leaving = true;
    sessionProof.forget();
    if (response.headers.has("WWW-Authenticate")) window.location.reload();
    else {
      // As the server writes it (slashes kept), so both send a browser to the same address.
      const back = encodeURIComponent(window.location.pathname).replace(/%2F/g, "/");
      window.location.assign(`/app/login/?next=${back}`);
    }
    throw new Error("sign in");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function render(entry) {
  const { data, element } = entry;
  element.querySelector(".name").textContent = data.name;
  const status = element.querySelector(".status");
  status.textContent = data.status;
  status.dataset.status = data.status;
  const allowed = ACTIONS_BY_STATUS[data.status] || [];
  const open = element.querySelector(".open");
  open.href = data.url;
  open.setAttribute("aria-disabled", String(!allowed.includes("open")));
  open.setAttribute("aria-label", `Open ${data.name} in VS Code`);
  // Desktop hand-off, over SSH (`tidepool config-ssh` names each workspace tidepool.NAME).
  element.querySelector(".ssh-command").textContent = `ssh tidepool.${data.name}`;
  element.querySelector(".copy").setAttribute("aria-label", `Copy the SSH command for ${data.name}`);
  const vscode = element.querySelector(".vscode");
  vscode.href = `vscode://vscode-remote/ssh-remote+tidepool.${encodeURIComponent(data.name)}/home/dev`;
  vscode.setAttribute("aria-disabled", String(data.status !== "running"));
  vscode.setAttribute("aria-label", `${data.name}: open in VS Code on this computer, over SSH`);
  for (const action of ["start", "stop", "delete", "retry"]) {
    const button = element.querySelector(`.${action}`);
    button.disabled = !allowed.includes(action);
    button.hidden = action === "retry" ? data.status !== "failed" : false;
    button.setAttribute("aria-label", `${button.textContent} ${data.name}`);
  }
  const error = element.querySelector(".error");
  error.hidden = !data.error;
  // A workspace that waits (its runtime unreachable) says why; only a failed one "Failed".
  error.textContent = !data.error ? "" : data.status === "failed" ? `Failed: ${data.error}` : data.error;
  // The dev container's forwarded ports, each a link to it (code-server's proxy).
  const ports = element.querySelector(".ports");
  ports.hidden = !(data.ports || []).length;
  ports.replaceChildren(...(data.ports || []).map((forwarded) => Object.assign(
    document.createElement("a"),
    { href: forwarded.url, target: "_blank", rel: "noopener", textContent: `Port ${forwarded.port}` })));
  const phases = element.querySelector(".phases");
  phases.replaceChildren(...(data.status === "starting" || data.status === "creating"
    ? entry.phases.map((p) => Object.assign(document.createElement("li"), { textContent: p }))
    : []));
  onRender.forEach((hook) => hook(entry));
}

function upsert(data) {
  let entry = byId.get(data.id);
  if (!entry) {
    const element = document.getElementById("row").content.firstElementChild.cloneNode(true);
    element.dataset.name = data.name;
    entry = { data, element, phases: [] };
    byId.set(data.id, entry);
    wire(entry);
    list.append(element);
  }
  entry.data = data;
  render(entry);
  updateEmpty();
}

function remove(id) {
  const entry = byId.get(id);
  if (!entry) return;
  entry.element.remove();
  byId.delete(id);
  updateEmpty();
}

function updateEmpty() {
  document.getElementById("empty").hidden = byId.size > 0;
}

function wire(entry) {
  const act = (action) => async () => {
    try { upsert(await api(action === "delete" ? "DELETE" : "POST",
      `/workspaces/${entry.data.name}${action === "delete" ? "" : `/${action}`}`)); }
    catch (error) { alert(error.message); }
  };
  entry.element.querySelector(".start").addEventListener("click", act("start"));
  entry.element.querySelector(".retry").addEventListener("click", act("start"));
  entry.element.querySelector(".stop").addEventListener("click", act("stop"));
  entry.element.querySelector(".delete").addEventListener("click", () => confirmDelete(entry, act("delete")));
  entry.element.querySelector(".log").addEventListener("toggle", () => showLog(entry));
  entry.element.querySelector(".copy").addEventListener("click", (click) =>
    copy(entry.element.querySelector(".ssh-command"), click.currentTarget));
}

// The clipboard is there only in a secure context (HTTPS, localhost): elsewhere the text is
// selected, for the user to copy.
async function copy(source, button) {
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  } catch (_) {
    window.getSelection().selectAllChildren(source);
  }
}

// The setup log (the clone): read when opened, and again whenever a step adds to it (a
// step adds its output line by line as it runs).
async function showLog(entry) {
  const details = entry.element.querySelector(".log");
  if (!details.open) return;
  const found = await api("GET", `/workspaces/${entry.data.name}/logs`).catch(() => ({ items: [] }));
  // A step tells its output in pieces as it comes: one heading for each run of them.
  details.querySelector(".log-text").textContent = found.items.length
    ? found.items.map((item, at) => (at > 0 && found.items[at - 1].step === item.step
      ? item.text : `== ${item.step}\n${item.text}`)).join("\n")
    : "Nothing yet.";
}

function confirmDelete(entry, doDelete) {
  const dialog = document.getElementById("confirm-delete");
  const input = document.getElementById("confirm-input");
  const button = document.getElementById("confirm-button");
  document.getElementById("confirm-name").textContent = entry.data.name;
  input.value = "";
  button.disabled = true;
  input.oninput = () => { button.disabled = input.value !== entry.data.name; };
  dialog.onclose = () => { if (dialog.returnValue === "delete") doDelete(); };
  dialog.showModal();
  input.focus();
}

function follow() {
  // An EventSource sends no headers of its own: the proof rides in the query.
  const proof = csrfToken ? `?csrf_token=${encodeURIComponent(csrfToken)}` : "";
  const source = new EventSource(`/api/events${proof}`, { withCredentials: true });
  const onEvent = async (message) => {
    const event = JSON.parse(message.data);
    const entry = byId.get(event.workspace_id);
    onStreamEvent.forEach((hook) => hook(event, entry));
    if (event.kind === "log" && entry) { showLog(entry); return; }
    if (event.kind === "phase" && entry) {
      entry.phases.push(PHASES[event.value] || event.value);
      render(entry);
      return;
    }
    if (!["status", "request", "waiting", "idle", "keepalive", "ports"].includes(event.kind)) return;
    if (event.value === "deleted") { remove(event.workspace_id); return; }
    if (event.kind === "status" && event.value === "starting" && entry) entry.phases = [];
    try { upsert(await api("GET", `/workspaces/${event.name}`)); } catch (_) { /* gone */ }
  };
  // The server names each event by its kind.
  for (const kind of ["status", "phase", "request", "log", "waiting", "idle", "keepalive", "ports"]) {
    source.addEventListener(kind, onEvent);
  }
}

document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("POST", "/auth/logout"); } finally {
    sessionProof.forget();
    window.location.assign("login/");
  }
});

// The name rule, as the API's schema states it (one definition, in the domain): checked here
// before a request is sent; the API refuses a bad name anyway.
let nameRule = null;

async function loadNameRule() {
  const response = await fetch("/api/openapi.json", { credentials: "same-origin" });
  if (!response.ok) return;
  const schema = await response.json();
  nameRule = new RegExp(schema.components.schemas.WorkspaceCreate.properties.name.pattern);
}

const nameRuleLoaded = loadNameRule().catch(() => {});

document.getElementById("create").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.target;
  const error = document.getElementById("create-error");
  error.textContent = "";
  await nameRuleLoaded;
  if (!form.name.checkValidity() || (nameRule && !nameRule.test(form.name.value))) {
    error.textContent = "Use a lowercase letter first, then lowercase letters, digits and hyphens.";
    form.name.focus();
    return;
  }
  const body = { name: form.name.value };
  if (form.template.value) body.template = form.template.value;
  if (form.repository.value) body.repository = form.repository.value;
  if (form.branch.value) body.branch = form.branch.value;
  try {
    upsert(await api("POST", "/workspaces", body));
    form.reset();
    describeTemplate();
  } catch (failure) {
    error.textContent = failure.message;
  }
});

// API tokens: the panel shows only where sign-in is on (elsewhere /api/tokens answers 404).
async function loadTokens() {
  let page;
  try { page = await api("GET", "/tokens"); } catch (_) { return; }
  document.getElementById("tokens-card").hidden = false;
  const items = page.items.map((token) => {
    const item = document.createElement("li");
    const limit = token.workspaces ? ` · only ${token.workspaces.join(", ")}` : "";
    const state = token.revoked ? " · revoked" : "";
    item.textContent = `${token.label || token.id} (${token.user}) · ${token.scopes.join(", ")}`
      + `${limit}${state} `;
    if (!token.revoked) {
      const revoke = Object.assign(document.createElement("button"),
        { textContent: "Revoke", className: "danger" });
      revoke.setAttribute("aria-label", `Revoke token ${token.label || token.id}`);
      revoke.addEventListener("click", async () => {
        try { await api("DELETE", `/tokens/${token.id}`); } catch (error) { alert(error.message); }
        loadTokens();
      });
      item.append(revoke);
    }
    return item;
  });
  document.getElementById("tokens").replaceChildren(...items);
}

document.getElementById("token-create").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.target;
  const error = document.getElementById("token-error");
  error.textContent = "";
  const scopes = ["read"];
  if (form.workspaces.checked) scopes.push("workspaces");
  if (form.ssh.checked) scopes.push("ssh");
  if (form.admin.checked) scopes.push("admin");
  const body = { label: form.label.value, scopes };
  const limit = form.limit.value.split(",").map((name) => name.trim()).filter(Boolean);
  if (limit.length) body.workspaces = limit;
  try {
    const created = await api("POST", "/tokens", body);
    document.getElementById("token-secret").textContent = created.token;
    document.getElementById("token-new").hidden = false;
    form.reset();
    loadTokens();
  } catch (failure) {
    error.textContent = failure.message;
  }
});

// Templates: the admin's list (GET /api/templates), each with what it makes.
const templates = new Map();

function describeTemplate() {
  const chosen = templates.get(document.getElementById("template").value);
  const size = (t) => [
    t.cpus ? `${t.cpus} CPU${t.cpus > 1 ? "s" : ""}` : "",
    t.memory_mib ? `${t.memory_mib / 1024} GiB memory` : "",
    t.disk_gib ? `${t.disk_gib} GiB disk` : "",
  ].filter(Boolean).join(", ");
  document.getElementById("template-help").textContent =
    chosen ? [chosen.description, size(chosen)].filter(Boolean).join(" · ") : "";
}

async function loadTemplates() {
  const select = document.getElementById("template");
  const found = await api("GET", "/templates");
  for (const template of found.items) {
    templates.set(template.name, template);
    select.append(new Option(template.name, template.name));
  }
  describeTemplate();
}

document.getElementById("template").addEventListener("change", describeTemplate);

// Warm pools (GET /api/pool, admins only): how many each template keeps ready.
async function loadPools() {
  const found = await api("GET", "/pool");
  document.getElementById("pools-card").hidden = found.items.length === 0;
  document.getElementById("pools").replaceChildren(...found.items.map((pool) => {
    const item = document.createElement("li");
    item.textContent = `${pool.template}: ${pool.ready} of ${pool.size} ready`
      + (pool.starting ? `, ${pool.starting} starting` : "")
      + ` · ${pool.cpus} CPUs, ${pool.memory_mib / 1024} GiB memory · ${pool.image}`;
    return item;
  }));
}

(async function start() {
  try {
    const me = await api("GET", "/me").catch(() => null);
    document.getElementById("token-admin-choice").hidden = !(me && me.admin);
    if (me) document.getElementById("who").textContent = `Signed in as ${me.name}`;
    if (me && me.csrf_token) { csrfToken = me.csrf_token; sessionProof.keep(csrfToken); }
    settleSignedIn(me);
    document.getElementById("sign-out").hidden = !(me && me.can_sign_out);
    const page = await api("GET", "/workspaces?limit=500");
    page.items.forEach(upsert);
    loadTemplates().catch(() => {});
    loadTokens();
    if (me && me.admin) {
      loadPools().catch(() => {});
      setInterval(() => loadPools().catch(() => {}), 5000);
    }
  } finally {
    document.getElementById("loading").hidden = true;
    updateEmpty();
  }
  follow();
})();
