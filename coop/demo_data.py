"""The demo region's facts: the East of England's eleven authorities and their homes.

The authorities and their ONS GSS codes are real. The homes are made up, but look like the
council-run homes public documents describe: two-bed homes for children with high needs at
£7,500–£8,000 a week per bed, four-bed homes near £5,000, three-bed homes in between. Each
home's postcode is a real postcode of its town, in its owner's area, and its latitude and
longitude are that postcode's (from the ONS postcode directory, converted from the British
National Grid). Ofsted URNs are made up, in Ofsted's ``SC`` form.

Plain data only: :mod:`coop.demo` turns it into API calls.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "east-of-england"


@dataclass(frozen=True)
class AuthorityFacts:
    slug: str
    name: str
    gss_code: str
    latitude: float
    """Where its children mostly live: the search for a bed starts near here."""
    longitude: float
    demand: float
    """Its share of the region's requests (roughly its looked-after children in homes)."""
    ref: str
    """The prefix of its case references (opaque to everyone else)."""


AUTHORITIES: tuple[AuthorityFacts, ...] = (
    AuthorityFacts("bedford", "Bedford", "E06000055", 52.136, -0.467, 3.5, "BED"),
    AuthorityFacts("cambridgeshire", "Cambridgeshire", "E10000003", 52.30, 0.05, 8.0, "CAM"),
    AuthorityFacts(
        "central-bedfordshire", "Central Bedfordshire", "E06000056", 52.00, -0.45, 4.0, "CBC"
    ),
    AuthorityFacts("essex", "Essex", "E10000012", 51.80, 0.55, 16.0, "ESS"),
    AuthorityFacts("hertfordshire", "Hertfordshire", "E10000015", 51.80, -0.25, 14.0, "HCC"),
    AuthorityFacts("luton", "Luton", "E06000032", 51.88, -0.42, 4.0, "LUT"),
    AuthorityFacts("norfolk", "Norfolk", "E10000020", 52.63, 1.00, 11.0, "NCC"),
    AuthorityFacts("peterborough", "Peterborough", "E06000031", 52.57, -0.24, 4.0, "PBO"),
    AuthorityFacts("southend-on-sea", "Southend-on-Sea", "E06000033", 51.54, 0.71, 3.0, "SOS"),
    AuthorityFacts("suffolk", "Suffolk", "E10000029", 52.19, 1.00, 9.0, "SCC"),
    AuthorityFacts("thurrock", "Thurrock", "E06000034", 51.49, 0.35, 3.5, "THU"),
)


@dataclass(frozen=True)
class HomeFacts:
    key: str
    """A stable name for the demo's own bookkeeping (never sent)."""
    owner: str
    name: str
    town: str
    district: str
    postcode: str
    latitude: float
    longitude: float
    ofsted_urn: str
    ofsted_rating: str
    operator: str
    purpose: str
    age_min: int
    age_max: int
    gender: str
    needs: tuple[str, ...]
    risks: tuple[str, ...]
    accepts_dols: bool
    beds: int
    weekly_cost_pence: int
    """The owner's running cost of one bed for one week."""

    @property
    def labels(self) -> list[str]:
        return [f"Bed {i + 1}" for i in range(self.beds)]


# Capabilities by kind of home (each home below picks from these).
GENERAL_NEEDS = ("semh", "trauma_attachment")
GENERAL_RISKS = ("self_harm", "going_missing", "substance_use", "criminal_exploitation")
HIGH_NEEDS = ("semh", "autism", "learning_disability")
HIGH_RISKS = ("self_harm", "physical_harm", "eating_disorder")
EMERGENCY_NEEDS = ("semh", "trauma_attachment")
EMERGENCY_RISKS = ("going_missing", "criminal_exploitation", "substance_use", "physical_harm")
ASSESSMENT_NEEDS = ("semh", "trauma_attachment", "autism", "communication")
ASSESSMENT_RISKS = ("self_harm", "going_missing", "sexual_exploitation")


def _home(
    key: str,
    owner: str,
    name: str,
    place: tuple[str, str, str, float, float],
    urn: str,
    *,
    beds: int,
    cost: int,
    purpose: str = "long_term",
    rating: str = "good",
    operator: str = "in_house",
    ages: tuple[int, int] = (10, 17),
    gender: str = "mixed",
    needs: tuple[str, ...] = GENERAL_NEEDS,
    risks: tuple[str, ...] = GENERAL_RISKS,
    dols: bool = False,
) -> HomeFacts:
    town, district, postcode, lat, lon = place
    return HomeFacts(
        key=key,
        owner=owner,
        name=name,
        town=town,
        district=district,
        postcode=postcode,
        latitude=lat,
        longitude=lon,
        ofsted_urn=urn,
        ofsted_rating=rating,
        operator=operator,
        purpose=purpose,
        age_min=ages[0],
        age_max=ages[1],
        gender=gender,
        needs=needs,
        risks=risks,
        accepts_dols=dols,
        beds=beds,
        weekly_cost_pence=cost,
    )


HIGH = {"needs": HIGH_NEEDS, "risks": HIGH_RISKS, "dols": True}
EMERGENCY = {"purpose": "emergency", "needs": EMERGENCY_NEEDS, "risks": EMERGENCY_RISKS}
ASSESSMENT = {"purpose": "assessment", "needs": ASSESSMENT_NEEDS, "risks": ASSESSMENT_RISKS}

HOMES: tuple[HomeFacts, ...] = (
    # -- Bedford
    _home(
        "kempston-lodge",
        "bedford",
        "Kempston Lodge",
        ("Kempston", "Bedford", "MK42 7AE", 52.1073, -0.5002),
        "SC487215",
        beds=3,
        cost=612_000,
        ages=(10, 17),
        needs=(*GENERAL_NEEDS, "communication"),
    ),
    _home(
        "brickhill-house",
        "bedford",
        "Brickhill House",
        ("Bedford", "Bedford", "MK41 6WY", 52.1344, -0.4756),
        "SC492630",
        beds=2,
        cost=776_000,
        ages=(11, 17),
        **HIGH,
    ),
    # -- Cambridgeshire: four homes, ten beds
    _home(
        "fen-view",
        "cambridgeshire",
        "Fen View",
        ("March", "Fenland", "PE15 5DQ", 52.5514, 0.0868),
        "SC501184",
        beds=3,
        cost=628_000,
        rating="outstanding",
    ),
    _home(
        "orchard-close",
        "cambridgeshire",
        "Orchard Close",
        ("Huntingdon", "Huntingdonshire", "PE29 3AW", 52.3409, -0.1840),
        "SC501197",
        beds=2,
        cost=792_000,
        ages=(12, 17),
        needs=(*HIGH_NEEDS, "mh_step_down"),
        risks=(*HIGH_RISKS, "going_missing"),
        dols=True,
    ),
    _home(
        "the-granary",
        "cambridgeshire",
        "The Granary",
        ("Ely", "East Cambridgeshire", "CB6 2FA", 52.3862, 0.2013),
        "SC503311",
        beds=2,
        cost=758_000,
        ages=(12, 17),
        rating="not_yet_inspected",
        **EMERGENCY,
    ),
    _home(
        "riverside-house",
        "cambridgeshire",
        "Riverside House",
        ("St Neots", "Huntingdonshire", "PE19 3QJ", 52.2271, -0.2926),
        "SC497752",
        beds=3,
        cost=655_000,
        ages=(8, 15),
        operator="vcs_partnership",
        **ASSESSMENT,
    ),
    # -- Central Bedfordshire
    _home(
        "clophill-house",
        "central-bedfordshire",
        "Clophill House",
        ("Clophill", "Central Bedfordshire", "MK45 2LE", 52.0296, -0.4958),
        "SC499026",
        beds=2,
        cost=784_000,
        ages=(10, 17),
        **HIGH,
    ),
    _home(
        "downside-house",
        "central-bedfordshire",
        "Downside House",
        ("Dunstable", "Central Bedfordshire", "LU6 2NF", 51.8423, -0.5079),
        "SC488540",
        beds=4,
        cost=503_000,
    ),
    _home(
        "ivel-lodge",
        "central-bedfordshire",
        "Ivel Lodge",
        ("Biggleswade", "Central Bedfordshire", "SG18 8ET", 52.0854, -0.2536),
        "SC490318",
        beds=3,
        cost=597_000,
        ages=(11, 17),
        rating="requires_improvement",
    ),
    # -- Essex
    _home(
        "moulsham-lodge",
        "essex",
        "Moulsham Lodge",
        ("Chelmsford", "Chelmsford", "CM2 6SU", 51.7365, 0.4969),
        "SC472903",
        beds=4,
        cost=492_000,
    ),
    _home(
        "lexden-house",
        "essex",
        "Lexden House",
        ("Colchester", "Colchester", "CO3 3UT", 51.8848, 0.8741),
        "SC475168",
        beds=4,
        cost=508_000,
        rating="outstanding",
        needs=(*GENERAL_NEEDS, "communication"),
    ),
    _home(
        "laindon-court",
        "essex",
        "Laindon Court",
        ("Basildon", "Basildon", "SS15 5LJ", 51.5741, 0.4382),
        "SC480227",
        beds=3,
        cost=642_000,
        ages=(12, 17),
        **EMERGENCY,
    ),
    _home(
        "harlow-common-house",
        "essex",
        "Harlow Common House",
        ("Harlow", "Harlow", "CM20 2JR", 51.7791, 0.1243),
        "SC486671",
        beds=2,
        cost=781_000,
        ages=(8, 16),
        needs=(*HIGH_NEEDS, "disability", "communication"),
        risks=("self_harm", "physical_harm"),
        dols=True,
    ),
    _home(
        "bocking-place",
        "essex",
        "Bocking Place",
        ("Braintree", "Braintree", "CM7 4FH", 51.9287, 0.4313),
        "SC483354",
        beds=3,
        cost=618_000,
        ages=(8, 15),
        **ASSESSMENT,
    ),
    _home(
        "holland-haven",
        "essex",
        "Holland Haven",
        ("Clacton-on-Sea", "Tendring", "CO15 3JD", 51.7983, 1.1440),
        "SC491845",
        beds=2,
        cost=762_000,
        ages=(13, 17),
        gender="male",
        needs=("semh", "trauma_attachment"),
        risks=("criminal_exploitation", "physical_harm", "substance_use", "fire_setting"),
    ),
    # -- Hertfordshire
    _home(
        "shephall-grange",
        "hertfordshire",
        "Shephall Grange",
        ("Stevenage", "Stevenage", "SG2 8BW", 51.8878, -0.1841),
        "SC469982",
        beds=4,
        cost=487_000,
    ),
    _home(
        "roe-green-house",
        "hertfordshire",
        "Roe Green House",
        ("Hatfield", "Welwyn Hatfield", "AL10 1GQ", 51.7643, -0.2263),
        "SC474410",
        beds=3,
        cost=634_000,
        ages=(11, 17),
        gender="female",
        risks=(*GENERAL_RISKS, "sexual_exploitation", "eating_disorder"),
    ),
    _home(
        "cassiobury-lodge",
        "hertfordshire",
        "Cassiobury Lodge",
        ("Watford", "Watford", "WD18 1LW", 51.6417, -0.4279),
        "SC478036",
        beds=2,
        cost=798_000,
        ages=(12, 17),
        needs=(*HIGH_NEEDS, "mh_step_down"),
        risks=HIGH_RISKS,
        dols=True,
        rating="outstanding",
    ),
    _home(
        "gadebridge-house",
        "hertfordshire",
        "Gadebridge House",
        ("Hemel Hempstead", "Dacorum", "HP1 2JU", 51.7512, -0.5008),
        "SC481790",
        beds=4,
        cost=515_000,
        ages=(9, 16),
    ),
    _home(
        "hertingfordbury-lodge",
        "hertfordshire",
        "Hertingfordbury Lodge",
        ("Hertford", "East Hertfordshire", "SG14 2BT", 51.8005, -0.0947),
        "SC485523",
        beds=3,
        cost=671_000,
        ages=(11, 17),
        **EMERGENCY,
    ),
    # -- Luton
    _home(
        "wardown-lodge",
        "luton",
        "Wardown Lodge",
        ("Luton", "Luton", "LU2 7HZ", 51.9006, -0.4145),
        "SC489667",
        beds=3,
        cost=603_000,
        needs=(*GENERAL_NEEDS, "communication"),
    ),
    _home(
        "stopsley-house",
        "luton",
        "Stopsley House",
        ("Luton", "Luton", "LU3 2JE", 51.9033, -0.4531),
        "SC493108",
        beds=2,
        cost=767_000,
        ages=(10, 17),
        **HIGH,
    ),
    # -- Norfolk
    _home(
        "eaton-park-house",
        "norfolk",
        "Eaton Park House",
        ("Norwich", "Norwich", "NR4 6PA", 52.6080, 1.2559),
        "SC466251",
        beds=4,
        cost=497_000,
    ),
    _home(
        "gaywood-lodge",
        "norfolk",
        "Gaywood Lodge",
        ("King's Lynn", "King's Lynn and West Norfolk", "PE30 3JN", 52.7798, 0.4423),
        "SC470874",
        beds=3,
        cost=588_000,
    ),
    _home(
        "gorleston-house",
        "norfolk",
        "Gorleston House",
        ("Great Yarmouth", "Great Yarmouth", "NR31 6WZ", 52.6125, 1.7246),
        "SC479415",
        beds=2,
        cost=771_000,
        ages=(11, 17),
        **HIGH,
    ),
    _home(
        "thetford-forest-lodge",
        "norfolk",
        "Thetford Forest Lodge",
        ("Thetford", "Breckland", "IP24 2BB", 52.4136, 0.7475),
        "SC482148",
        beds=3,
        cost=611_000,
        ages=(8, 15),
        **ASSESSMENT,
    ),
    _home(
        "sprowston-cottage",
        "norfolk",
        "Sprowston Cottage",
        ("Sprowston", "Broadland", "NR7 7ES", 52.6477, 1.3229),
        "SC495380",
        beds=2,
        cost=752_000,
        ages=(12, 17),
        **EMERGENCY,
    ),
    # -- Peterborough
    _home(
        "orton-lodge",
        "peterborough",
        "Orton Lodge",
        ("Peterborough", "Peterborough", "PE2 5ER", 52.5525, -0.2911),
        "SC484027",
        beds=4,
        cost=499_000,
        needs=(*GENERAL_NEEDS, "communication"),
    ),
    _home(
        "werrington-house",
        "peterborough",
        "Werrington House",
        ("Werrington", "Peterborough", "PE4 6LD", 52.6097, -0.2770),
        "SC490772",
        beds=2,
        cost=779_000,
        ages=(11, 17),
        **HIGH,
    ),
    # -- Southend-on-Sea
    _home(
        "chalkwell-house",
        "southend-on-sea",
        "Chalkwell House",
        ("Leigh-on-Sea", "Southend-on-Sea", "SS9 2SB", 51.5486, 0.6450),
        "SC477563",
        beds=3,
        cost=624_000,
    ),
    _home(
        "priory-lodge",
        "southend-on-sea",
        "Priory Lodge",
        ("Southend-on-Sea", "Southend-on-Sea", "SS2 5DF", 51.5474, 0.7171),
        "SC494219",
        beds=2,
        cost=788_000,
        ages=(12, 17),
        needs=HIGH_NEEDS,
        risks=(*HIGH_RISKS, "going_missing"),
        dols=True,
    ),
    # -- Suffolk
    _home(
        "chantry-house",
        "suffolk",
        "Chantry House",
        ("Ipswich", "Ipswich", "IP2 8DP", 52.0488, 1.1537),
        "SC468735",
        beds=4,
        cost=494_000,
        rating="outstanding",
    ),
    _home(
        "abbeygate-lodge",
        "suffolk",
        "Abbeygate Lodge",
        ("Bury St Edmunds", "West Suffolk", "IP33 2LS", 52.2360, 0.7090),
        "SC473390",
        beds=3,
        cost=607_000,
        needs=(*GENERAL_NEEDS, "autism"),
    ),
    _home(
        "oulton-broad-house",
        "suffolk",
        "Oulton Broad House",
        ("Lowestoft", "East Suffolk", "NR33 7PS", 52.4211, 1.7216),
        "SC476817",
        beds=3,
        cost=589_000,
        ages=(12, 17),
    ),
    _home(
        "stowupland-house",
        "suffolk",
        "Stowupland House",
        ("Stowmarket", "Mid Suffolk", "IP14 3GP", 52.1995, 0.9892),
        "SC487904",
        beds=2,
        cost=795_000,
        ages=(10, 17),
        needs=(*HIGH_NEEDS, "mh_step_down"),
        risks=(*HIGH_RISKS, "fire_setting"),
        dols=True,
    ),
    _home(
        "kesgrave-lodge",
        "suffolk",
        "Kesgrave Lodge",
        ("Kesgrave", "East Suffolk", "IP5 2QH", 52.0616, 1.2626),
        "SC498561",
        beds=2,
        cost=756_000,
        ages=(11, 17),
        **EMERGENCY,
    ),
    # -- Thurrock
    _home(
        "grays-beach-house",
        "thurrock",
        "Grays Beach House",
        ("Grays", "Thurrock", "RM17 6BE", 51.4774, 0.3411),
        "SC483901",
        beds=3,
        cost=639_000,
    ),
    _home(
        "stanford-lodge",
        "thurrock",
        "Stanford Lodge",
        ("Stanford-le-Hope", "Thurrock", "SS17 7DS", 51.5227, 0.4453),
        "SC496643",
        beds=2,
        cost=773_000,
        ages=(12, 17),
        needs=("semh", "autism"),
        risks=("self_harm", "physical_harm", "going_missing", "criminal_exploitation"),
        dols=True,
    ),
)

#: codes no home of the region takes: requests with them are the unmet demand to commission for
UNMET_RISKS = ("sexual_harm", "harm_to_animals")

REJECT_REASONS = (
    "The match would unsettle the children living here now.",
    "We cannot staff the two-to-one supervision this child needs this month.",
    "Risk of contact with a known exploitation network near the home.",
    "The home's location is too close to the child's family, against the care plan.",
    "The child's education placement is too far away to keep.",
    "The registered manager is not assured the home can meet the child's health needs.",
)
WITHDRAW_REASONS = (
    "The child has been placed with a connected person (kinship care).",
    "The court adjourned; the care plan is being reviewed.",
    "An in-house foster carer became available.",
    "The child returned home under a safety plan.",
)
CANCEL_REASONS = (
    "The placement order was not made at the hearing.",
    "A family member came forward as a carer.",
    "The child's needs were reassessed; a different setting is planned.",
)
EARLY_END_REASONS = (
    "Placement breakdown after repeated missing episodes.",
    "Stepped down to foster care.",
    "Returned home to family under a supervision order.",
    "Moved to supported accommodation at seventeen.",
    "Moved nearer siblings.",
)
PLANNED_END_REASONS = (
    "Planned move to long-term foster care.",
    "Planned return home.",
    "Planned move to semi-independent living.",
    "End of assessment: moved to the recommended placement.",
)
