"""Read model of the Templates page: versions and their diffs, a body's validation, and a brief previewed on
any catalog asset. The page writes through engine.intents.console; what it reads comes from here."""
from __future__ import annotations

from engine.templates.brief import (
    TemplateError, TemplateVersion, build_brief, diff_template_versions, list_template_versions, validate_template,
)
from engine.templates.catalog import DEFAULT_CATALOG_PATH, CatalogError, load_catalog

__all__ = [
    "TemplateError", "TemplateVersion", "CatalogError", "build_brief", "diff_template_versions",
    "list_template_versions", "load_catalog", "validate_template", "catalog_files", "catalog_types",
]


def catalog_files() -> list[str]:
    """The catalogs shipped beside the default one, for a picker."""
    folder = DEFAULT_CATALOG_PATH.parent
    return [str(p) for p in sorted(folder.glob("*.toml"))] if folder.is_dir() else []


def catalog_types(path: str | None) -> tuple[list[str], str | None]:
    """The asset types a catalog offers, or the error message to show instead."""
    try:
        return list(load_catalog(path).types), None
    except (CatalogError, OSError) as exc:
        return [], str(exc)
