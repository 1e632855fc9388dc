"""ISO 4217 currencies and their minor units (the decimals an amount may have).

An amount in yen has no decimals and one in dinars three: checking money against a flat "two
decimals" would refuse real Kuwaiti orders and accept impossible Japanese ones. The table holds
the active codes of ISO 4217's list one (funds and precious metals left out: no shop sells in
ounces of gold); a code not here is no currency.
"""

from __future__ import annotations

from decimal import Decimal

# Most currencies have two decimals; these are the exceptions.
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP "
    "GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL "
    "MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN "
    "QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY "
    "TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
).split()

MINOR_UNITS: dict[str, int] = {**dict.fromkeys(_TWO, 2), **_EXPONENTS}


def minor_units(code: str) -> int | None:
    """Decimals an amount in ``code`` may have; None when ``code`` is no ISO 4217 currency."""
    return MINOR_UNITS.get(code)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in minor units (cents) of its currency, as the counters keep money: 59.90 EUR
    -> 5990, 500 JPY -> 500 (a code that is no currency: whole units)."""
    return int((amount * (Decimal(10) ** (minor_units(currency) or 0))).to_integral_value())


def from_minor(minor: int | Decimal, currency: str) -> Decimal:
    """Minor units as the amount they are: 5990 EUR -> 59.90."""
    return Decimal(minor).scaleb(-(minor_units(currency) or 0))
