"""The asset catalog: which brand assets exist, and how each should feel.

A catalog is a TOML file (data/catalogs/estate_planning_v4.toml) that declares
its own vocabulary (tiers, themes, asset types with default aspect ratio and
image size) and then its assets. Loading validates everything at once, so an
operator who edits the file sees every mistake in one message, each naming the
file, the asset and the field, and saying what was expected.
"""
from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable
from engine.config import BUNDLED_DATA

__all__ = [
    "Asset", "Catalog", "CatalogError", "load_catalog", "load_catalog_aside",
    "DEFAULT_CATALOG_PATH", "ASPECT_RATIOS", "IMAGE_SIZES", "TEST_ASSET_COUNT",
]

DEFAULT_CATALOG_PATH = BUNDLED_DATA / "catalogs" / "estate_planning_v4.toml"

# OpenRouter's image_config values (reference/openrouter.md); anything else is refused upstream.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES = ("1K", "2K", "4K")
TEST_ASSET_COUNT = 3
# Limits (docs/operations.md): a catalog's text goes into briefs and events, so it is bounded. The file is
# parsed whole (TOML), and its parse is the engine's largest transient allocation (about 10x the file's bytes:
# ~75 MB for 50,000 generated assets, 12 MB of TOML), so the bound is on bytes first; the count bound is twice
# the largest session bench/scale.py holds to its targets (issue 14: 50,000 items).
MAX_CATALOG_BYTES = 32 * 2**20
MAX_ASSETS = 100_000
ASIDE_BYTES = 1 * 2**20  # a catalog this large (~4,000 short assets) is parsed in a process of its own
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_MUST_INCLUDE = 20
MAX_PHRASE_CHARS = 200  # `--test` makes three assets, as the seed's `--test --test-type icons` did

# Used only when a catalog leaves its vocabulary out.
DEFAULT_TIERS = ("essential", "signature", "heritage")
DEFAULT_THEMES = ("security", "legacy", "care", "clarity", "continuity", "peace_of_mind", "family")
DEFAULT_TYPE_LABELS = {
    "icons": "icon", "illustrations": "illustration", "heroes": "hero image",
    "backgrounds": "background pattern", "social_cards": "social card",
}

# An id is also the PNG's file name: \A…\Z (not ^…$, whose $ accepts a trailing newline) and at
# most 80 characters, so no id is changed or truncated on its way to disk and two ids never share a file.
_ID_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9-]{0,79}\Z")
_TOML_POSITION = re.compile(r"\(at line (?P<line>\d+), column (?P<col>\d+)\)")
_REQUIRED_ASSET_FIELDS = ("id", "type", "title", "description", "tier", "theme")
_OPTIONAL_ASSET_FIELDS = ("aspect_ratio", "image_size", "must_include")
_TYPE_FIELDS = ("label", "aspect_ratio", "image_size")


class CatalogError(ValueError):
    """The catalog file cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, path: Path | str, errors: list[str]):
        self.path = Path(path)
        self.errors = list(errors)
        head = f"{self.path}: {len(self.errors)} problem(s) in the catalog" if len(self.errors) > 1 else ""
        lines = [head] if head else []
        lines += [f"{self.path}: {e}" for e in self.errors]
        super().__init__("\n".join(lines))

    def __reduce__(self):  # a catalog parsed in another process (engine/process/runner.py) reports its errors here
        return (CatalogError, (self.path, self.errors))


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    type: str  # plural type name from the catalog, e.g. "icons"
    title: str
    description: str
    tier: str
    aspect_ratio: str
    theme: str
    must_include: tuple[str, ...] = ()
    image_size: str = "1K"
    type_label: str = ""  # singular, human: "icon", "hero image"; derived from type when empty

    def __post_init__(self):
        if not self.type_label:
            label = DEFAULT_TYPE_LABELS.get(self.type, self.type.replace("_", " ").rstrip("s"))
            object.__setattr__(self, "type_label", label)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["must_include"] = list(self.must_include)
        return data


@dataclass(frozen=True)
class Catalog:
    path: Path
    name: str
    version: str
    assets: list[Asset]
    types: tuple[str, ...]  # in declaration order
    tiers: tuple[str, ...]  # lowest first; the last is the top (luxury) tier
    themes: tuple[str, ...]
    brand: str = ""
    type_labels: dict[str, str] = field(default_factory=dict)

    @property
    def top_tier(self) -> str:
        return self.tiers[-1]

    def get(self, asset_id: str) -> Asset:
        for asset in self.assets:
            if asset.id == asset_id:
                return asset
        raise CatalogError(self.path, [f"no asset with id {asset_id!r}"])

    def by_type(self) -> dict[str, list[Asset]]:
        grouped: dict[str, list[Asset]] = {name: [] for name in self.types}
        for asset in self.assets:
            grouped[asset.type].append(asset)
        return grouped

    def select(
        self,
        *,
        types: str | Iterable[str] | None = None,
        limit: int | None = None,
        test: bool = False,
        test_type: str | None = None,
    ) -> list[Asset]:
        """The assets a session should make, in catalog order.

        ``types`` keeps only those types; ``limit`` keeps the first N. ``test=True``
        picks three assets of ``test_type`` (default ``icons``), ignoring ``types``:
        one per tier first, lowest tier first, then catalog order, so a test run
        shows every tier's prompt path (the luxury layer included) when it can.
        """
        if limit is not None and limit < 0:
            raise CatalogError(self.path, [f"limit must be 0 or more, got {limit}"])
        if test:
            chosen_type = test_type or ("icons" if "icons" in self.types else self.types[0])
            self._check_types([chosen_type], option="test_type")
            pool = [a for a in self.assets if a.type == chosen_type]
            picked = self._spread_over_tiers(pool, TEST_ASSET_COUNT)
            return picked[:limit] if limit is not None else picked
        if types is not None:
            wanted = [types] if isinstance(types, str) else list(types)
            self._check_types(wanted, option="types")
            chosen = [a for a in self.assets if a.type in set(wanted)]
        else:
            chosen = list(self.assets)
        return chosen[:limit] if limit is not None else chosen

    # -- internals --------------------------------------------------------------------------
    def _check_types(self, names: list[str], *, option: str) -> None:
        unknown = [n for n in names if n not in self.types]
        if unknown:
            raise CatalogError(self.path, [
                f"{option}: unknown asset type {', '.join(map(repr, unknown))}; "
                f"valid types: {', '.join(self.types)}"
            ])

    def _spread_over_tiers(self, pool: list[Asset], count: int) -> list[Asset]:
        picked: list[Asset] = []
        for tier in self.tiers:
            first = next((a for a in pool if a.tier == tier), None)
            if first is not None and len(picked) < count:
                picked.append(first)
        for asset in pool:
            if len(picked) >= count:
                break
            if asset not in picked:
                picked.append(asset)
        order = {a.id: i for i, a in enumerate(pool)}
        return sorted(picked, key=lambda a: order[a.id])


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a catalog; raises :class:`CatalogError` listing every problem."""
    path = Path(path) if path is not None else DEFAULT_CATALOG_PATH
    try:
        size = path.stat().st_size
        if size > MAX_CATALOG_BYTES:
            raise CatalogError(path, [f"{size:,} bytes, over the limit of {MAX_CATALOG_BYTES:,}; "
                                      "split the catalog into several files"])
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(path, ["file not found; expected a TOML catalog "
                                  f"(the default is {DEFAULT_CATALOG_PATH})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(path, [_describe_toml_error(exc)]) from None
    return _CatalogParser(path, raw).parse()


def load_catalog_aside(path: str | Path | None = None, *, min_bytes: int = ASIDE_BYTES):
    """Start parsing a large catalog in a process of its own; returns a ``concurrent.futures.Future`` of the
    :class:`Catalog` (its errors as :class:`CatalogError`), or None for a small or missing file.

    The parse is pure Python (tomllib, ~0.6 s per 10,000 assets on one core) and sat on the path to a large
    session's first image, with nothing else to do meanwhile; in another process it runs beside the engine's
    own start (imports, migrations, journal, credentials) on another core, and its transient heap (about 10x
    the file) never becomes the engine's."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    path = Path(path) if path is not None else DEFAULT_CATALOG_PATH
    try:
        if path.stat().st_size < min_bytes:
            return None
    except OSError:
        return None
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return pool.submit(load_catalog, path)
    finally:
        pool.shutdown(wait=False)  # the worker exits once its one parse is done


def _describe_toml_error(exc: tomllib.TOMLDecodeError) -> str:
    # Python 3.11's TOMLDecodeError has no lineno attribute: the position is in the text.
    text = str(exc)
    match = _TOML_POSITION.search(text)
    if not match:
        return f"TOML syntax error: {text}"
    reason = _TOML_POSITION.sub("", text).strip()
    return f"line {match['line']}, column {match['col']}: TOML syntax error: {reason}"


class _CatalogParser:
    """Validates one parsed TOML document, collecting every error before raising."""

    def __init__(self, path: Path, raw: dict[str, Any]):
        self.path = path
        self.raw = raw
        self.errors: list[str] = []

    def parse(self) -> Catalog:
        meta = self._table(self.raw.get("catalog", {}), "[catalog]")
        tiers = self._vocabulary(meta, "tiers", DEFAULT_TIERS)
        themes = self._vocabulary(meta, "themes", DEFAULT_THEMES)
        type_defaults = self._types()
        assets = self._assets(type_defaults, tiers, themes)
        if self.errors:
            raise CatalogError(self.path, self.errors)
        return Catalog(
            path=self.path,
            name=str(meta.get("name") or self.path.stem),
            version=str(meta.get("version") or ""),
            brand=str(meta.get("brand") or ""),
            assets=assets,
            types=tuple(type_defaults),
            tiers=tiers,
            themes=themes,
            type_labels={name: d["label"] for name, d in type_defaults.items()},
        )

    def _table(self, value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.errors.append(f"{where}: expected a table, got {type(value).__name__}")
        return {}

    def _vocabulary(self, meta: dict, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = meta.get(key, list(default))
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            self.errors.append(f"[catalog] field {key!r}: expected a non-empty list of names, got {value!r}")
            return default
        return tuple(value)

    def _types(self) -> dict[str, dict[str, str]]:
        types = self._table(self.raw.get("types", {}), "[types]")
        if not types:
            self.errors.append("[types]: no asset types declared; expected tables like [types.icons] "
                               'with aspect_ratio = "1:1" and image_size = "1K"')
        parsed: dict[str, dict[str, str]] = {}
        for name, spec in types.items():
            where = f"[types.{name}]"
            spec = self._table(spec, where)
            for key in spec:
                if key not in _TYPE_FIELDS:
                    self.errors.append(f"{where} field {key!r}: unknown field; expected {', '.join(_TYPE_FIELDS)}")
            ratio = spec.get("aspect_ratio", "1:1")
            size = spec.get("image_size", "1K")
            self._check_choice(where, "aspect_ratio", ratio, ASPECT_RATIOS)
            self._check_choice(where, "image_size", size, IMAGE_SIZES)
            label = spec.get("label") or DEFAULT_TYPE_LABELS.get(name, name.replace("_", " ").rstrip("s"))
            parsed[name] = {"label": str(label), "aspect_ratio": ratio, "image_size": size}
        return parsed

    def _assets(self, types: dict[str, dict[str, str]], tiers: tuple[str, ...], themes: tuple[str, ...]) -> list[Asset]:
        entries = self.raw.get("assets", [])
        if not isinstance(entries, list) or not entries:
            self.errors.append("[[assets]]: no assets; expected one or more [[assets]] tables")
            return []
        if len(entries) > MAX_ASSETS:
            self.errors.append(f"[[assets]]: {len(entries):,} assets, over the limit of {MAX_ASSETS:,}; "
                               "split the catalog into several files")
            return []
        assets: list[Asset] = []
        first_seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            where = f"assets[{index}]"
            if not isinstance(entry, dict):
                self.errors.append(f"{where}: expected a table, got {type(entry).__name__}")
                continue
            asset_id = entry.get("id")
            if isinstance(asset_id, str) and asset_id:
                where = f"asset {asset_id!r} (assets[{index}])"
            asset = self._asset(where, entry, types, tiers, themes)
            if asset is None:
                continue
            if asset.id in first_seen:
                self.errors.append(f"{where} field 'id': duplicate id, already used by assets[{first_seen[asset.id]}] "
                                   f"(both would be saved as {asset.id}.png); expected every id to be unique")
                continue
            first_seen[asset.id] = index
            assets.append(asset)
        return assets

    def _asset(self, where: str, entry: dict, types: dict, tiers: tuple, themes: tuple) -> Asset | None:
        before = len(self.errors)
        for key in entry:
            if key not in _REQUIRED_ASSET_FIELDS + _OPTIONAL_ASSET_FIELDS:
                self.errors.append(f"{where} field {key!r}: unknown field; expected one of "
                                   f"{', '.join(_REQUIRED_ASSET_FIELDS + _OPTIONAL_ASSET_FIELDS)}")
        for key in _REQUIRED_ASSET_FIELDS:
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                shown = "missing" if value is None else f"got {value!r}"
                self.errors.append(f"{where} field {key!r}: required field is {shown}; expected a non-empty string")
        if len(self.errors) > before:
            return None
        asset_id, type_name = entry["id"], entry["type"]
        if not _ID_PATTERN.match(asset_id):
            self.errors.append(f"{where} field 'id': {asset_id!r} is not a safe asset id (it names the image file); "
                               "expected 1 to 80 lowercase letters, digits and '-', starting with a letter or digit, "
                               "e.g. 'icon-living-trust'")
        if type_name not in types:
            self.errors.append(f"{where} field 'type': unknown type {type_name!r}; "
                               f"expected one of {', '.join(types) or '(none declared)'}")
            return None
        self._check_choice(where, "tier", entry["tier"], tiers)
        self._check_choice(where, "theme", entry["theme"], themes)
        defaults = types[type_name]
        ratio = entry.get("aspect_ratio", defaults["aspect_ratio"])
        size = entry.get("image_size", defaults["image_size"])
        self._check_choice(where, "aspect_ratio", ratio, ASPECT_RATIOS)
        self._check_choice(where, "image_size", size, IMAGE_SIZES)
        must = entry.get("must_include", [])
        if isinstance(must, str):
            must = [must]
        if not isinstance(must, list) or not all(isinstance(m, str) and m.strip() for m in must):
            self.errors.append(f"{where} field 'must_include': expected a list of short phrases, got {must!r}")
            must = []
        for key, limit in (("title", MAX_TITLE_CHARS), ("description", MAX_DESCRIPTION_CHARS)):
            if len(entry[key]) > limit:
                self.errors.append(f"{where} field {key!r}: {len(entry[key]):,} characters, over the limit of "
                                   f"{limit:,}; shorten it")
        if len(must) > MAX_MUST_INCLUDE or any(len(m) > MAX_PHRASE_CHARS for m in must):
            self.errors.append(f"{where} field 'must_include': expected at most {MAX_MUST_INCLUDE} phrases of at "
                               f"most {MAX_PHRASE_CHARS} characters each")
        if len(self.errors) > before:
            return None
        # The vocabulary's words (type, tier, theme, ratio, size) are one string each, not one per asset: every
        # open item of a session holds its asset (issue 14: ~170 bytes less per asset, ~8 MB at 50,000)
        return Asset(
            id=asset_id, type=sys.intern(type_name), title=entry["title"].strip(),
            description=entry["description"].strip(), tier=sys.intern(entry["tier"]), aspect_ratio=sys.intern(ratio),
            theme=sys.intern(entry["theme"]), must_include=tuple(m.strip() for m in must), image_size=sys.intern(size),
            type_label=defaults["label"],
        )

    def _check_choice(self, where: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            noun = key.replace("_", " ")
            self.errors.append(f"{where} field {key!r}: unknown {noun} {value!r}; expected one of {', '.join(allowed)}")
