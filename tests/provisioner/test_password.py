"""crypt(3) through libcrypt: checked against openssl's independent implementation."""

from __future__ import annotations

import re
import subprocess

import pytest

from waagent.common.errors import Failed
from waagent.provisioner import password


@pytest.mark.parametrize(("crypt_id", "flag"), [("1", "-1"), ("5", "-5"), ("6", "-6")])
def test_the_hash_matches_openssl_for_the_same_salt(crypt_id: str, flag: str) -> None:
    hashed = password.hash_password("S3cret!", crypt_id, 8)
    salt = hashed.split("$")[2]
    expected = subprocess.run(
        ["openssl", "passwd", flag, "-salt", salt, "S3cret!"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert hashed == expected.stdout.strip()


def test_the_salt_has_the_configured_length_of_letters_and_digits() -> None:
    hashed = password.hash_password("pw", "6", 10)
    assert re.fullmatch(r"\$6\$[A-Za-z0-9]{10}\$[./A-Za-z0-9]{86}", hashed)


def test_salts_differ_between_calls() -> None:
    assert password.hash_password("pw", "6", 10) != password.hash_password("pw", "6", 10)


def test_verify_accepts_the_password_and_refuses_another() -> None:
    hashed = password.hash_password("right", "6", 10)
    assert password.verify("right", hashed)
    assert not password.verify("wrong", hashed)


def test_an_unknown_crypt_id_is_refused() -> None:
    with pytest.raises(Failed, match="crypt refused"):
        password.crypt("pw", "$99$abc")
