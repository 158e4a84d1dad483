"""Street addresses (US-style streets, ``City, ST 12345``, PO boxes, military, UK postcodes)."""

from __future__ import annotations

from include.pii.recognizers.base import RegexRecognizer

_SUFFIXES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    "Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Loop|Crossing|Xing|Alley|Aly|Plaza|Plz|"
    "Ridge|Rdg|Run|Path|Pike|Row|Walk|Park|Point|Pt|Spring|Springs|Heights|Hts|Hill|Hills|Creek|Crest|Cove|"
    "Glen|Glens|Grove|Harbor|Harbors|Haven|Isle|Junction|Jct|Key|Keys|Knoll|Knolls|Landing|Manor|Manors|"
    "Meadow|Meadows|Mill|Mills|Mission|Mount|Mountain|Orchard|Oval|Pass|Pine|Pines|Port|Ports|Prairie|"
    "Ranch|Rapid|Rapids|Rest|River|Shoal|Shoals|Shore|Shores|Station|Summit|Valley|Valleys|View|Views|"
    "Villa|Ville|Village|Villages|Vista|Well|Wells|Estate|Estates|Expressway|Expy|Field|Fields|Flat|"
    "Flats|Ford|Fords|Forest|Forge|Forges|Fork|Forks|Fort|Freeway|Fwy|Garden|Gardens|Gateway|Green|"
    "Greens|Center|Centers|Ctr|Club|Common|Commons|Corner|Corners|Course|Court|Courts|Dale|Dam|Divide|"
    "Extension|Falls|Ferry|Lake|Lakes|Lodge|Mall|Motorway|Neck|Overpass|Radial|Ramp|Route|Skyway|Spur|"
    "Stream|Throughway|Trace|Track|Tunnel|Turnpike|Underpass|Union|Unions|Viaduct|Bypass|Burg|Burgs|"
    "Branch|Brook|Brooks|Bridge|Bluff|Bluffs|Bottom|Bend|Beach|Camp|Canyon|Cape|Causeway|Cliff|Cliffs|"
    "Crescent|Close|Gdns|Grn|Mews|Parade|Rise|Wharf|Wynd"
)
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|#|Floor|Fl\.?|Room|Rm\.?)\s*[\w\-]+)?"
_STREET = rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][A-Za-z'\-]*\.?\s+){{0,4}}(?:{_SUFFIXES})\b\.?{_UNIT}"
_CITY_STATE_ZIP = r"\b[A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,3},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
_MILITARY = (
    r"\b(?:(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+|(?:Unit|PSC)\s+\d{4},?\s+Box\s+\d{4}"
    r"|(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5})\b"
)
_PO_BOX = r"\bP\.?\s?O\.?\s+Box\s+\d+\b"
_UK_POSTCODE = r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2})\b"


class StreetAddressRecognizer(RegexRecognizer):
    """Street-level addresses: number + street + suffix (+ unit), ``City, ST 12345``, PO boxes,
    US military addresses and UK postcodes."""

    ENTITY = "ADDRESS"
    PREFILTER = r"\d"
    RULES = ((_STREET, 0.7), (_CITY_STATE_ZIP, 0.7), (_MILITARY, 0.7), (_PO_BOX, 0.7), (_UK_POSTCODE, 0.55))
    CONTEXT = [
        "address",
        "live",
        "lives",
        "located",
        "ship",
        "send",
        "mail",
        "street",
        "home",
        "move",
        "moved",
    ]
