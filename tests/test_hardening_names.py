"""Safe names: an asset id is its own file name, refused when it is not; each save has its own temp file."""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from engine.templates.catalog import CatalogError, load_catalog
from engine.session.save import asset_path, read_provenance, save_png

HEADER = """
[catalog]
name = "Names"
tiers = ["essential"]
themes = ["clarity"]

[types.icons]
aspect_ratio = "1:1"
"""


def catalog_with(tmp_path: Path, *ids: str) -> Path:
    body = "".join(f'\n[[assets]]\nid = "{asset_id}"\ntype = "icons"\ntitle = "T"\ndescription = "D."\n'
                   f'tier = "essential"\ntheme = "clarity"\n' for asset_id in ids)
    path = tmp_path / "names.toml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return str(info.value)


def test_an_id_with_a_trailing_newline_is_refused_naming_the_file_and_the_id(tmp_path):
    path = catalog_with(tmp_path, "icon-x\\n", "icon-y")
    message = refusal(path)
    assert str(path) in message and "'icon-x\\n'" in message and "not a safe asset id" in message


def test_long_ids_that_would_collide_on_disk_are_refused(tmp_path):
    long_a, long_b = "icon-" + "a" * 120 + "-one", "icon-" + "a" * 120 + "-two"
    assert asset_path(tmp_path, "s", long_a) == asset_path(tmp_path, "s", long_b)  # what made them collide
    message = refusal(catalog_with(tmp_path, long_a, long_b))
    assert message.count("not a safe asset id") == 2 and "80" in message
    assert load_catalog(catalog_with(tmp_path, "a" * 80, "b1-")).assets[0].id == "a" * 80


def test_a_duplicate_id_is_refused_naming_the_file_it_would_share(tmp_path):
    message = refusal(catalog_with(tmp_path, "icon-will", "icon-will"))
    assert "duplicate id" in message and "icon-will.png" in message


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


def test_two_writers_of_one_file_never_share_a_temporary_file(tmp_path, monkeypatch):
    """Both writers reach fsync before either renames: each must have written its own whole file."""
    path = tmp_path / "s1" / "icon-will.png"
    both_written = threading.Barrier(2, timeout=5)
    real_fsync = os.fsync

    def fsync_after_both(fd):
        both_written.wait()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_after_both)
    errors: list[BaseException] = []

    def write(colour: str) -> None:
        try:
            save_png(path, _png(colour), parameters=colour, provenance={"colour": colour})
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in ("red", "blue")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    colour = read_provenance(path)["colour"]
    assert Image.open(path).getpixel((0, 0)) == {"red": (255, 0, 0), "blue": (0, 0, 255)}[colour]
    assert not list(path.parent.glob("*.part"))
