"""The instance id from product_uuid, byte order undone; markers compared either way."""

from __future__ import annotations

from pathlib import Path

from waagent.provisioner import instance_id


def test_hyper_v_byte_order_is_undone() -> None:
    assert (
        instance_id.swap("544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8")
        == "D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8"
    )


def test_product_uuid_is_read_and_swapped(tmp_path: Path) -> None:
    (tmp_path / "class/dmi/id").mkdir(parents=True)
    (tmp_path / "class/dmi/id/product_uuid").write_text("544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8\n")
    assert instance_id.read(tmp_path) == "D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8"


def test_no_or_bad_product_uuid_gives_an_empty_id(tmp_path: Path) -> None:
    assert instance_id.read(tmp_path) == ""
    (tmp_path / "class/dmi/id").mkdir(parents=True)
    (tmp_path / "class/dmi/id/product_uuid").write_text("Not Settable\n")
    assert instance_id.read(tmp_path) == ""


def test_markers_match_ignoring_case_and_in_either_byte_order() -> None:
    current = "D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8"
    assert instance_id.same(current.lower(), current)
    assert instance_id.same("544cdfd0-cb4e-4b4a-9954-5bdf3ed5c3b8", current)
    assert not instance_id.same("00000000-0000-0000-0000-000000000000", current)
