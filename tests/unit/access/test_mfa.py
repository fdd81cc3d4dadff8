"""TOTP and recovery codes, the pure part (access/mfa.py): the window, replay refusal, the codes'
shape, their digests, the blocking schedule, the enrolment URI and QR code."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from access import mfa

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT = datetime(2026, 3, 1, 9, 0, 15, tzinfo=UTC)  # 15 s into a 30-second step
STEP = int(AT.timestamp()) // 30


def code_at(step_offset: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(AT + timedelta(seconds=30 * step_offset))


def test_rfc_6238_sha1_test_vector() -> None:
    # RFC 6238, appendix B: the 20-byte ASCII key "12345678901234567890", T = 59 s, SHA1,
    # 8 digits 94287082; the last 6 of them with 6 digits.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert mfa.totp(secret).at(59) == "287082"
    assert mfa.match_totp(secret, "287082", datetime.fromtimestamp(59, UTC), None) == 1


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_of_the_step_before_now_or_after_is_accepted(offset: int) -> None:
    assert mfa.match_totp(SECRET, code_at(offset), AT, None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_outside_the_window_is_refused(offset: int) -> None:
    code = code_at(offset)
    # (Two steps may share a code by chance: only assert when they do not.)
    if code not in {code_at(-1), code_at(0), code_at(1)}:
        assert mfa.match_totp(SECRET, code, AT, None) is None


def test_a_code_of_a_step_used_already_is_refused() -> None:
    assert mfa.match_totp(SECRET, code_at(0), AT, last_step=STEP) is None
    # An earlier step, still inside the window, after a later one was used: refused too.
    assert mfa.match_totp(SECRET, code_at(-1), AT, last_step=STEP) is None
    # The next step's code still passes.
    assert mfa.match_totp(SECRET, code_at(1), AT, last_step=STEP) == STEP + 1
    assert mfa.match_totp(SECRET, code_at(0), AT, last_step=STEP - 1) == STEP


def test_another_secret_s_code_is_refused() -> None:
    other = pyotp.random_base32()
    code = code_at(0, other)
    if code not in {code_at(-1), code_at(0), code_at(1)}:
        assert mfa.match_totp(SECRET, code, AT, None) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "abcd-efgh"])
def test_what_is_not_six_ascii_digits_is_no_totp_code(code: str) -> None:
    assert mfa.match_totp(SECRET, code, AT, None) is None


def test_codes_are_normalised_as_typed() -> None:
    assert mfa.normalise(" 123 456 ") == "123456"
    assert mfa.normalise("ABCD-EFGH") == "abcdefgh"
    assert mfa.normalise("abcd efgh") == "abcdefgh"


def test_recovery_codes_are_ten_distinct_codes_of_the_documented_shape() -> None:
    codes = mfa.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    shape = re.compile(rf"^[{mfa.RECOVERY_ALPHABET}]{{4}}-[{mfa.RECOVERY_ALPHABET}]{{4}}$")
    assert all(shape.match(code) for code in codes), codes
    # Never a code that could be mistaken for a TOTP code, never an ambiguous character.
    assert not set("01ilo") & set("".join(codes))
    assert mfa.new_recovery_codes() != codes  # from the CSPRNG, not a fixed sequence


def test_a_recovery_digest_is_keyed_and_bound_to_its_owner() -> None:
    user, other_user = str(uuid.uuid4()), str(uuid.uuid4())
    digest = mfa.recovery_digest("key-one", user, "abcd-efgh")
    assert len(digest) == 32
    assert mfa.recovery_digest("key-one", user, "ABCD EFGH") == digest  # as typed
    assert mfa.recovery_digest("key-one", other_user, "abcd-efgh") != digest
    assert mfa.recovery_digest("key-two", user, "abcd-efgh") != digest
    assert mfa.recovery_digest("key-one", user, "abcd-efgj") != digest


def test_wrong_codes_block_for_longer_and_longer_up_to_a_day() -> None:
    assert [mfa.block_for(n) for n in range(5)] == [None] * 5
    assert mfa.block_for(5) == timedelta(minutes=5)
    assert mfa.block_for(6) is None
    assert mfa.block_for(10) == timedelta(minutes=10)
    assert mfa.block_for(15) == timedelta(minutes=20)
    assert mfa.block_for(500) == timedelta(hours=24)


def test_too_many_attempts_says_when_to_retry() -> None:
    blocked = mfa.TooManyAttempts(AT + timedelta(seconds=90.2), AT)
    assert blocked.retry_after_s == 91
    assert mfa.TooManyAttempts(AT, AT).retry_after_s == 1


def test_the_otpauth_uri_names_the_issuer_and_the_person() -> None:
    uri = mfa.otpauth_uri(SECRET, "ana@clinic.example")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert unquote(parsed.path) == "/Virtual Queue:ana@clinic.example"
    query = parse_qs(parsed.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["Virtual Queue"]
    app = pyotp.parse_uri(uri)  # what an authenticator app makes of it
    assert isinstance(app, pyotp.TOTP)
    assert (app.digits, app.interval, app.digest().name) == (6, 30, "sha1")
    assert app.at(AT) == code_at(0)


def test_the_qr_code_is_an_svg_document() -> None:
    svg = mfa.qr_svg(mfa.otpauth_uri(SECRET, "ana@clinic.example"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<script" not in svg
    assert SECRET not in svg  # the secret is drawn, not written out


@pytest.mark.parametrize(
    "ids", [("not-a-uuid", str(uuid.uuid4())), (str(uuid.uuid4()), ""), (str(uuid.uuid4()), "1")]
)
def test_a_person_has_uuid_ids(ids: tuple[str, str]) -> None:
    with pytest.raises(mfa.UnknownPerson):
        mfa.Person(*ids)


def test_an_enrolment_never_shows_its_secret_in_a_repr() -> None:
    made = mfa.Enrolment(secret=SECRET, otpauth_uri=f"otpauth://totp/x?secret={SECRET}", qr_svg="")
    assert SECRET not in repr(made)
