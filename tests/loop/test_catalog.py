"""The model catalog: family rules for unknown ids, settings rows, per-response prices (1-hour
writes, Haiku 5.5's long-prompt card), and the Models API refresh through the SDK into Redis."""

from __future__ import annotations

import anthropic
import pytest
import redis as redis_lib
from structlog.testing import capture_logs

from core.catalog import Catalog, catalog_for, resolve_model
from core.settings import Settings
from tests.fake_api import FakeAnthropicAPI
from workers.agent.catalog_refresh import refresh_catalog
from workers.agent.usage import Accounts


def test_an_unknown_id_behaves_like_its_lines_newest_generation_and_says_so() -> None:
    with capture_logs() as logs:
        row = resolve_model("claude-haiku-6")
    assert (row.tools, row.binds_thinking, row.input_usd_per_mtok) == ("computer_use_20260801", True, 0.10)
    assert logs[0]["event"] == "model.family_rule" and logs[0]["behaves_like"] == "claude-haiku-5-5"


def test_a_dated_id_uses_its_base_row_but_a_new_minor_version_does_not() -> None:
    catalog = Catalog.build()
    assert catalog.resolve("claude-opus-4-6-20260205").tools == "computer_use_20251124"
    assert catalog.resolve("claude-opus-4-9").tools == "computer_use_20260801"  # never Opus 4's 2025 tools


def test_settings_add_and_override_rows() -> None:
    settings = Settings.model_validate(
        {"model_configs": {"claude-sonnet-9": {"max_tokens": 32000}},
         "model_prices": {"claude-opus-5-5": {"output_usd_per_mtok": 30.0}}}
    )  # fmt: skip
    catalog = Catalog.build(settings)
    new = catalog.resolve("claude-sonnet-9")
    assert (new.tools, new.max_tokens, new.source) == ("computer_use_20260801", 32000, "settings")
    assert catalog.resolve("claude-opus-5-5").output_usd_per_mtok == 30.0


def test_one_hour_writes_and_cache_reads_at_their_own_rates() -> None:
    accounts = Accounts(resolve_model("claude-opus-5-5"))
    usage = {"input_tokens": 1_000_000, "cache_creation_input_tokens": 3_000_000,
             "cache_creation": {"ephemeral_1h_input_tokens": 1_000_000}, "cache_read_input_tokens": 1_000_000,
             "output_tokens": 1_000_000}  # fmt: skip
    accounts.add(usage)
    assert accounts.cost_usd == pytest.approx(4 + 2 * 5 + 8 + 0.20 + 20)


def test_haikus_long_prompt_card_prices_every_token_of_that_request() -> None:
    accounts = Accounts(resolve_model("claude-haiku-5-5"))
    accounts.add({"input_tokens": 100_000, "output_tokens": 1000})  # at the threshold: short card
    short = accounts.cost_usd
    accounts.add({"input_tokens": 40_000, "cache_read_input_tokens": 70_000, "output_tokens": 1000})
    assert short == pytest.approx((100_000 * 0.10 + 1000 * 0.50) / 1e6)
    assert accounts.cost_usd - short == pytest.approx((40_000 * 0.50 + 70_000 * 0.05 + 1000 * 2.50) / 1e6)


def test_the_models_api_refresh_is_cached_in_redis_and_read_back(
    api: FakeAnthropicAPI, client: anthropic.Anthropic, redis_client: redis_lib.Redis
) -> None:
    settings = Settings.model_validate({})
    assert refresh_catalog(client, redis_client, settings) == 13
    catalog = catalog_for(settings, redis_client)
    opus = catalog.resolve("claude-opus-4-8")
    assert (opus.source, opus.thinking_types, opus.max_tokens_limit) == (
        "models-api",
        ("off", "adaptive"),
        128_000,
    )
    sonnet = catalog.resolve("claude-sonnet-4-5")
    assert (sonnet.lifecycle, sonnet.retires_on, sonnet.replacement) == (
        "retired",
        "2026-11-30",
        "claude-sonnet-5-5",
    )


def test_without_redis_the_built_in_rows_serve() -> None:
    dead = redis_lib.Redis(port=1, socket_connect_timeout=0.2)
    assert catalog_for(Settings.model_validate({}), dead).resolve("claude-opus-4-8").source == "built-in"
