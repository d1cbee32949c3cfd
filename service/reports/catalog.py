"""The KPI catalogue, read from the dbt project itself: the one source of every KPI's name.

`meta.report_kpis` of agg_daily_org_metrics and `meta.report_breakdowns` of
agg_daily_org_breakdowns (models/marts/_marts.yml) declare each KPI and breakdown; the report
JSON, the live endpoints, the stored-report summaries and the dashboard (`GET /api/catalog`) all
follow them. Adding a KPI is SQL plus YAML.

Each KPI has one headline value (`Kpi.headline_value`: the number, or a nested object's
percentage) that the summaries, the comparisons, the anomaly flags (the dbt model
agg_daily_org_kpi_baselines computes it with the same operations) and the dashboard all use.
The business-rule vars the service needs (`comparison_min_calls`) are read from the project's
`vars`, like every other rule: dbt_project.yml is the one place to tune them.

`metrics_version` hashes what defines the numbers: the models' and macros' raw SQL, the report
declaration and the business-rule vars. Compiled SQL is left out on purpose: it embeds the
refresh window, which would change the version with every refresh.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.core.errors import CatalogError

METRICS_MODEL = "agg_daily_org_metrics"
BREAKDOWNS_MODEL = "agg_daily_org_breakdowns"
MARTS_YAML = Path("models/marts/_marts.yml")
# Vars that select what to rebuild, not what the numbers mean.
WINDOW_VARS = frozenset({"refresh_start_date", "refresh_end_date", "refresh_org_ids"})
# The mart column counting a day's calls: what comparison_min_calls is measured against.
CALLS_COLUMN = "total_calls"

_M = TypeVar("_M", bound=BaseModel)
KpiFormat = Literal["int", "decimal", "percent", "share"]


class ObjectKeys(BaseModel):
    """Key names of a nested KPI object, which differ between KPIs in the seed's report JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: str
    denominator: str
    percentage: str


class Kpi(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    numerator: str
    denominator: str | None = None
    multiply_by: float = 1
    divide_by: float = 1
    object_keys: ObjectKeys | None = None
    label: str = ""
    description: str = ""
    format: KpiFormat | None = None
    unit: str | None = None
    primary: bool = False
    summary_key: str | None = None
    trend: str | None = None
    endpoint: str | None = Field(default=None, pattern=r"^/[a-z0-9-]+$")

    @model_validator(mode="after")
    def _defaults(self) -> Kpi:
        # Frozen model: fill derived defaults through object.__setattr__, once, at validation.
        if not self.label:
            object.__setattr__(self, "label", self.key.replace("_", " ").capitalize())
        if self.format is None:
            object.__setattr__(self, "format", self._inferred_format())
        return self

    def _inferred_format(self) -> KpiFormat:
        if self.object_keys is not None:
            return "share"
        if self.denominator is not None and self.multiply_by == 100:
            return "percent"
        if self.denominator is None and self.multiply_by == 1 and self.divide_by == 1:
            return "int"
        return "decimal"

    def value(self, metrics: dict[str, float]) -> Any:
        """This KPI from summed mart columns: rounded once, from unrounded sums; x/0 is None."""
        numerator = metrics.get(self.numerator, 0) or 0
        denominator = metrics.get(self.denominator, 0) or 0 if self.denominator else None
        if self.object_keys is not None:
            keys = self.object_keys
            percentage = round(100 * numerator / denominator, 2) if denominator else None
            return {
                keys.count: int(numerator),
                keys.denominator: int(denominator or 0),
                keys.percentage: percentage,
            }
        if self.denominator is None:
            if self.format == "int":
                return int(numerator)
            return round(numerator * self.multiply_by / self.divide_by, 2)
        if not denominator:
            return None
        return round(numerator * self.multiply_by / self.divide_by / denominator, 2)

    @property
    def is_rate(self) -> bool:
        """A KPI with a denominator: the ones anomaly flags watch."""
        return self.denominator is not None

    def headline(self, value: Any) -> Any:
        """The headline number of this KPI's report value: itself, or a nested object's percentage."""
        if self.object_keys is not None and isinstance(value, dict):
            return value.get(self.object_keys.percentage)
        return value

    def headline_value(self, metrics: dict[str, float]) -> float | int | None:
        """The headline number from summed mart columns (as shown in the report)."""
        return self.headline(self.value(metrics))

    def summary_value(self, kpis: dict[str, Any]) -> Any:
        """The value report listings show: the headline number of the report's KPI value."""
        return self.headline(kpis.get(self.key))


class Breakdown(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""
    endpoint: str | None = Field(default=None, pattern=r"^/[a-z0-9-]+$")


class Catalog(BaseModel):
    """Every KPI and breakdown of the reports, in the order of the YAML."""

    model_config = ConfigDict(frozen=True)

    metrics_version: str
    kpis: tuple[Kpi, ...]
    breakdowns: tuple[Breakdown, ...]
    # Var comparison_min_calls: an earlier period with fewer calls is not compared.
    comparison_min_calls: int

    @property
    def metric_columns(self) -> list[str]:
        """The mart columns the KPIs read, and the calls column comparisons need."""
        columns = {kpi.numerator for kpi in self.kpis} | {
            kpi.denominator for kpi in self.kpis if kpi.denominator
        }
        return sorted(columns | {CALLS_COLUMN})

    @property
    def kpi_order(self) -> dict[str, int]:
        """Each KPI key's position in the YAML (to list anomalies in catalogue order)."""
        return {kpi.key: i for i, kpi in enumerate(self.kpis)}

    def headline_values(self, metrics: dict[str, float]) -> dict[str, float | int | None]:
        return {kpi.key: kpi.headline_value(metrics) for kpi in self.kpis}

    @property
    def breakdown_keys(self) -> tuple[str, ...]:
        return tuple(b.key for b in self.breakdowns)

    def kpi_values(self, metrics: dict[str, float]) -> dict[str, Any]:
        return {kpi.key: kpi.value(metrics) for kpi in self.kpis}

    def summarize(self, report: dict[str, Any]) -> dict[str, Any]:
        """The summary columns of a stored report (a KPI it lacks is None)."""
        kpis = report.get("kpis") or {}
        return {kpi.summary_key: kpi.summary_value(kpis) for kpi in self.kpis if kpi.summary_key}

    def endpoint_kpis(self) -> dict[str, tuple[Kpi, ...]]:
        """Live KPI endpoints and the KPIs each answers, in YAML order."""
        found: dict[str, list[Kpi]] = {}
        for kpi in self.kpis:
            if kpi.endpoint:
                found.setdefault(kpi.endpoint, []).append(kpi)
        return {path: tuple(kpis) for path, kpis in found.items()}


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path} is missing: the dbt project is incomplete") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None


def _model_meta(marts: dict[str, Any], model: str) -> dict[str, Any]:
    for node in marts.get("models") or []:
        if node.get("name") == model:
            return (node.get("meta") or node.get("config", {}).get("meta") or {}) | {}
    raise CatalogError(f"model {model} is not described in {MARTS_YAML}")


def _metrics_version(project_dir: Path, declaration: Any, rules: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for folder in ("models", "macros"):
        for path in sorted((project_dir / folder).rglob("*.sql")):
            digest.update(str(path.relative_to(project_dir)).encode())
            digest.update(path.read_bytes())
    digest.update(orjson.dumps(declaration, option=orjson.OPT_SORT_KEYS))
    digest.update(orjson.dumps(rules, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.hexdigest()[:16]


def read_catalog(project_dir: Path) -> Catalog:
    """Parse and check the catalogue of the dbt project at `project_dir`."""
    marts = _read_yaml(project_dir / MARTS_YAML) or {}
    project = _read_yaml(project_dir / "dbt_project.yml") or {}
    rules = {name: value for name, value in (project.get("vars") or {}).items() if name not in WINDOW_VARS}
    kpis_raw = _model_meta(marts, METRICS_MODEL).get("report_kpis")
    breakdowns_raw = _model_meta(marts, BREAKDOWNS_MODEL).get("report_breakdowns")
    kpis = tuple(_validated(Kpi, item, f"report_kpis[{i}]") for i, item in enumerate(kpis_raw or []))
    breakdowns = tuple(
        _validated(Breakdown, item if isinstance(item, dict) else {"key": item}, f"report_breakdowns[{i}]")
        for i, item in enumerate(breakdowns_raw or [])
    )
    if not kpis:
        raise CatalogError(f"{MARTS_YAML} declares no meta.report_kpis on {METRICS_MODEL}")
    _check_unique([k.key for k in kpis], "KPI key")
    _check_unique([k.summary_key for k in kpis if k.summary_key], "summary_key")
    _check_unique([b.key for b in breakdowns], "breakdown key")
    dimensions = set(rules.get("breakdown_dimensions") or [])
    missing = [b.key for b in breakdowns if b.key not in dimensions]
    if missing:
        raise CatalogError(f"report breakdowns {missing} are not in the var breakdown_dimensions")
    version = _metrics_version(project_dir, [kpis_raw, breakdowns_raw], rules)
    return Catalog(
        metrics_version=version,
        kpis=kpis,
        breakdowns=breakdowns,
        comparison_min_calls=_count_var(rules, "comparison_min_calls"),
    )


def _count_var(rules: dict[str, Any], name: str) -> int:
    """A non-negative integer var of dbt_project.yml (its only definition: no default here)."""
    value = rules.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatalogError(f"var {name} in dbt_project.yml must be an integer >= 0, got {value!r}")
    return value


def _validated(model: type[_M], item: Any, where: str) -> _M:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise CatalogError(f"meta.{where}.{field} in {MARTS_YAML} is invalid: {first['msg']}") from None


def _check_unique(values: list[str], what: str) -> None:
    seen = {value for value in values if values.count(value) > 1}
    if seen:
        raise CatalogError(f"duplicate {what} in {MARTS_YAML}: {sorted(seen)}")


_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], Catalog]] = {}
_cache_lock = threading.Lock()


def _files_state(project_dir: Path) -> tuple[tuple[str, int, int], ...]:
    paths = [project_dir / "dbt_project.yml", project_dir / MARTS_YAML]
    for folder in ("models", "macros"):
        paths.extend(sorted((project_dir / folder).rglob("*.sql")))
    state = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        state.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(state)


def load_catalog(project_dir: Path) -> Catalog:
    """The catalogue, re-read only when a file that defines it changed."""
    project_dir = project_dir.resolve()
    state = _files_state(project_dir)
    with _cache_lock:
        cached = _cache.get(project_dir)
        if cached is not None and cached[0] == state:
            return cached[1]
    catalog = read_catalog(project_dir)
    with _cache_lock:
        _cache[project_dir] = (state, catalog)
    return catalog
