"""The fast path (service/api/fast_path.py) over real HTTP: it answers cached stored and live reports
with the app's own bytes and headers, enforces the same tenant checks, and leaves every other
request to the app.

Which layer answered is read from a spy on the fast path's `_answer` of the served app.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from service.api.fast_path import FastPath
from tests.conftest import load_demo_data, make_settings
from tests.service.api.conftest import API_KEY

SERVER_HEADERS = {"date", "server"}  # uvicorn's own, different on every response


@pytest.fixture(scope="module")
def world(serve):
    """Two organizations with a stored report each, a reader token of each, an admin token."""
    settings = make_settings("fast_path", api_key=API_KEY)
    load_demo_data(settings, orgs=2, days=3, calls_per_day=20, seed=33)
    service = serve(settings)
    admin = service.client(admin=True)
    org_a, org_b = sorted(org["org_id"] for org in admin.get("/api/orgs").json())
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    for org in (org_a, org_b):
        made = admin.post("/api/reports/generate", json={"org_id": org, "date": day})
        assert made.status_code == 200, made.text

    def token(**body) -> dict:
        created = admin.post("/api/tokens", json=body)
        assert created.status_code == 201, created.text
        return created.json()

    return {
        "service": service,
        "admin": admin,
        "org_a": org_a,
        "org_b": org_b,
        "day": day,
        "reader_a": token(name="a", org_ids=[org_a])["token"],
        "admin_token": token(name="ops", admin=True)["token"],
        "token": token,
    }


@pytest.fixture
def answered(world, monkeypatch) -> list[bool]:
    """One entry per request the fast path looked at: True when it answered it."""
    fast: FastPath = world["service"].server.config.app._fast_path
    seen: list[bool] = []
    real = fast._answer

    def spy(scope, headers):
        try:
            answer = real(scope, headers)
        except Exception:
            seen.append(False)
            raise
        seen.append(answer is not None)
        return answer

    monkeypatch.setattr(fast, "_answer", spy)
    return seen


def get(world, path: str, token: str | None, **headers: str) -> httpx.Response:
    """GET with a bearer token; the body is read as sent (still gzip-encoded when it was)."""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with (
        httpx.Client(base_url=world["service"].url, timeout=120) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        response.raw_body = b"".join(response.iter_raw())
    return response


def decoded(response: httpx.Response) -> dict:
    body = response.raw_body
    return json.loads(gzip.decompress(body) if response.headers.get("content-encoding") == "gzip" else body)


def eventually(condition, timeout: float = 10) -> bool:
    """True once `condition()` is: the fast path records its answers just after sending them."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def settled(read, quiet: float = 0.3, timeout: float = 10) -> float:
    """`read()` once it has kept its value for `quiet` seconds (records still due have landed)."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.02)
        if (latest := read()) != value:
            value, since = latest, time.monotonic()
    return value


def recorded(world) -> float:
    """Requests counted so far, every route (the fast path counts its answers just after sending)."""
    registry = world["service"].server.config.app.state.metrics.registry
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "call_analytics_http_requests"
        for sample in metric.samples
        if sample.name == "call_analytics_http_requests_total"
    )


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in SERVER_HEADERS]
    return response.status_code, headers, response.raw_body


def paths(world, org: str) -> list[str]:
    return [
        f"/api/reports/{world['day']}?org_id={org}",
        f"/api/reports/latest?org_id={org}",
        f"/daily-report?org_id={org}&date={world['day']}",
    ]


@pytest.mark.parametrize("encoding", ["gzip, deflate", "identity"])
def test_same_bytes_and_headers_as_the_app(world, answered, encoding):
    token = world["token"](name=f"bytes {encoding}", org_ids=[world["org_a"]])["token"]
    for path in paths(world, world["org_a"]):
        headers = {"X-Request-ID": "trace-fast-1", "Accept-Encoding": encoding}
        # The app answers first (and fills the caches); the fast path answers the same request after.
        world["service"].server.config.app.state.service.response_cache._bodies.clear()
        world["service"].server.config.app.state.service.services.live.invalidate()
        answered.clear()
        slow = get(world, path, token, **headers)
        fast = get(world, path, token, **headers)
        assert answered == [False, True], path
        assert slow.status_code == 200, slow.text
        assert comparable(fast) == comparable(slow), path
        assert ("content-encoding" in fast.headers) == (encoding != "identity")


def test_a_token_of_one_org_never_gets_anothers_cached_body(world, answered):
    org_a, org_b = world["org_a"], world["org_b"]
    before = [get(world, path, world["reader_a"]) for path in paths(world, org_b)]  # the app's answers
    for path in paths(world, org_b):  # B's bodies cached by an admin
        get(world, path, world["admin_token"])
        assert get(world, path, world["admin_token"]).status_code == 200
    answered.clear()
    after = [get(world, path, world["reader_a"]) for path in paths(world, org_b)]
    assert not any(answered)
    for old, new in zip(before, after, strict=True):
        assert new.status_code == 403 and comparable(new)[::2] == comparable(old)[::2]
    # Without org_id a reader of A reads A, from the cache too, never B's body.
    own = get(world, f"/api/reports/{world['day']}", world["reader_a"])
    again = get(world, f"/api/reports/{world['day']}", world["reader_a"])
    assert answered[-1] is True
    assert decoded(own)["metadata"]["org_id"] == decoded(again)["metadata"]["org_id"] == org_a


def test_a_token_revoked_after_caching_is_refused(world, answered):
    created = world["token"](name="soon revoked", org_ids=[world["org_a"]])
    for path in paths(world, world["org_a"]):
        get(world, path, created["token"])
        assert get(world, path, created["token"]).status_code == 200
    assert answered[-1] is True
    assert world["admin"].delete(f"/api/tokens/{created['id']}").status_code == 204
    for path in paths(world, world["org_a"]):
        refused = get(world, path, created["token"])
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert get(world, paths(world, world["org_a"])[0], None).status_code == 401


def test_a_store_write_invalidates_the_cached_body(world, answered):
    org = world["org_b"]
    path = f"/api/reports/{world['day']}?org_id={org}"
    get(world, path, world["admin_token"])
    assert get(world, path, world["admin_token"]).status_code == 200 and answered[-1] is True
    assert world["admin"].delete(f"/api/reports/{world['day']}", params={"org_id": org}).status_code == 200
    gone = get(world, path, world["admin_token"])
    assert gone.status_code == 404 and answered[-1] is False
    regenerated = world["admin"].post("/api/reports/generate", json={"org_id": org, "date": world["day"]})
    assert regenerated.status_code == 200
    assert get(world, path, world["admin_token"]).status_code == 200


@pytest.mark.parametrize(
    "suffix",
    [
        "&revision=1",  # a parameter the fast path does not know
        "&org_id={org}",  # given twice
        "&limit=5",
    ],
)
def test_other_parameters_go_to_the_app(world, answered, suffix):
    path = f"/api/reports/{world['day']}?org_id={world['org_a']}"
    get(world, path, world["reader_a"])
    get(world, path, world["reader_a"])
    answered.clear()
    response = get(world, path + suffix.format(org=world["org_a"]), world["reader_a"])
    assert answered == [False] and response.status_code < 500


def test_bad_input_head_and_sub_routes_go_to_the_app(world, answered):
    org = world["org_a"]
    get(world, f"/api/reports/latest?org_id={org}", world["reader_a"])
    answered.clear()
    assert get(world, "/api/reports/latest?org_id=bad%20id", world["reader_a"]).status_code == 422
    assert get(world, f"/api/reports/2024-02-30?org_id={org}", world["reader_a"]).status_code == 422
    assert get(world, f"/daily-report?org_id={org}&date=2999-01-01", world["reader_a"]).status_code in (
        400,
        422,
    )
    assert get(world, f"/api/reports/latest?org_id={org}", "cat_nope_nope").status_code == 401
    assert answered == [False] * 4
    answered.clear()
    for path in (f"/api/reports/{world['day']}/revisions?org_id={org}", f"/api/reports/export?org_id={org}"):
        get(world, path, world["reader_a"])
    assert answered == []  # never even looked at
    with httpx.Client(base_url=world["service"].url, timeout=60) as client:
        head = client.head(
            f"/api/reports/latest?org_id={org}", headers={"Authorization": f"Bearer {world['reader_a']}"}
        )
    assert answered == [] and head.status_code in (200, 405)


def test_fast_answers_count_in_the_request_metrics(world, answered):
    path = f"/api/reports/latest?org_id={world['org_a']}"
    get(world, path, world["reader_a"])

    def count() -> float:
        metrics = world["service"].server.config.app.state.metrics
        value = metrics.registry.get_sample_value(
            "call_analytics_http_requests_total",
            {"method": "GET", "route": "/api/reports/latest", "status": "200"},
        )
        return value or 0.0

    # The first answer (and any earlier test's) is recorded just after it is sent: count from
    # once the figure has stopped moving, or a late record would make the three below four.
    before = settled(count)
    for _ in range(3):
        assert get(world, path, world["reader_a"]).status_code == 200
    assert answered[-3:] == [True] * 3
    assert eventually(lambda: count() == before + 3), count()


@pytest.fixture
def fresh(world, monkeypatch) -> list[str]:
    """The paths the fast path answered after every check (not from an earlier answer's memo)."""
    fast: FastPath = world["service"].server.config.app._fast_path
    calls: list[str] = []
    real = fast._fresh_answer

    def spy(state, scope, headers, principal, version):
        calls.append(scope["path"])
        return real(state, scope, headers, principal, version)

    monkeypatch.setattr(fast, "_fresh_answer", spy)
    return calls


@pytest.fixture
def checked(world, monkeypatch) -> list[str | None]:
    """The Authorization headers whose credentials the fast path checked afresh."""
    fast: FastPath = world["service"].server.config.app._fast_path
    calls: list[str | None] = []
    real = fast._check_credentials

    def spy(state, authorization, version):
        calls.append(authorization)
        return real(state, authorization, version)

    monkeypatch.setattr(fast, "_check_credentials", spy)
    return calls


def test_a_repeat_is_answered_from_memo_and_credentials_are_checked_again_at_the_tokens_expiry(
    world, answered, fresh, checked, monkeypatch
):
    made = world["token"](name="memo", org_ids=[world["org_a"]], expires_in_days=1)
    token = made["token"]
    path = paths(world, world["org_a"])[0]
    for _ in range(3):  # the app's answer, then cached
        assert get(world, path, token).status_code == 200
    settled(lambda: recorded(world))  # the answers above are recorded, their uses too, before the spy
    tokens = world["service"].server.config.app.state.service.services.tokens
    uses: list[str] = []
    real_record_use = tokens.record_use
    monkeypatch.setattr(
        tokens, "record_use", lambda p, now: uses.append(p.actor_id) or real_record_use(p, now)
    )
    fresh.clear()
    checked.clear()
    repeats = [get(world, path, token).raw_body for _ in range(3)]
    assert answered[-3:] == [True, True, True] and fresh == [] and checked == []
    assert repeats[0] == repeats[2]
    # They count as the token's use, recorded with the batch they were answered in (RECORD_EVERY):
    # once per token and batch, as a token keeps only its latest use.
    assert eventually(lambda: len(uses) >= 1) and set(uses) == {made["id"]}
    # Another token of the same organization has its own credentials checked, then gets the answer.
    other = get(world, path, world["reader_a"])
    assert other.status_code == 200 and other.raw_body == repeats[0]
    assert checked == [f"Bearer {world['reader_a']}"] and fresh == []
    # Past the token's expiry (a clock two days on) its credentials are looked at again.
    import service.api.fast_path as fast_path_module

    later = type(
        "Clock",
        (),
        {"time": staticmethod(lambda: time.time() + 2 * 86400), "perf_counter": time.perf_counter},
    )
    monkeypatch.setattr(fast_path_module, "time", later)
    checked.clear()
    assert get(world, path, token).status_code == 200 and checked == [f"Bearer {token}"]


def test_a_live_answer_memo_ends_with_its_live_cache_entry(world, answered, fresh):
    path = paths(world, world["org_a"])[2]
    for _ in range(3):
        assert get(world, path, world["admin_token"]).status_code == 200
    fresh.clear()
    assert get(world, path, world["admin_token"]).status_code == 200 and fresh == []
    world["service"].server.config.app.state.service.services.live.invalidate()  # as a refresh does
    assert get(world, path, world["admin_token"]).status_code == 200
    assert fresh == ["/daily-report"] and answered[-1] is False  # the app recomputed it


def test_a_principal_is_checked_again_at_its_tokens_expiry():
    from reports_store import ApiToken
    from service.access.tokens import _principal

    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    token = ApiToken(
        id="abc", name="t", scope="reader", org_ids=["o"], secret_hash="x", created_at=now, last_used_at=now
    )
    assert _principal(token).check_again_at == float("inf")
    soon = now + timedelta(seconds=5)
    assert _principal(token.model_copy(update={"expires_at": soon})).check_again_at == soon.timestamp()
