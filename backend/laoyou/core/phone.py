"""Mobile numbers: validated with libphonenumber and stored as E.164."""

from __future__ import annotations

import phonenumbers

from laoyou.core.errors import ErrorCode, LaoyouError


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """Accept 13812345678, 138 1234 5678, +86 138-1234-5678; return +8613812345678."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise LaoyouError(ErrorCode.INVALID_PHONE, "Please enter a valid mobile number.", field=field)
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise LaoyouError(
            ErrorCode.INVALID_PHONE, "Please enter a valid mobile number.", field=field
        ) from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise LaoyouError(ErrorCode.INVALID_PHONE, "Please enter a valid mobile number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """+8613812345678 -> 138****5678, for anyone who does not need the whole number."""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) < 7:
        return "****"
    return f"{national[:3]}****{national[-4:]}"


def national(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164
