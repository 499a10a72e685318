"""Node configuration: defaults ← configs/levels/<level>.toml ← the home's node.toml ← env.

Levels differ only by the capabilities written in their TOML (R1.2 central phone intake,
R7.2 database tiers and collection points, R3.4 who issues directives), never by
subclasses. Everything is parsed into frozen dataclasses at start and an unknown or
ill-typed key fails at once with its name (STYLE.md "Config"). Every key is documented in
docs/config.md; a test keeps the two in step.

Environment overrides: ``N12315_<SECTION>__<KEY>`` (double underscore between section and
key), e.g. ``N12315_REPLICATION__BATCH_SIZE=100``; values are parsed as TOML literals, and a
bare word that is not valid TOML is taken as a string.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from node.errors import NodeError

LEVELS = ("hq", "province", "prefecture", "county", "station")
LEVEL_NAMES_ZH = {"hq": "总局", "province": "省局", "prefecture": "地（市）局",
                  "county": "县（市）局", "station": "市场监管所"}
# The shipped level files, rule sets, plans and tables travel inside the package (issue 16
# item 1): an installed node reads nothing relative to a checkout. For a regular install
# ``files()`` is the package's real directory; the checkout's top-level ``configs`` is a
# link to this one, kept for readers of the docs and the tests.
CONFIGS_DIR = Path(str(importlib.resources.files("node"))) / "configs"
NODE_FILE = "node.toml"


@dataclass(frozen=True)
class Capabilities:
    central_phone_intake: bool = False
    analysis_centre: bool = False
    database_tier: bool = False
    collection_point: bool = True
    issues_directives: bool = False
    handles_cases: bool = True
    designates_direct_report: bool = False


@dataclass(frozen=True)
class ReplicationSettings:
    batch_size: int = 200             # rule 7: bounded batches (see BENCHMARKS.md for why 200)
    max_batch_bytes: int = 4 * 1024 * 1024
    push_interval_s: float = 2.0
    pull_interval_s: float = 15.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 3600.0     # rule 10: capped at about an hour
    request_timeout_s: float = 15.0
    clock_skew_s: int = 300           # rule 13: ±5 minutes
    max_concurrent_syncs: int = 8     # rule 11
    retry_after_s: int = 5
    receipt_keep_days: int = 30
    silent_after_hours: int = 24      # rule 19


@dataclass(frozen=True)
class StatsSettings:
    rollup_interval_s: int = 300
    forward_debounce_s: float = 5.0   # issue 15 P6: a changed day goes up this long after the change
    stale_after_hours: int = 24
    max_range_days: int = 1100
    heartbeat_minutes: int = 60       # a snapshot at least this often, so coverage stays fresh
    reconcile_interval_hours: int = 24   # full fingerprint check of the case table (docs/statistics.md)
    max_direct_report_points: int = 100  # R4.2: HQ designates 100 direct-report points
    hotspot_min_count: int = 5        # a surge needs at least this many cases this week
    hotspot_ratio: float = 2.0        # ... and at least this multiple of last week
    hotspot_alpha: float = 0.01       # ... and a Poisson upper-tail p-value below this
    hotspot_top_firms: int = 20       # most-complained firms listed


@dataclass(frozen=True)
class DeadlineSettings:
    rules_dir: str = ""               # empty: the shipped configs/rules
    operator_calendar: str = "calendar.toml"   # relative to the home
    overdue_check_interval_s: int = 600


@dataclass(frozen=True)
class DeskSettings:
    idle_timeout_minutes: int = 30    # a desk session unused this long ends (issue 11)
    lockout_attempts: int = 5         # consecutive failed sign-ins before the login is locked
    lockout_minutes: int = 15         # ... for this long
    page_size: int = 50               # rows per page in desk lists


@dataclass(frozen=True)
class EvidenceSettings:
    max_bytes: int = 10 * 1024 * 1024     # one attachment, checked on its content (issue 11 item 5)
    max_files_per_case: int = 50
    chunk_bytes: int = 512 * 1024         # blobs travel in chunks of this size (base64 adds a third)
    allow_text: bool = True               # plain-text receipts besides JPEG, PNG, WebP and PDF
    max_image_pixels: int = 40_000_000    # larger images are refused (decompression bombs)
    jpeg_quality: int = 92                # re-encoding when the original's tables cannot be kept


@dataclass(frozen=True)
class HttpSettings:
    """How ``serve`` faces the network (issue 13 item 9, issue 16 item 3; docs/operations.md)."""
    trusted_proxy: str = ""               # address of the TLS reverse proxy whose forwarded headers count ("" = none)
    trusted_proxy_count: int = 1          # proxies in front of the node (hops of X-Forwarded-For to trust)
    trusted_proxy_headers: str = "x-forwarded-for x-forwarded-proto"
    log_format: str = "text"              # "json": one JSON object per log line (for a log collector)
    allow_http_peers: bool = False        # peers over plain http:// beyond this machine (a closed test network only)


@dataclass(frozen=True)
class NotifySettings:
    """Senders that reach people (issue 12 item 4; docs/notifications.md). Empty URL or host:
    that channel is off (messages for it wait, visible in the delivery log)."""
    sms_url: str = ""                     # the SMS gateway: JSON POSTed here, HMAC-signed
    sms_secret: str = ""                  # HMAC-SHA256 key for the gateway's signature header
    smtp_host: str = ""                   # e-mail relay; empty: no e-mail
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "12315@localhost"
    timeout_s: float = 10.0
    max_attempts: int = 8                 # then the message is marked failed (the log says why)
    backoff_base_s: float = 30.0          # retry after base * 2**attempts, capped
    backoff_cap_s: float = 3600.0
    flush_interval_s: float = 15.0


@dataclass(frozen=True)
class PublicSettings:
    """The public portal and its abuse limits (issue 12 items 1-3)."""
    submit_per_address_per_hour: int = 10     # case submissions from one client address
    submit_per_phone_per_day: int = 5         # case submissions naming one phone
    code_per_phone_per_hour: int = 5          # one-time codes sent to one phone
    code_per_address_per_hour: int = 20       # one-time codes asked for from one address
    track_per_address_per_hour: int = 60      # progress look-ups (wrong codes count too)
    code_ttl_minutes: int = 10                # a one-time code expires
    code_max_tries: int = 5                   # wrong tries before a code is spent
    require_phone_code: bool = True           # a complaint's phone is checked by SMS code
    publish_hotspots: bool = True             # the front page shows this week's surges (categories, regions)


@dataclass(frozen=True)
class AccountSettings:
    """Staff accounts (issue 13 item 5)."""
    token_days: int = 90                      # an API token expires this many days after it is issued


@dataclass(frozen=True)
class AuditSettings:
    """The tamper-evident audit log (issue 13 item 4)."""
    head_sign_interval_s: int = 3600          # how often the log's head is signed with the node key


@dataclass(frozen=True)
class MetricsSettings:
    """``GET /metrics`` for Prometheus (issue 14 "Seen from outside"; docs/metrics.md)."""
    allow: str = "127.0.0.0/8 ::1/128"        # client networks (CIDRs, space-separated) scraping without a token


@dataclass(frozen=True)
class TriageRule:
    urgency: str
    keywords: tuple[str, ...]
    name: str = ""


DEFAULT_TRIAGE = (
    TriageRule("critical", ("死亡", "群体性", "多人中毒", "爆炸", "火灾", "mass incident"), "重大伤亡或群体性事件"),
    TriageRule("urgent", ("食物中毒", "中毒", "受伤", "烫伤", "过敏", "儿童", "燃气", "injury", "poisoning"),
               "人身伤害或食品安全"),
)


@dataclass(frozen=True)
class NodeConfig:
    level: str
    code: str
    name: str
    url: str
    home: str
    db_url: str
    capabilities: Capabilities = field(default_factory=Capabilities)
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    desk: DeskSettings = field(default_factory=DeskSettings)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    public: PublicSettings = field(default_factory=PublicSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    triage: tuple[TriageRule, ...] = DEFAULT_TRIAGE
    invite_ttl_hours: float = 24.0
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"

    @property
    def home_path(self) -> Path:
        return Path(self.home)


SECTIONS: dict[str, type] = {
    "capabilities": Capabilities,
    "replication": ReplicationSettings,
    "stats": StatsSettings,
    "deadlines": DeadlineSettings,
    "desk": DeskSettings,
    "evidence": EvidenceSettings,
    "notify": NotifySettings,
    "http": HttpSettings,
    "public": PublicSettings,
    "accounts": AccountSettings,
    "audit": AuditSettings,
    "metrics": MetricsSettings,
}
IDENTITY_KEYS = ("level", "code", "name", "url", "db_url")
TOP_LEVEL_KEYS = ("invite_ttl_hours", "max_body_bytes", "log_level")


def config_error(message: str, key: str | None = None) -> NodeError:
    return NodeError(500, "config_error", message, key)


def _coerce(value: Any, target: Any, key: str) -> Any:
    """Check a TOML value against the dataclass field type; refuse silently-wrong types."""
    if target in (bool, "bool"):
        if isinstance(value, bool):
            return value
    elif target in (int, "int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif target in (float, "float"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif target in (str, "str") and isinstance(value, str):
        return value
    raise config_error(f"配置项 {key} 类型错误（应为 {getattr(target, '__name__', target)}）"
                       f" / config key {key} must be {getattr(target, '__name__', target)}", key)


def _merge_section(current: Any, data: Mapping[str, Any], section: str) -> Any:
    if not isinstance(data, Mapping):
        raise config_error(f"配置节 [{section}] 必须是表 / [{section}] must be a table", section)
    types = {f.name: f.type for f in fields(current)}
    updates = {}
    for key, value in data.items():
        if key not in types:
            raise config_error(f"未知配置项 {section}.{key} / unknown config key {section}.{key}",
                               f"{section}.{key}")
        updates[key] = _coerce(value, types[key], f"{section}.{key}")
    return dataclasses.replace(current, **updates)


def _parse_triage(value: Any) -> tuple[TriageRule, ...]:
    if not isinstance(value, list):
        raise config_error("triage 必须是规则列表 / triage must be an array of tables", "triage")
    rules = []
    for i, item in enumerate(value):
        key = f"triage[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"urgency", "keywords", "name"}:
            raise config_error(f"{key} 只能含 urgency, keywords, name / {key} takes urgency, keywords, name", key)
        if item.get("urgency") not in ("urgent", "critical"):
            raise config_error(f"{key}.urgency 须为 urgent 或 critical / must be urgent or critical", key + ".urgency")
        kws = item.get("keywords")
        if not isinstance(kws, list) or not kws or not all(isinstance(k, str) and k for k in kws):
            raise config_error(f"{key}.keywords 须为非空字符串列表 / must be a non-empty list of strings",
                               key + ".keywords")
        rules.append(TriageRule(item["urgency"], tuple(kws), str(item.get("name", ""))))
    return tuple(rules)


def _apply(cfg: NodeConfig, data: Mapping[str, Any], source: str) -> NodeConfig:
    updates: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            updates[key] = _merge_section(updates.get(key, getattr(cfg, key)), value, key)
        elif key == "triage":
            updates["triage"] = _parse_triage(value)
        elif key in IDENTITY_KEYS or key in TOP_LEVEL_KEYS:
            target = {f.name: f.type for f in fields(NodeConfig)}[key]
            updates[key] = _coerce(value, target, key)
        else:
            raise config_error(f"{source}: 未知配置项 {key} / unknown config key {key}", key)
    return dataclasses.replace(cfg, **updates)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise config_error(f"找不到配置文件 {path} / config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise config_error(f"配置文件 {path} 已损坏：{exc} / config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise config_error(f"无法读取配置文件 {path}：{exc.strerror} / cannot read {path}") from None


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``N12315_<SECTION>__<KEY>`` and the top-level keys (``N12315_LOG_LEVEL`` …). Other
    ``N12315_*`` variables (``N12315_HOME``, test and benchmark settings) are not config."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("N12315_"):
            continue
        rest = name[len("N12315_"):].lower()
        if "__" not in rest and rest not in TOP_LEVEL_KEYS:
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        if "__" in rest:
            section, key = rest.split("__", 1)
            out.setdefault(section, {})[key] = value
        else:
            out[rest] = value
    return out


def load_config(home: str | Path, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Load a node's configuration from its home (raises NodeError naming the bad key)."""
    home_path = Path(home)
    data = read_toml(home_path / NODE_FILE)
    node = data.get("node")
    if not isinstance(node, Mapping):
        raise config_error(f"{home_path / NODE_FILE} 缺少 [node] 节 / missing [node] table", "node")
    missing = [k for k in ("level", "code", "name", "url") if not node.get(k)]
    if missing:
        raise config_error(f"{NODE_FILE} 缺少 node.{missing[0]} / missing node.{missing[0]}", f"node.{missing[0]}")
    level = node["level"]
    if level not in LEVELS:
        raise config_error(f"node.level 无效：{level} / invalid level", "node.level")
    cfg = NodeConfig(level=level, code=str(node["code"]), name=str(node["name"]), url=str(node["url"]),
                     home=str(home_path.resolve()),
                     db_url=str(node.get("db_url") or default_db_url(home_path)))
    level_file = CONFIGS_DIR / "levels" / f"{level}.toml"
    cfg = _apply(cfg, read_toml(level_file), str(level_file))
    rest = {k: v for k, v in data.items() if k != "node"}
    extra_node = {k: v for k, v in node.items() if k not in ("level", "code", "name", "url", "db_url")}
    if extra_node:
        raise config_error(f"未知配置项 node.{next(iter(extra_node))} / unknown key", f"node.{next(iter(extra_node))}")
    cfg = _apply(cfg, rest, str(home_path / NODE_FILE))
    env = _env_overrides(os.environ if environ is None else environ)
    if env:
        cfg = _apply(cfg, env, "environment")
    return cfg


def default_db_url(home: Path) -> str:
    return f"sqlite:///{(home / 'node.db').resolve()}"


def render_node_toml(level: str, code: str, name: str, url: str, db_url: str | None) -> str:
    """The node.toml that ``n12315 init`` writes; operators add sections below it."""
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = ["# n12315 node configuration. Sections added here override configs/levels/"
             f"{level}.toml;", "# see docs/config.md for every key.", "[node]",
             f"level = {q(level)}", f"code = {q(code)}", f"name = {q(name)}", f"url = {q(url)}"]
    if db_url:
        lines.append(f"db_url = {q(db_url)}")
    return "\n".join(lines) + "\n"


def documented_keys() -> list[str]:
    """Every configurable key, dotted; tests check each one appears in docs/config.md."""
    keys = [f"node.{k}" for k in IDENTITY_KEYS] + list(TOP_LEVEL_KEYS) + ["triage"]
    for section, cls in SECTIONS.items():
        keys += [f"{section}.{f.name}" for f in fields(cls)]
    return keys
