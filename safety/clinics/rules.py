"""Pure clinic rules: the country's emergency and urgent numbers, and the clinic's working time.

A patient with chest pain must be told the number that works where they are, so it follows
the clinic's country, never a guess from the time zone. Working time decides when an
escalated answer that nobody acknowledged goes to the clinic's duty address (DESIGN §4).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from safety.languages import N_

#: Countries a clinic can be in (ISO 3166-1 alpha-2), with the emergency number patients
#: call there. 999 UK; 911 Canada and US; 112 across the EU (and in Ireland beside 999);
#: 000 Australia; 111 New Zealand.
COUNTRIES: dict[str, tuple[str, str]] = {
    "GB": ("United Kingdom", "999"),
    "IE": ("Ireland", "112"),
    "CA": ("Canada", "911"),
    "US": ("United States", "911"),
    "AU": ("Australia", "000"),
    "NZ": ("New Zealand", "111"),
    "AT": ("Austria", "112"),
    "BE": ("Belgium", "112"),
    "DE": ("Germany", "112"),
    "DK": ("Denmark", "112"),
    "ES": ("Spain", "112"),
    "FI": ("Finland", "112"),
    "FR": ("France", "112"),
    "GR": ("Greece", "112"),
    "IT": ("Italy", "112"),
    "LU": ("Luxembourg", "112"),
    "NL": ("Netherlands", "112"),
    "PL": ("Poland", "112"),
    "PT": ("Portugal", "112"),
    "SE": ("Sweden", "112"),
}

#: Where to turn when it is urgent but not an emergency and the clinic has not called.
URGENT_LINES = {
    "GB": "NHS 111 (call 111 or go to 111.nhs.uk)",
    "CA": "your provincial health line (811 in most provinces)",
    "AU": "healthdirect on 1800 022 222",
    "NZ": "Healthline on 0800 611 116",
}
DEFAULT_URGENT_LINE = "an urgent care service"
#: The number in each urgent line, which a patient's page makes a link to tap.
URGENT_NUMBERS = {"GB": "111", "CA": "811", "AU": "1800 022 222", "NZ": "0800 611 116"}

#: ISO weekday numbers (Monday is 1) a clinic works unless it says otherwise.
DEFAULT_WORKING_DAYS = "12345"
WEEKDAY_NAMES = {
    "1": "Monday",
    "2": "Tuesday",
    "3": "Wednesday",
    "4": "Thursday",
    "5": "Friday",
    "6": "Saturday",
    "7": "Sunday",
}


def search_key(*parts: str) -> str:
    """Names as a search matches them, accents and case gone: "Lucía Fernández" is found by
    "lucia fernandez". Half the Toronto clinic's patients write their names with accents that
    a practitioner or an officer at an English keyboard does not type."""
    text = unicodedata.normalize("NFKD", " ".join(parts))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).casefold().split())


def emergency_number(country: str | None) -> str:
    """Return the emergency number for a clinic's country (112 where the country is unknown:
    it reaches emergency services from any mobile phone in most of the world)."""
    return COUNTRIES.get(country or "", ("", "112"))[1]


def urgent_line(country: str | None) -> str:
    return URGENT_LINES.get(country or "", DEFAULT_URGENT_LINE)


def country_name(country: str | None) -> str:
    return COUNTRIES.get(country or "", (country or "", ""))[0]


@cache
def _zone_countries() -> dict[str, str]:
    """IANA zone -> country code, from tzdata's zone.tab (shipped with the tzdata package)."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text("utf-8")
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, zone = line.split("\t")[:3]
            found[zone] = country
    return found


def country_for_zone(zone: str) -> str | None:
    """Return the country a time zone lies in, if it is one a clinic can be in."""
    country = _zone_countries().get(zone)
    return country if country in COUNTRIES else None


def parse_working_days(days: str) -> frozenset[int]:
    """Read "12345" (ISO weekdays) into a set; anything unreadable is refused by the caller."""
    return frozenset(int(d) for d in days if d in "1234567")


def add_working_hours(
    start: datetime,
    hours: float,
    zone: ZoneInfo,
    *,
    day_start_hour: int,
    day_end_hour: int,
    working_days: str = DEFAULT_WORKING_DAYS,
) -> datetime:
    """Return the moment `hours` of the clinic's working time have passed since `start`.

    Working time is the clinic's working days between its day's start and end hour, local
    time; a start outside it counts from the next opening. Returns aware UTC.
    """
    days = parse_working_days(working_days) or parse_working_days(DEFAULT_WORKING_DAYS)
    remaining = timedelta(hours=hours)
    local = start.astimezone(zone)
    for _ in range(366):
        day = local.date()
        opens = datetime(day.year, day.month, day.day, day_start_hour, tzinfo=zone)
        closes = datetime(day.year, day.month, day.day, day_end_hour, tzinfo=zone)
        if day.isoweekday() in days and local < closes:
            begin = max(local, opens)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        following = day + timedelta(days=1)
        local = datetime(following.year, following.month, following.day, tzinfo=zone)
    raise ValueError("no working time within a year: check the clinic's working days")


#: The one-time key a new-patient form carries (`new_form_key`: 43 characters). Shorter keys
#: (down to 16 characters, still beyond guessing) are taken as sent; anything else is no key.
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,43}")


def new_form_key() -> str:
    """A key for one new-patient form, made when the form is shown: the same form sent again
    (a double tap, a resend over a slow connection) is the patient it added."""
    return secrets.token_urlsafe(32)


#: The earliest date of birth taken: anything before is a typing slip, not a patient.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
BIRTH_DATE_REFUSAL = N_("Enter the date of birth as a past date, like 1980-03-14.")


def birth_date(text: str | None, today: date) -> date | None:
    """Read an optional date of birth as a date input sends it (YYYY-MM-DD).

    Raise ValueError for text that is not such a date, or one in the future or before 1900:
    the picker shows it to tell two patients of one name apart, so a wrong one misleads.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or not EARLIEST_BIRTH_DATE <= value <= today:
        raise ValueError(BIRTH_DATE_REFUSAL)
    return value


def reading_zone(own_zone: str | None, clinic_zones: Iterable[str]) -> str:
    """The zone a reader of pages that belong to no one clinic (the compliance desk, the
    administration, the checklist templates) reads times in.

    Their own clinic's when they have one; compliance officers and administrators have none as
    a rule: then the one zone every clinic shares (a single-country installation), else UTC.
    Every time shown names its zone, so a time is never read in the wrong one.
    """
    if own_zone:
        return own_zone
    zones = set(clinic_zones)
    return zones.pop() if len(zones) == 1 else "UTC"
