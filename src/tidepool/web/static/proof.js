// The browser session's proof (its CSRF token), kept in this host's localStorage: a page a
// workspace serves can plant cookies for a parent domain, but never write here. The web
// app's pages share it; see docs/security.md ("planted cookies").
"use strict";

const sessionProof = (() => {
  const KEY = "tidepool.session-proof";
  return {
    get() { try { return window.localStorage.getItem(KEY) || ""; } catch (_) { return ""; } },
    keep(value) { try { window.localStorage.setItem(KEY, value); } catch (_) { /* private mode */ } },
    forget() { try { window.localStorage.removeItem(KEY); } catch (_) { /* private mode */ } },
  };
})();
