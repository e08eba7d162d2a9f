"""The one typed settings object. Every field can be set from the environment as NIGHTSHIFT_<NAME>.

Units live in the names (``_s``, ``_mb``, ``_usd``). Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIGHTSHIFT_", extra="ignore")

    # --- Redis / Celery -------------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "nightshift"
    worker_concurrency: int = Field(8, ge=1, description="~8 active sandboxes per 2 cores")
    # Above the longest hard time limit (max_wall_s cap + grace) so a healthy run is never
    # redelivered while it is still running.
    visibility_timeout_s: int = 7200
    max_wall_s_cap: int = 5400
    time_limit_grace_s: int = 120
    # A run's lease, renewed every third of it: a delivery of a run whose worker died waits at most
    # this long before it resumes the run (README: recovery times).
    lease_ttl_s: int = Field(10, ge=2)
    # Attempts for infrastructure failures that core.errors.is_retryable deems transient
    # (a sandbox that would not start, ...); tool and model failures are never retried this way.
    max_attempts: int = Field(3, ge=1)
    retry_delay_s: float = 10.0

    # --- Artifact store ----------------------------------------------------------------------------
    store: Literal["local", "s3"] = "local"
    artifacts_dir: Path = Path("artifacts")
    spool_dir: Path = Path("var/spool")
    s3_bucket: str = "nightshift"
    s3_prefix: str = "runs"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None

    # --- Sandbox -----------------------------------------------------------------------------------
    docker_url: str | None = None  # None: the environment's DOCKER_HOST or the local socket
    sandbox_image: str = "nightshift-sandbox:latest"
    sandbox_socket_dir: Path = Path("/tmp/nightshift-sockets")
    sandbox_memory_mb: int = 2048
    sandbox_cpus: float = 1.0
    sandbox_pids_limit: int = 1024
    # The sandbox's writable space is tmpfs, and tmpfs pages count against the memory limit: these
    # sizes plus what the desktop and its apps need (the reserve) must fit in sandbox_memory_mb, so
    # a full disk is "No space left on device", never an out-of-memory kill of the whole desktop.
    sandbox_tmp_mb: int = Field(256, ge=16)
    sandbox_home_mb: int = Field(384, ge=16)
    sandbox_var_tmp_mb: int = Field(64, ge=1)
    sandbox_run_user_mb: int = Field(16, ge=1)
    sandbox_shm_mb: int = Field(256, ge=16, description="/dev/shm: Firefox and X shared memory")
    sandbox_process_reserve_mb: int = Field(1024, ge=256, description="desktop, Firefox, LibreOffice")
    # The fleet's egress proxy (network: {allow: [...]}): one squid container per worker host and
    # queue, on an internal Docker network of its own; rule files per sandbox under egress_rules_dir.
    egress_image: str = "nightshift-egress:latest"
    egress_rules_dir: Path = Path("/tmp/nightshift-egress")
    egress_ready_timeout_s: float = 30.0
    egress_memory_mb: int = 256
    sandbox_start_timeout_s: float = 30.0
    sandbox_ready_timeout_s: float = 20.0
    tool_timeout_s: float = 180.0
    # Warm pool (issue 14): ready sandboxes started ahead per (image, size, network), never reused.
    warm_pool_size: int = Field(2, ge=0, description="idle sandboxes per shape; 0 disables the pool")
    warm_pool_ttl_s: float = Field(600.0, gt=0, description="an idle pooled sandbox is recycled after this")
    warm_pool_interval_s: float = Field(1.0, gt=0, description="the keeper's pass when nothing wakes it")
    warm_pool_shape_ttl_s: float = Field(3600.0, gt=0, description="unasked shapes drain")

    # --- After the agent: outputs leave the sandbox, then checks run (issue 10) --------------------
    outputs_max_files: int = Field(200, ge=0, description="files collected per run; the rest skipped")
    outputs_max_total_mb: float = Field(1024, ge=0, description="bytes collected per run, all files together")
    outputs_chunk_kb: int = Field(1024, ge=4, le=16384, description="frame size of the streamed copy")
    s3_multipart_threshold_mb: int = Field(16, ge=5, description="larger uploads go by S3 multipart")
    after_agent_max_s: int = Field(600, ge=0, description="outputs and checks; adds to time limits")
    check_timeout_s: float = Field(300.0, gt=0, description="per check unless the task sets timeout_s")
    check_output_max_chars: int = Field(4000, ge=100, description="kept per check (its tail)")

    # --- Model API ---------------------------------------------------------------------------------
    api_provider: Literal["anthropic", "bedrock", "vertex"] = "anthropic"
    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = None
    api_max_retries: int = 6
    api_timeout_s: float = 600.0
    # Read responses as server-sent events (the SDK's stream helpers): a long generation (max_tokens
    # up to 128K) keeps the connection busy instead of waiting on one read timeout.
    api_stream: bool = True
    # Active until at least 2027-09-28, the toolset, $2/$10 (TOOLS.md §10.5); Sonnet 4.5 retired.
    default_model: str = "claude-sonnet-5-5"
    # text_editor_20250728's max_characters (truncation of `view`); None: the executor's default.
    editor_max_characters: int | None = Field(None, ge=1)
    # Extra or overriding catalog rows / prices, merged over the built-in rows and the Models API's
    # (JSON in env; field names as in core/models.py ModelConfig). `nightshift models` shows the result.
    model_configs: dict[str, dict[str, Any]] = {}
    model_prices: dict[str, dict[str, float]] = {}
    # Opt-in rewrites at enqueue, e.g. {"claude-sonnet-4-5": "claude-sonnet-5-5"}; recorded on the run.
    model_migrations: dict[str, str] = {}
    # Models API refresh (workers, at start and then every interval), cached in Redis this long.
    catalog_refresh_s: float = Field(86_400, gt=0)
    catalog_cache_ttl_s: int = Field(7 * 86_400, gt=0)

    # --- Context management on models that bind thinking blocks (TOOLS.md §10.2, §10.3) ---------------
    # Server-side clear_tool_uses_20250919: trigger (input tokens), tool uses kept, least cleared.
    # Above the API's 100K default: with 0.05x cache reads every clearing step re-writes the tail and
    # costs more than reading it (bench/cost.py); a model with a long-prompt tier clears below it.
    context_clear_trigger_tokens: int = Field(120_000, ge=1)
    context_clear_keep_tool_uses: int = Field(3, ge=0)
    context_clear_at_least_tokens: int = Field(0, ge=0)
    # compact_20260112 when a run's max_steps could outgrow this many input tokens (API minimum 50K).
    context_compact_trigger_tokens: int | None = Field(150_000, ge=50_000)
    # The documented opt-out: drop a thinking block whose prefix changed instead of failing (beta).
    thinking_drop_mismatched_blocks: bool = False

    # --- Fleet-wide API rate limits (0 = unlimited) ------------------------------------------------
    rate_requests_per_min: int = 0
    rate_input_tokens_per_min: int = 0
    rate_output_tokens_per_min: int = 0

    # --- Human approvals (issue 13) ---------------------------------------------------------------
    approval_timeout_s: float = Field(8 * 3600, gt=0, description="a decision after this fails the run")
    approval_webhook_url: str | None = None  # POSTed a JSON summary when a run starts waiting
    approval_webhook_timeout_s: float = Field(5.0, gt=0)
    # an approval policy reading the browser's address first lets the last input settle this long
    # (Firefox records a navigation in its session store 2-3.5 s after it; sandbox_image/executor/page.py)
    approval_page_settle_s: float = Field(4.0, ge=0, le=30)

    # --- Cron and housekeeping -------------------------------------------------------------------------
    schedules_file: Path | None = None
    reaper_interval_s: float = 30.0
    # After Redis (re)starts, the reaper resumes no run for this long: a lease whose TTL ran out
    # during the outage is taken back by its live worker's heartbeat first (never run twice).
    reaper_restart_grace_s: float = Field(15.0, ge=0)
    # Terminal run records (hash, events, cancel flag) expire after this; artifacts stay. 0: keep.
    record_retention_s: int = Field(7 * 86_400, ge=0)
    # How long one Redis call keeps retrying across an outage before it gives up (the run waits).
    redis_outage_max_s: float = Field(600.0, gt=0)
    log_level: str = "INFO"
    # Prometheus endpoint of each worker's main process (0: none); the API serves /metrics itself.
    metrics_port: int = Field(9808, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    log_json: bool = False

    # --- Scheduler side: enqueue limits, run events, HTTP API, S3 client, spool ----------------------
    # (added with scheduler/records, enqueue, api and workers/store; existing fields above unchanged)
    input_file_max_mb: float = Field(25, gt=0, description="per input file, stored in Redis")
    input_run_max_mb: float = Field(50, gt=0, description="all input files of one run")
    check_secrets: bool = Field(True, description="enqueue refuses tasks whose secrets are unset here")
    api_host: str = "127.0.0.1"
    api_port: int = 8707
    api_token: SecretStr | None = None  # when set, the HTTP API wants "Authorization: Bearer <token>"
    api_max_body_kb: int = 1024
    s3_connect_timeout_s: float = 5.0
    s3_read_timeout_s: float = 30.0
    s3_max_attempts: int = Field(3, ge=1, description="botocore attempts before the spool takes over")
    spool_flush_interval_s: float = Field(15.0, gt=0, description="background upload of spooled objects")


    @model_validator(mode="after")
    def _tmpfs_fits_in_memory(self) -> Settings:
        if self.sandbox_tmpfs_budget_mb + self.sandbox_process_reserve_mb > self.sandbox_memory_mb:
            raise ValueError(
                f"sandbox tmpfs mounts ({self.sandbox_tmpfs_budget_mb} MiB) plus the process reserve "
                f"({self.sandbox_process_reserve_mb} MiB) exceed sandbox_memory_mb "
                f"({self.sandbox_memory_mb}): "
                "a full disk would get the sandbox killed for memory; shrink the mounts or raise the limit"
            )
        return self

    @property
    def sandbox_tmpfs_budget_mb(self) -> int:
        """Every tmpfs of a sandbox together (/tmp, home, /var/tmp, /run/user, /dev/shm)."""
        return (self.sandbox_tmp_mb + self.sandbox_home_mb + self.sandbox_var_tmp_mb
                + self.sandbox_run_user_mb + self.sandbox_shm_mb)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once per process (call it from main, never at import time)."""
    return Settings(**overrides)
