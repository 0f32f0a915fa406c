"""Money arithmetic on integer fen: the rounding rule, yuan text and Chinese capitals (大写)."""

from __future__ import annotations


def div_round_half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up (away from zero on .5), in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


def line_amount_fen(*, kind: str, unit_price_fen: int, area_centi_m2: int, months: int) -> int:
    """One bill line. The rule: price (fen per m² per month) × area (m²) × months, rounded half up to
    the fen once per line; per-household items are price × months exactly."""
    if kind == "per_m2":
        return div_round_half_up(unit_price_fen * area_centi_m2 * months, 100)
    return unit_price_fen * months


def yuan(fen: int) -> str:
    """12345 -> '123.45' (no float ever touches the value)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def parse_yuan(text: str) -> int:
    """'123.45' -> 12345; refuses more than two decimals."""
    text = text.strip()
    if not text:
        raise ValueError(text)
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    if (
        not (whole or frac)
        or (whole and not whole.isdigit())
        or (frac and not frac.isdigit())
        or len(frac) > 2
    ):
        raise ValueError(text)
    fen = int(whole or "0") * 100 + int((frac + "00")[:2])
    return -fen if negative else fen


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL = ("", "拾", "佰", "仟")
_BIG = ("", "万", "亿", "万亿")


def _four(n: int) -> str:
    """0 < n < 10000 in capitals, with zeros collapsed (e.g. 1005 -> 壹仟零伍)."""
    out, zero = "", False
    for pos in range(3, -1, -1):
        digit = n // 10**pos % 10
        if digit == 0:
            zero = bool(out)
        else:
            if zero:
                out += "零"
                zero = False
            out += _DIGITS[digit] + _SMALL[pos]
    return out


def capitals(fen: int) -> str:
    """The amount in Chinese financial capitals, as on a receipt: 12345 -> 壹佰贰拾叁元肆角伍分."""
    if fen < 0:
        return "负" + capitals(-fen)
    whole, jiao, fen_digit = fen // 100, fen // 10 % 10, fen % 10
    text = ""
    if whole:
        groups, n = [], whole
        while n:
            groups.append(n % 10000)
            n //= 10000
        need_zero = False
        for index in range(len(groups) - 1, -1, -1):
            group = groups[index]
            if group == 0:
                need_zero = bool(text)
                continue
            if text and (need_zero or group < 1000):
                text += "零"
            text += _four(group) + _BIG[index]
            need_zero = False
        text += "元"
    if jiao == 0 and fen_digit == 0:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif whole:
        text += "零"
    if fen_digit:
        text += _DIGITS[fen_digit] + "分"
    else:
        text += "整"
    return text
