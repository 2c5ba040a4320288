"""The Caddy config is pure data: check its shape and the rules it encodes."""

import json
import re
from pathlib import Path

from tidepool.adapters.caddy import config

OPTIONS = config.CaddyOptions(admin_socket=Path("/run/t/admin.sock"), storage_dir=Path("/s"))


def _server(cfg: dict) -> dict:  # type: ignore[type-arg]
    return cfg["apps"]["http"]["servers"][config.SERVER_NAME]


def _objects(cfg: object) -> list[dict]:  # type: ignore[type-arg]
    """Every JSON object in the config, wherever it is nested."""
    if isinstance(cfg, dict):
        return [cfg, *(found for value in cfg.values() for found in _objects(value))]
    if isinstance(cfg, list):
        return [found for value in cfg for found in _objects(value)]
    return []


def _file_matchers(cfg: object) -> list[dict]:  # type: ignore[type-arg]
    """Every ``file`` matcher in the config."""
    return [o["file"] for o in _objects(cfg) if isinstance(o.get("file"), dict)]


def _proxies(cfg: object) -> list[dict]:  # type: ignore[type-arg]
    """Every reverse_proxy handler in the config."""
    return [o for o in _objects(cfg) if o.get("handler") == "reverse_proxy"]


def _proxy(cfg: dict) -> dict:  # type: ignore[type-arg]
    """The IDE's proxy; there is one for the IDE and one for forwarded ports, whatever N is."""
    proxies = _proxies(cfg)
    assert len(proxies) == 2, "shared proxies, never one per workspace"
    return next(p for p in proxies if p["upstreams"][0]["dial"].endswith(":8080"))


def test_admin_listens_on_the_unix_socket_only() -> None:
    cfg = config.base_config(OPTIONS)
    assert cfg["admin"]["listen"] == "unix//run/t/admin.sock"


def test_http_only_on_the_configured_port() -> None:
    server = _server(config.base_config(OPTIONS))
    assert server["listen"] == [":8080"]
    assert server["automatic_https"] == {"disable": True}


def test_workspaces_are_read_from_the_routes_directory_and_the_proxy_is_shared() -> None:
    cfg = config.base_config(OPTIONS)
    assert OPTIONS.routes_dir == Path("/routes")
    assert _file_matchers(cfg) == [{"root": "/routes", "try_files": ["/{http.vars.tidepool_ws}/*"]}]
    _proxy(cfg)


def test_the_route_file_pattern_reads_what_the_route_table_writes() -> None:
    pattern = re.compile(config.ROUTE_FILE_PATTERN)
    for address, owner in [("10.0.0.7", ""), ("10.213.77.5", "ann.b_c-d")]:
        match = pattern.match(f"/ws-1/{config.route_file_name(address, owner)}")
        assert match is not None and match.groups() == (address, owner)
        assert config.parse_route_file_name(config.route_file_name(address, owner)) == (
            address,
            owner,
        )
    for bad in ["/ws/10.0.0.7", "/ws/{x}@", "/ws/10.0.0.7@Ann", "/a/b/10.0.0.7@", "/-x/10.0.0.7@"]:
        assert pattern.match(bad) is None, bad


def test_proxy_keeps_websockets_across_reloads_and_disables_upstream_compression() -> None:
    proxy = _proxy(config.base_config(OPTIONS))
    assert proxy["transport"]["compression"] is False
    assert proxy["stream_close_delay"]
    assert proxy["upstreams"] == [{"dial": "{http.vars.tidepool_upstream}:8080"}]


def test_unsafe_path_pattern_catches_dot_segments_and_empty_segments() -> None:
    pattern = re.compile(config.UNSAFE_PATH)
    for bad in [
        "/workspace/a/../b/",
        "/workspace/a/./",
        "/workspace//a/",
        "/workspace/a/..",
        "/workspace/a\\b",
    ]:
        assert pattern.search(bad), bad
    for good in ["/workspace/a/", "/workspace/a/static/x..y.js", "/workspace/a/.vscode/x"]:
        assert not pattern.search(good), good


def test_the_one_name_rule_is_the_string_caddy_and_the_api_schema_are_given() -> None:
    from tidepool.api.schemas import WorkspaceCreate
    from tidepool.domain.names import NAME_PATTERN

    options = config.CaddyOptions(admin_socket=Path("/x.sock"), storage_dir=Path("/x"))
    caddy = json.dumps(config.base_config(options))
    assert json.dumps(NAME_PATTERN)[1:-1] in caddy
    schema = WorkspaceCreate.model_json_schema()["properties"]["name"]
    assert schema["pattern"] == f"^{NAME_PATTERN}$"
    pattern = re.compile(schema["pattern"])
    for good in ("my-ws-1", "a", "x" * 63):
        assert pattern.match(good), good
    for bad in ("My", "ws-", "x" * 64, "1a", "a_b"):
        assert not pattern.match(bad), bad


def test_unknown_workspace_page_is_html() -> None:
    page = config.UNKNOWN_WORKSPACE
    assert page["status_code"] == 404
    assert page["headers"]["Content-Type"] == ["text/html; charset=utf-8"]
    assert "No such workspace" in page["body"]


def test_only_the_configured_ports_are_forwarded() -> None:
    cfg = config.base_config(OPTIONS)
    forwarded = next(p for p in _proxies(cfg) if "fwd" in p["upstreams"][0]["dial"])
    assert forwarded["upstreams"] == [{"dial": "{http.vars.tidepool_upstream}:{http.regexp.fwd.1}"}]
    patterns = re.findall(
        r'"pattern": "(\^/workspace/\[\^/\]\+/port/\([0-9|]+\)/)"', __import__("json").dumps(cfg)
    )
    assert patterns == ["^/workspace/[^/]+/port/(8081|8082|8083|8084|8085)/"]
    narrow = config.base_config(config.CaddyOptions(Path("/a"), Path("/s"), forward_ports=(3000,)))
    assert "port/(3000)/" in __import__("json").dumps(narrow)


def test_an_upstream_that_does_not_answer_gets_a_page_not_a_hang() -> None:
    cfg = config.base_config(OPTIONS)
    server = _server(cfg)
    assert server["errors"]["routes"][-1]["handle"][0]["body"].count("Nothing answered") == 1
    assert all(p["transport"]["dial_timeout"] for p in _proxies(cfg))


def test_the_slash_redirects_keep_the_query() -> None:
    """A deep link (``/workspace/NAME?folder=...``) must survive the redirect to the slash."""
    query = "{http.request.uri.prefixed_query}"  # "?" and the query, or nothing without one
    redirects = [o for o in _objects(config.base_config(OPTIONS)) if o.get("status_code") == 308]
    assert sorted(r["headers"]["Location"][0] for r in redirects) == [
        "/workspace/{http.regexp.ws.1}/" + query,
        "/workspace/{http.vars.tidepool_ws}/port/{http.regexp.fwd.1}/" + query,
    ]


def test_caddy_tells_the_api_the_client_address_and_nothing_a_client_wrote() -> None:
    """Sign-in limits count per client address: Caddy's own view of the peer, set (so any
    client-sent ``X-Tidepool-Client`` is replaced) on every request to the API, in every mode
    that has an API behind it."""
    from tidepool.edge import CLIENT_HEADER

    for options in (
        config.CaddyOptions(Path("/a"), Path("/s"), api_socket=Path("/run/t/api.sock")),
        config.CaddyOptions(
            Path("/a"), Path("/s"), api_socket=Path("/run/t/api.sock"), forward_auth=True
        ),
    ):
        cfg = config.base_config(options)
        to_api = [p for p in _proxies(cfg) if p["upstreams"][0]["dial"] == "unix//run/t/api.sock"]
        assert to_api
        forwarded = [p for p in to_api if "rewrite" not in p]  # not Caddy's verify question
        assert forwarded
        for proxy in forwarded:
            request = proxy["headers"]["request"]
            assert request["set"][CLIENT_HEADER] == ["{http.request.remote.host}"]
            assert "client_ip" not in __import__("json").dumps(request)
