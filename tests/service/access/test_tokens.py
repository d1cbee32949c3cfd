"""Token uses are written together, at most once a TOUCH_EVERY: every write changes the store's data
version, which empties the caches keyed on it (token, response and fast-path caches)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reports_store import Organization, open_store
from service.access.principal import API_KEY_ADMIN
from service.access.tokens import TOUCH_EVERY, TokenRequest, Tokens
from service.core.config import Settings


def test_token_uses_are_written_together_at_most_once_a_minute(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.upsert_organization(Organization(org_id="acme", name="Acme", node_persistent_id="node_1"))
    tokens = Tokens(Settings(api_key="k" * 32), store)
    made = [tokens.create(TokenRequest(name=f"t{i}", org_ids=["acme"])) for i in range(3)]
    start = datetime.now(UTC)

    def use(index: int, seconds: float) -> None:
        tokens.authenticate(f"Bearer {made[index].token}", start + timedelta(seconds=seconds))

    def last_used() -> list[datetime | None]:
        return [store.get_token(token.id).last_used_at for token in made]

    use(0, 0)  # the first use after start is written at once
    assert last_used() == [start, None, None]
    version = store.data_version()
    use(1, 10)
    use(2, 20)
    use(0, 30)
    tokens.authenticate("Bearer " + "k" * 32, start + timedelta(seconds=40))  # API_KEY: not a token
    assert last_used() == [start, None, None] and store.data_version() == version  # no write yet
    minute = TOUCH_EVERY.total_seconds()
    use(1, minute + 1)  # one write carries every use since
    assert last_used() == [
        start + timedelta(seconds=30),
        start + timedelta(seconds=minute + 1),
        start + timedelta(seconds=20),
    ]
    use(2, minute + 5)
    tokens.record_use(API_KEY_ADMIN, start + timedelta(seconds=minute + 6))
    tokens.write_uses()  # at shutdown: what is left
    assert last_used()[2] == start + timedelta(seconds=minute + 5)
    store.close()
