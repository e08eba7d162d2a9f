"""The model client builder and the model-config lookup with settings overrides."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from core.settings import Settings
from tests.fake_api import FakeAnthropicAPI, reply, text
from tests.loop.conftest import FAST, FakeClock, FakeSandbox, RecordingHooks, make_spec
from workers.agent.loop import LoopOptions, run_session
from workers.agent.model_client import build_client, model_config_for


def make_settings(**values: Any) -> Settings:
    """Settings from these values only (no environment), so the tests are hermetic."""
    return Settings.model_validate(values)


def test_first_party_client_never_retries_by_itself(api: FakeAnthropicAPI) -> None:
    settings = make_settings(ANTHROPIC_API_KEY="sk-test", anthropic_base_url=api.base_url, api_timeout_s=42)
    client = build_client(settings)
    assert isinstance(client, anthropic.Anthropic)
    assert (client.max_retries, client.timeout, str(client.base_url).rstrip("/")) == (0, 42, api.base_url)


def test_the_built_client_drives_a_session(api: FakeAnthropicAPI) -> None:
    api.enqueue(reply(text("done")))
    client = build_client(make_settings(ANTHROPIC_API_KEY="sk-test", anthropic_base_url=api.base_url))
    spec = make_spec()
    config = model_config_for(spec.model or "", make_settings())
    result = run_session(spec, FakeSandbox(), client, RecordingHooks(), model_config=config, options=FAST,
                         clock=FakeClock())  # fmt: skip
    assert result.state == "succeeded"


def test_bedrock_and_vertex_clients() -> None:
    bedrock = build_client(make_settings(), provider="bedrock", aws_region="eu-west-1")
    assert isinstance(bedrock, anthropic.AnthropicBedrock) and bedrock.max_retries == 0
    vertex = build_client(
        make_settings(), provider="vertex", vertex_region="europe-west1", vertex_project_id="p"
    )
    assert isinstance(vertex, anthropic.AnthropicVertex) and vertex.max_retries == 0


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown API provider"):
        build_client(make_settings(), provider="azure")  # type: ignore[arg-type]


def test_settings_override_model_configs_and_prices() -> None:
    settings = make_settings(
        model_configs={"claude-sonnet-9": {"tools": "computer_use_20260801", "max_tokens": 32000}},
        model_prices={
            "claude-sonnet-9": {"input_usd_per_mtok": 2.0},
            "claude-opus-4-5": {"output_usd_per_mtok": 20.0},
        },
    )
    new = model_config_for("claude-sonnet-9-20270101", settings)
    assert (new.tools, new.max_tokens, new.input_usd_per_mtok) == ("computer_use_20260801", 32000, 2.0)
    opus = model_config_for("claude-opus-4-5", settings)
    assert (opus.output_usd_per_mtok, opus.input_usd_per_mtok, opus.tools) == (
        20.0,
        5.0,
        "computer_use_20251124",
    )


def test_a_task_without_a_model_uses_the_settings_default(api: FakeAnthropicAPI) -> None:
    api.enqueue(reply(text("done")))
    values = make_settings(default_model="claude-opus-4-8", api_max_retries=2, api_timeout_s=30)
    client = build_client(make_settings(ANTHROPIC_API_KEY="sk-test", anthropic_base_url=api.base_url))
    config = model_config_for(values.default_model, values)
    spec = make_spec(model=None)
    result = run_session(spec, FakeSandbox(), client, RecordingHooks(), model_config=config, settings=values,
                         clock=FakeClock())  # fmt: skip
    assert result.state == "succeeded"
    assert api.requests[0].body["model"] == "claude-opus-4-8"
    assert api.requests[0].body["tools"][0] == {"type": "computer_toolset_20260801"}
    assert LoopOptions.from_settings(values).backoff.max_attempts == 3
