"""What bulk data is drawn from: the clinics, names and needle brands, and how often each
outcome happens (DESIGN.md §3.2: Brady 2014, Boyce 2020; White 2001 for needle counts).

Figures, the two ways a generated name is written (an email address, a lot number), and the
clinics and lots as planned for a run. Changing a figure changes the generated data, so
`GENERATOR_VERSION` goes up with it.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from safety.auth.rules import DEMO_PASSWORD

#: The sessions span this many days and end this many days ago.
SPAN_DAYS = 730
END_DAYS_AGO = 3
PRACTITIONERS_PER_CLINIC = 8
#: One patient per this many sessions (50,000 patients for 1,000,000 sessions).
SESSIONS_PER_PATIENT = 20
#: A patient comes back within this many days of their first visit.
COURSE_DAYS = 365
PASSWORD = DEMO_PASSWORD
EMAIL_DOMAIN = "bulk.example.com"

#: (name, IANA zone, relative size, opening hour, closing hour)
CLINICS: tuple[tuple[str, str, float, int, int], ...] = (
    ("Harbourside Physiotherapy", "Europe/London", 1.6, 8, 19),
    ("Northgate Sports Rehab", "Europe/Dublin", 1.0, 8, 18),
    ("Kanaal Fysio Amsterdam", "Europe/Amsterdam", 0.9, 8, 18),
    ("Praxis am Stadtpark", "Europe/Berlin", 1.2, 7, 18),
    ("Clínica Fisio Retiro", "Europe/Madrid", 1.0, 9, 20),
    ("Cabinet Kiné Bastille", "Europe/Paris", 0.8, 8, 19),
    ("Fjord Fysioterapi", "Europe/Oslo", 0.6, 8, 16),
    ("Bayview Physio Halifax", "America/Halifax", 0.7, 8, 18),
    ("Maple Leaf Rehab", "America/Toronto", 1.3, 7, 19),
    ("Hudson Sports Therapy", "America/New_York", 1.5, 7, 20),
    ("Lakefront PT Chicago", "America/Chicago", 1.1, 7, 19),
    ("Front Range Physical Therapy", "America/Denver", 0.9, 7, 18),
    ("Pacific Crest Physio", "America/Vancouver", 1.0, 8, 19),
    ("Sunset Boulevard PT", "America/Los_Angeles", 1.2, 8, 19),
    ("Fisioterapia Paulista", "America/Sao_Paulo", 1.0, 8, 19),
    ("Cape Physio Rondebosch", "Africa/Johannesburg", 0.7, 8, 17),
    ("Marina Physio Dubai", "Asia/Dubai", 0.8, 9, 21),
    ("Orchard Sports Physio", "Asia/Singapore", 1.0, 9, 20),
    ("Bondi Junction Physio", "Australia/Sydney", 1.2, 7, 19),
    ("Waitematā Physio", "Pacific/Auckland", 0.8, 8, 18),
)
CLINIC_NAMES = tuple(c[0] for c in CLINICS)

GIVEN = (
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella Lucas Mia Mateo Amelia Levi "
    "Harper Ethan Evelyn Aiden Aria Leo Chloe Jack Zoe Ravi Priya Arjun Ananya Wei Mei Jun "
    "Yuki Haruto Sakura Chen Hana Omar Fatima Yusuf Aisha Amir Leila Kofi Ama Kwame Zanele "
    "Thabo Lerato Sipho Ngozi Chidi Lucía Pablo Sofía Diego Camila Mateus Ana João Beatriz "
    "Louis Camille Hugo Léa Jonas Lena Felix Mila Lars Ingrid Sven Freya Aroha Nikau Tane Moana "
    "Sean Aoife Ciara Declan Niamh"
).split()
FAMILY = (
    "Smith Jones Williams Brown Taylor Wilson Martin Tremblay Roy Gagnon Johnson Garcia "
    "Martinez Rodriguez Lopez Gonzalez Silva Santos Oliveira Souza Müller Schmidt Schneider "
    "Fischer Weber Dubois Lefebvre Moreau Laurent Bernard Jansen Visser Bakker Hansen Johansen "
    "Larsen Olsen Murphy Kelly O'Brien Walsh Byrne Nguyen Tran Le Pham Kim Lee Park Choi Wang "
    "Li Zhang Liu Chen Tan Lim Ng Wong Patel Shah Singh Kumar Sharma Khan Ali Hassan Ahmed "
    "Mensah Okafor Adeyemi Dlamini Nkosi Naidoo Botha Ngata Parata Wiremu Cohen Levy Rossi "
    "Russo Ferrari"
).split()

#: Needle brands; each clinic buys mostly from one and sometimes from another.
BRANDS = ("HW", "SJ", "DBC", "AGP", "TW")
#: A lot reaches a clinic's shelf this many days after release and is used up by the second.
LOT_SHELF_DAYS = (5, 60)

# Outcome rates per session (DESIGN.md §3.2).
#: Minor bleeding (stopped with pressure): without, with anticoagulants; ~13.5 % overall.
BLEEDING_MINOR = (0.125, 0.25)
#: Prolonged bleeding: ~0.5 % overall.
BLEEDING_PROLONGED = (0.004, 0.016)
BRUISING_SMALL = 0.075
BRUISING_LARGE = 0.003
#: Pain during needling, 0 to 10: about 4.5 % of sessions at 4 or more.
PAIN_WEIGHTS = (30, 25, 24.5, 16, 2.2, 1.2, 0.6, 0.3, 0.13, 0.05, 0.02)
#: Immediate reactions: about 1 % of sessions.
REACTIONS = (("dizziness", 0.006), ("nausea", 0.0025), ("other", 0.0015))
#: White et al. 2001: 7 lost or forgotten needles or patients in 31,822 consultations.
COUNT_DISCREPANCY = 1 / 6000
ANTICOAGULANT = 0.08
#: (linkId, probability of the unexpected answer, the practitioner's note)
DEVIATIONS = (
    ("signin.authorised", 0.00001, "Supervised by the clinic lead while authorisation renews."),
    ("signin.consent", 0.00001, "Verbal consent recorded; written form signed after the session."),
    ("signin.skin_ok", 0.0002, "Small graze on the calf; that area was avoided."),
    ("timeout.hand_hygiene", 0.0001, "Sink out of order; gloves worn and alcohol gel used."),
    ("timeout.needles_sterile", 0.00001, "One packet torn; that needle was discarded unused."),
    ("timeout.clean_field", 0.0001, "Tray knocked; field set up again before insertion."),
    ("timeout.skin_prepared", 0.0004, "Alcohol wipes ran out; skin cleaned with soap and water."),
    ("signout.fit_to_leave", 0.0001, "Patient rested 20 minutes and left with a relative."),
    ("signout.hand_hygiene", 0.0001, "Called to another room; hands washed five minutes later."),
    ("signout.aftercare", 0.0002, "Patient left in a hurry; aftercare leaflet emailed today."),
)
CHOICE_NOTES = {
    ("signout.bleeding", "prolonged"): "Pressure for 6 minutes until it stopped.",
    ("signout.bruising", "large"): "Ice applied; patient shown how to watch the bruise.",
    ("signout.reaction", "dizziness"): "Lay flat 10 minutes, water given; recovered fully.",
    ("signout.reaction", "nausea"): "Sat up slowly, water given; settled before leaving.",
    ("signout.reaction", "other"): "Felt emotional afterwards; talked through, settled.",
    ("signout.reactions", "dizziness"): "Lay flat 10 minutes, water given; recovered fully.",
    ("signout.reactions", "fainted"): "Fainted briefly on the couch; lay flat, recovered, "
    "observed 30 minutes.",
    ("signout.reactions", "nausea"): "Sat up slowly, water given; settled before leaving.",
    ("signout.reactions", "other"): "Felt emotional afterwards; talked through, settled.",
}
COUNT_NOTE = (
    "One needle unaccounted for: couch, floor and clothing searched; patient checked; "
    "found in the sharps tray. Reported to the clinic lead."
)
BLEEDING_PRECAUTION = "Fewer needles, firm pressure for two minutes after removal."
HIGH_RISK_PRECAUTION = "Short needles, pincer grip over the rib, angled away from the lung."
REGION_WEIGHTS = {
    "head": 1,
    "neck": 15,
    "shoulder": 22,
    "thorax": 3,
    "arm": 6,
    "lumbar": 30,
    "hip": 10,
    "leg": 12,
    "foot": 1,
}
NEEDLE_COUNTS = (1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 9, 10, 12, 14)
#: The last days of the span are on version 2 of the default checklist (DESIGN §3.1.1), the
#: rest on version 1, as in a clinic that upgraded three months ago.
VERSION_2_DAYS = 90
#: Version 2 asks fainting apart from dizziness: together the ~0.6 % of version 1.
REACTIONS_V2 = (("dizziness", 0.005), ("fainted", 0.001), ("nausea", 0.0025), ("other", 0.0015))
#: Share of sessions where a needle was opened and not used (version 2 counts it).
OPENED_UNUSED = 0.1
LUNG_REGIONS = ("thorax", "neck", "shoulder")
#: The later versions' deviations: version 2 stops a session at consent "No", version 3 also
#: at no authorisation and a pack not sterile, version 5 at broken or infected skin at the
#: sites; a signed record never holds those answers, so the bulk data does not either.
STOPPED_ON_V2 = frozenset(
    {"signin.consent", "signin.authorised", "signin.skin_ok", "timeout.needles_sterile"}
)
DEVIATIONS_V2 = tuple(
    (link_id.replace("timeout.clean_field", "timeout.field_ready"), p, note)
    for link_id, p, note in DEVIATIONS
    if link_id not in STOPPED_ON_V2
)
DEVIATION_TOTAL_V2 = sum(p for _, p, _ in DEVIATIONS_V2)
#: Share of phases ticked all at once at the end (the record page shows it as such).
TICKED_TOGETHER = 0.015
FOLLOWUP_ANSWERED = 0.78
#: Soreness the next day, 0 to 10, among uneventful answers.
SORENESS = (0, 0, 1, 1, 1, 2, 2, 3)
FOLLOWUP_DECLINED_ON_THE_DAY = 0.03

PAIN_SCORES = tuple(range(len(PAIN_WEIGHTS)))
PAIN_CUMULATIVE = tuple(itertools.accumulate(PAIN_WEIGHTS))
REGIONS = tuple(REGION_WEIGHTS)
REGION_CUMULATIVE = tuple(itertools.accumulate(REGION_WEIGHTS.values()))
DEVIATION_TOTAL = sum(p for _, p, _ in DEVIATIONS)


def email_address(local: str, domain: str) -> str:
    """An address in plain ASCII (João O'Brien -> joao.obrien), as any mail server takes."""
    folded = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return f"{folded.lower().replace(chr(39), '')}@{domain}"


def lot_code(brand: str, released: date, serial: int) -> str:
    """A lot number in the style each maker prints on its boxes."""
    yy, mm, dd = released.year % 100, released.month, released.day
    if brand == "HW":
        return f"HW{yy:02d}{mm:02d}{serial % 100:02d}"
    if brand == "SJ":
        return f"SJ-{40000 + serial}"
    if brand == "DBC":
        return f"DBC{yy:02d}{mm:02d}{dd:02d}{'ABC'[serial % 3]}"
    if brand == "AGP":
        return f"AGP-{yy:02d}{serial:04d}"
    return f"TW{yy:02d}{released.timetuple().tm_yday:03d}-{serial % 10}"


@dataclass
class PlannedClinic:
    """A bulk clinic as planned: who works there and which patients it treats from when."""

    id: int
    name: str
    zone: ZoneInfo
    weight: float
    opens: int
    closes: int
    #: The brand it mostly buys needles from, and the one it sometimes does.
    brands: tuple[str, str]
    #: (id, name) of each practitioner.
    practitioners: list[tuple[int, str]] = field(default_factory=list)
    #: Patients sorted by first visit: their ids and first-visit day numbers.
    patient_ids: list[int] = field(default_factory=list)
    patient_days: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Lot:
    """A needle lot: its number, the day number it was released on, its expiry date."""

    code: str
    released: int
    expiry: str
