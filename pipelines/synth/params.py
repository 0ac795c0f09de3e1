"""Parameters of the synthetic health and care system, each with its source.

Sources are stated in DOMAIN.md terms. "NHS Digital" means the NHS Hospital & Community
Health Services workforce statistics for England (staff in post, leavers, sickness
absence, NHS vacancy statistics); "GPWMDS" the GP workforce minimum dataset; "Skills for
Care" its annual State of the adult social care sector report. Where a figure is a rounded
or simplified version of a published one, or a local assumption, the comment says so. Every
parameter can be overridden in SynthConfig.params for a different system.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- Roles --------------------------------------------------------------------------------
# A role says how a job is coded in each sector's terms: harmonised role, NHS occupation
# codes (NHS trusts) or sector role (elsewhere), pay bands with weights, the standard weekly
# hours that FTE is measured against (37.5 under Agenda for Change, 40 for medical staff),
# whether it needs a professional registration, and its share of women.


@dataclass(frozen=True)
class Role:
    key: str  # harmonised role code, or sector role code outside NHS trusts
    occupation_codes: tuple[str, ...] = ()
    bands: tuple[tuple[str, float], ...] = ()
    standard_hours: float = 37.5
    registered: bool = False
    female_share: float = 0.77  # NHS Digital: about 77% of NHS staff are women
    full_time_share: float = 0.62  # NHS Digital: roughly 6 in 10 staff work full time
    fixed_term_share: float = 0.06
    young: bool = False  # in training: younger, mostly on fixed-term contracts


def _b(*pairs) -> tuple[tuple[str, float], ...]:
    return tuple(pairs)


NHS_ROLES: dict[str, Role] = {
    r.key: r
    for r in [
        Role("CONSULTANT", ("010",), _b(("MED_CONSULTANT", 1)), 40, True, 0.42, 0.85),
        Role(
            "SPECIALTY_DOCTOR",
            ("020",),
            _b(("MED_SPECIALTY_DOCTOR", 0.8), ("MED_SPECIALIST", 0.2)),
            40,
            True,
            0.5,
            0.8,
        ),
        Role(
            "RESIDENT_DOCTOR",
            ("030", "040", "050", "060"),
            _b(
                ("MED_SPECIALTY_REGISTRAR", 0.45),
                ("MED_CORE_TRAINING", 0.25),
                ("MED_FY2", 0.15),
                ("MED_FY1", 0.15),
            ),
            40,
            True,
            0.55,
            0.92,
            0.9,
            True,
        ),
        Role(
            "REGISTERED_NURSE",
            ("N01",),
            _b(("AFC_5", 0.65), ("AFC_6", 0.35)),
            registered=True,
            female_share=0.89,
            full_time_share=0.6,
        ),
        Role(
            "SENIOR_NURSE",
            ("N02",),
            _b(("AFC_6", 0.4), ("AFC_7", 0.6)),
            registered=True,
            female_share=0.87,
            full_time_share=0.7,
        ),
        Role(
            "MENTAL_HEALTH_NURSE",
            ("N11", "N12"),
            _b(("AFC_5", 0.5), ("AFC_6", 0.35), ("AFC_7", 0.15)),
            registered=True,
            female_share=0.76,
        ),
        Role(
            "ADVANCED_NURSE_PRACTITIONER",
            ("N51",),
            _b(("AFC_7", 0.6), ("AFC_8A", 0.4)),
            registered=True,
            female_share=0.86,
            full_time_share=0.7,
        ),
        Role(
            "DISTRICT_NURSE",
            ("N41",),
            _b(("AFC_5", 0.5), ("AFC_6", 0.5)),
            registered=True,
            female_share=0.92,
        ),
        Role(
            "HEALTH_VISITOR",
            ("N3H",),
            _b(("AFC_6", 0.85), ("AFC_7", 0.15)),
            registered=True,
            female_share=0.98,
            full_time_share=0.5,
        ),
        Role(
            "MIDWIFE",
            ("N21", "N22"),
            _b(("AFC_5", 0.25), ("AFC_6", 0.55), ("AFC_7", 0.2)),
            registered=True,
            female_share=0.99,
            full_time_share=0.45,
        ),
        Role(
            "PARAMEDIC",
            ("A01",),
            _b(("AFC_5", 0.3), ("AFC_6", 0.7)),
            registered=True,
            female_share=0.45,
            full_time_share=0.85,
        ),
        Role(
            "AMBULANCE_TECHNICIAN",
            ("A02",),
            _b(
                ("AFC_4", 1),
            ),
            female_share=0.5,
            full_time_share=0.8,
        ),
        Role(
            "PHYSIOTHERAPIST",
            ("S01",),
            _b(("AFC_5", 0.3), ("AFC_6", 0.45), ("AFC_7", 0.25)),
            registered=True,
            female_share=0.78,
        ),
        Role(
            "OCCUPATIONAL_THERAPIST",
            ("S02",),
            _b(("AFC_5", 0.3), ("AFC_6", 0.45), ("AFC_7", 0.25)),
            registered=True,
            female_share=0.88,
        ),
        Role(
            "RADIOGRAPHER",
            ("S03",),
            _b(("AFC_5", 0.35), ("AFC_6", 0.4), ("AFC_7", 0.25)),
            registered=True,
            female_share=0.72,
        ),
        Role(
            "SPEECH_LANGUAGE_THERAPIST",
            ("S04",),
            _b(("AFC_5", 0.3), ("AFC_6", 0.4), ("AFC_7", 0.3)),
            registered=True,
            female_share=0.95,
        ),
        Role(
            "PHARMACIST",
            ("S05",),
            _b(("AFC_6", 0.2), ("AFC_7", 0.5), ("AFC_8A", 0.3)),
            registered=True,
            female_share=0.62,
        ),
        Role(
            "BIOMEDICAL_SCIENTIST",
            ("S06",),
            _b(("AFC_5", 0.4), ("AFC_6", 0.4), ("AFC_7", 0.2)),
            registered=True,
            female_share=0.6,
        ),
        Role(
            "PSYCHOLOGIST",
            ("S07",),
            _b(("AFC_7", 0.4), ("AFC_8A", 0.4), ("AFC_8B", 0.2)),
            registered=True,
            female_share=0.8,
        ),
        Role(
            "DIETITIAN",
            ("S08",),
            _b(("AFC_5", 0.3), ("AFC_6", 0.5), ("AFC_7", 0.2)),
            registered=True,
            female_share=0.93,
        ),
        Role(
            "HEALTHCARE_ASSISTANT",
            ("H11",),
            _b(("AFC_2", 0.35), ("AFC_3", 0.65)),
            female_share=0.82,
            full_time_share=0.55,
        ),
        Role(
            "NURSING_ASSOCIATE",
            ("H12",),
            _b(
                ("AFC_4", 1),
            ),
            registered=True,
            female_share=0.88,
        ),
        Role(
            "MATERNITY_SUPPORT_WORKER",
            ("H13",),
            _b(
                ("AFC_3", 1),
            ),
            female_share=0.98,
            full_time_share=0.45,
        ),
        Role(
            "MENTAL_HEALTH_SUPPORT_WORKER",
            ("H14",),
            _b(("AFC_3", 0.8), ("AFC_4", 0.2)),
            female_share=0.7,
        ),
        Role(
            "WARD_CLERK",
            ("H15",),
            _b(("AFC_2", 0.5), ("AFC_3", 0.5)),
            female_share=0.88,
            full_time_share=0.55,
        ),
        Role(
            "CALL_HANDLER",
            ("H21",),
            _b(
                ("AFC_3", 1),
            ),
            female_share=0.6,
            full_time_share=0.7,
        ),
        Role(
            "PATIENT_TRANSPORT",
            ("H22",),
            _b(("AFC_2", 0.5), ("AFC_3", 0.5)),
            female_share=0.4,
            full_time_share=0.7,
        ),
        Role("THERAPY_ASSISTANT", ("H31",), _b(("AFC_3", 0.7), ("AFC_4", 0.3)), female_share=0.85),
        Role("PHARMACY_ASSISTANT", ("H32",), _b(("AFC_3", 0.6), ("AFC_4", 0.4)), female_share=0.8),
        Role(
            "ADMINISTRATOR",
            ("G01",),
            _b(("AFC_2", 0.3), ("AFC_3", 0.45), ("AFC_4", 0.25)),
            female_share=0.8,
            full_time_share=0.6,
        ),
        Role("HR_OFFICER", ("G02",), _b(("AFC_4", 0.4), ("AFC_5", 0.6)), female_share=0.82),
        Role(
            "FINANCE_OFFICER",
            ("G03",),
            _b(("AFC_4", 0.3), ("AFC_5", 0.4), ("AFC_6", 0.3)),
            female_share=0.62,
        ),
        Role(
            "IT_ANALYST",
            ("G04",),
            _b(("AFC_5", 0.35), ("AFC_6", 0.4), ("AFC_7", 0.25)),
            female_share=0.35,
            full_time_share=0.85,
        ),
        Role(
            "PORTER",
            ("G11",),
            _b(
                ("AFC_2", 1),
            ),
            female_share=0.15,
            full_time_share=0.8,
        ),
        Role(
            "DOMESTIC",
            ("G12",),
            _b(
                ("AFC_2", 1),
            ),
            female_share=0.75,
            full_time_share=0.45,
        ),
        Role(
            "CATERING",
            ("G13",),
            _b(
                ("AFC_2", 1),
            ),
            female_share=0.65,
            full_time_share=0.5,
        ),
        Role(
            "ESTATES_TECHNICIAN",
            ("G14",),
            _b(
                ("AFC_4", 1),
            ),
            female_share=0.08,
            full_time_share=0.95,
        ),
        Role(
            "MANAGER",
            ("G21", "G22"),
            _b(("AFC_7", 0.35), ("AFC_8A", 0.4), ("AFC_8B", 0.25)),
            female_share=0.72,
            full_time_share=0.85,
        ),
        Role(
            "SENIOR_MANAGER",
            ("G31", "Z01"),
            _b(("AFC_8C", 0.45), ("AFC_8D", 0.3), ("AFC_9", 0.15), ("VSM", 0.1)),
            female_share=0.55,
            full_time_share=0.95,
        ),
    ]
}

# Outside NHS trusts a row carries its sector role; pay is local, or a GP contract.
SECTOR_ROLES: dict[str, Role] = {
    r.key: r
    for r in [
        Role("GP_PARTNER", (), _b(("MED_GP", 1)), 37.5, True, 0.45, 0.35),
        Role("GP_SALARIED", (), _b(("MED_GP", 1)), 37.5, True, 0.66, 0.25),
        Role("GP_LOCUM", (), _b(("MED_GP", 1)), 37.5, True, 0.55, 0.2, 0.5),
        Role(
            "GP_REGISTRAR", (), _b(("MED_SPECIALTY_REGISTRAR", 1)), 40, True, 0.6, 0.85, 0.95, True
        ),
        Role(
            "PRACTICE_NURSE",
            (),
            _b(("LOCAL", 0.6), ("AFC_5", 0.2), ("AFC_6", 0.2)),
            registered=True,
            female_share=0.97,
            full_time_share=0.35,
        ),
        Role(
            "ADVANCED_NURSE_PRACTITIONER_PC",
            (),
            _b(("LOCAL", 0.6), ("AFC_7", 0.25), ("AFC_8A", 0.15)),
            registered=True,
            female_share=0.93,
            full_time_share=0.5,
        ),
        Role(
            "HCA_PC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.92,
            full_time_share=0.35,
        ),
        Role(
            "CLINICAL_PHARMACIST",
            (),
            _b(("AFC_7", 0.7), ("AFC_8A", 0.3)),
            registered=True,
            female_share=0.6,
            full_time_share=0.75,
        ),
        Role(
            "PARAMEDIC_PC",
            (),
            _b(
                ("AFC_7", 1),
            ),
            registered=True,
            female_share=0.45,
            full_time_share=0.8,
        ),
        Role(
            "PHYSICIAN_ASSOCIATE_PC",
            (),
            _b(
                ("AFC_7", 1),
            ),
            female_share=0.7,
            full_time_share=0.8,
        ),
        Role(
            "FIRST_CONTACT_PHYSIO",
            (),
            _b(("AFC_7", 0.6), ("AFC_8A", 0.4)),
            registered=True,
            female_share=0.65,
            full_time_share=0.6,
        ),
        Role(
            "SOCIAL_PRESCRIBING_LINK_WORKER",
            (),
            _b(("AFC_4", 0.5), ("LOCAL", 0.5)),
            female_share=0.85,
            full_time_share=0.6,
        ),
        Role(
            "CARE_COORDINATOR",
            (),
            _b(("AFC_4", 0.5), ("LOCAL", 0.5)),
            female_share=0.9,
            full_time_share=0.6,
        ),
        Role(
            "PRACTICE_MANAGER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.85,
            full_time_share=0.85,
        ),
        Role(
            "RECEPTIONIST_PC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.92,
            full_time_share=0.25,
        ),
        Role(
            "ADMIN_PC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.9,
            full_time_share=0.4,
        ),
        Role(
            "CARE_WORKER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.8,
            full_time_share=0.45,
        ),
        Role(
            "SENIOR_CARE_WORKER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.82,
            full_time_share=0.6,
        ),
        Role(
            "SUPPORT_WORKER_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.75,
            full_time_share=0.5,
        ),
        Role(
            "REGISTERED_MANAGER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.82,
            full_time_share=0.95,
        ),
        Role(
            "DEPUTY_MANAGER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.82,
            full_time_share=0.9,
        ),
        Role(
            "SUPERVISOR_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.8,
            full_time_share=0.8,
        ),
        Role(
            "SOCIAL_WORKER",
            (),
            _b(
                ("LOCAL", 1),
            ),
            registered=True,
            female_share=0.84,
            full_time_share=0.75,
        ),
        Role(
            "OCCUPATIONAL_THERAPIST_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            registered=True,
            female_share=0.9,
            full_time_share=0.7,
        ),
        Role(
            "REGISTERED_NURSE_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            registered=True,
            female_share=0.88,
            full_time_share=0.7,
        ),
        Role(
            "ADMIN_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.85,
            full_time_share=0.6,
        ),
        Role(
            "ANCILLARY_SC",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.7,
            full_time_share=0.4,
        ),
        Role(
            "HOSPICE_DOCTOR",
            (),
            _b(("MED_SPECIALTY_DOCTOR", 0.6), ("MED_CONSULTANT", 0.4)),
            40,
            True,
            0.6,
            0.5,
        ),
        Role(
            "HOSPICE_NURSE",
            (),
            _b(("AFC_5", 0.5), ("AFC_6", 0.4), ("AFC_7", 0.1)),
            registered=True,
            female_share=0.94,
            full_time_share=0.45,
        ),
        Role(
            "HOSPICE_HCA",
            (),
            _b(
                ("AFC_3", 1),
            ),
            female_share=0.9,
            full_time_share=0.4,
        ),
        Role(
            "HOSPICE_THERAPIST",
            (),
            _b(("AFC_6", 0.6), ("AFC_7", 0.4)),
            registered=True,
            female_share=0.88,
            full_time_share=0.5,
        ),
        Role(
            "HOSPICE_ADMIN",
            (),
            _b(
                ("LOCAL", 1),
            ),
            female_share=0.82,
            full_time_share=0.5,
        ),
        Role(
            "HOSPICE_MANAGER",
            (),
            _b(("AFC_8A", 0.6), ("AFC_8B", 0.4)),
            female_share=0.75,
            full_time_share=0.9,
        ),
    ]
}

# Role mix by organisation kind (relative weights). NHS trust mixes are simplified from the
# NHS Digital staff-group shares by organisation type; GP practice mix from GPWMDS (GPs about
# a quarter of headcount, nurses about an eighth, admin about half); PCN mix is the
# additional-roles workforce; social care mixes from Skills for Care (direct care about three
# quarters of jobs in independent providers; local authorities employ most social workers).
ROLE_MIX: dict[str, dict[str, float]] = {
    "acute_trust": {
        "CONSULTANT": 5,
        "SPECIALTY_DOCTOR": 2,
        "RESIDENT_DOCTOR": 7,
        "REGISTERED_NURSE": 20,
        "SENIOR_NURSE": 5,
        "ADVANCED_NURSE_PRACTITIONER": 1,
        "MIDWIFE": 3,
        "PHYSIOTHERAPIST": 2,
        "OCCUPATIONAL_THERAPIST": 1,
        "RADIOGRAPHER": 2,
        "SPEECH_LANGUAGE_THERAPIST": 0.5,
        "PHARMACIST": 1,
        "BIOMEDICAL_SCIENTIST": 1.5,
        "DIETITIAN": 0.5,
        "HEALTHCARE_ASSISTANT": 14,
        "NURSING_ASSOCIATE": 2,
        "MATERNITY_SUPPORT_WORKER": 1,
        "WARD_CLERK": 3,
        "THERAPY_ASSISTANT": 1.5,
        "PHARMACY_ASSISTANT": 1,
        "ADMINISTRATOR": 7,
        "HR_OFFICER": 1,
        "FINANCE_OFFICER": 1,
        "IT_ANALYST": 1,
        "PORTER": 2,
        "DOMESTIC": 2.5,
        "CATERING": 1.5,
        "ESTATES_TECHNICIAN": 1,
        "MANAGER": 2.5,
        "SENIOR_MANAGER": 0.5,
    },
    "mental_health_trust": {
        "CONSULTANT": 2.5,
        "SPECIALTY_DOCTOR": 2,
        "RESIDENT_DOCTOR": 2,
        "MENTAL_HEALTH_NURSE": 20,
        "SENIOR_NURSE": 3,
        "REGISTERED_NURSE": 3,
        "ADVANCED_NURSE_PRACTITIONER": 1,
        "OCCUPATIONAL_THERAPIST": 4,
        "PSYCHOLOGIST": 5,
        "PHARMACIST": 1,
        "SPEECH_LANGUAGE_THERAPIST": 0.5,
        "MENTAL_HEALTH_SUPPORT_WORKER": 20,
        "HEALTHCARE_ASSISTANT": 5,
        "NURSING_ASSOCIATE": 2,
        "THERAPY_ASSISTANT": 1,
        "ADMINISTRATOR": 10,
        "HR_OFFICER": 1,
        "FINANCE_OFFICER": 1,
        "IT_ANALYST": 1,
        "DOMESTIC": 2,
        "CATERING": 1,
        "ESTATES_TECHNICIAN": 1,
        "MANAGER": 4,
        "SENIOR_MANAGER": 1,
    },
    "community_trust": {
        "CONSULTANT": 1,
        "SPECIALTY_DOCTOR": 1,
        "DISTRICT_NURSE": 15,
        "HEALTH_VISITOR": 6,
        "REGISTERED_NURSE": 6,
        "ADVANCED_NURSE_PRACTITIONER": 2,
        "PHYSIOTHERAPIST": 6,
        "OCCUPATIONAL_THERAPIST": 5,
        "SPEECH_LANGUAGE_THERAPIST": 3,
        "DIETITIAN": 2,
        "HEALTHCARE_ASSISTANT": 12,
        "NURSING_ASSOCIATE": 3,
        "THERAPY_ASSISTANT": 4,
        "ADMINISTRATOR": 12,
        "HR_OFFICER": 1,
        "FINANCE_OFFICER": 1,
        "IT_ANALYST": 1,
        "ESTATES_TECHNICIAN": 1,
        "MANAGER": 5,
        "SENIOR_MANAGER": 1,
    },
    "ambulance_trust": {
        "PARAMEDIC": 30,
        "AMBULANCE_TECHNICIAN": 14,
        "CALL_HANDLER": 18,
        "PATIENT_TRANSPORT": 12,
        "ADMINISTRATOR": 8,
        "HR_OFFICER": 1,
        "FINANCE_OFFICER": 1,
        "IT_ANALYST": 2,
        "ESTATES_TECHNICIAN": 3,
        "MANAGER": 5,
        "SENIOR_MANAGER": 1,
    },
    "gp_practice": {
        "GP_PARTNER": 4,
        "GP_SALARIED": 5,
        "GP_REGISTRAR": 1.5,
        "PRACTICE_NURSE": 3.5,
        "ADVANCED_NURSE_PRACTITIONER_PC": 1,
        "HCA_PC": 2.5,
        "CLINICAL_PHARMACIST": 0.5,
        "PRACTICE_MANAGER": 1,
        "RECEPTIONIST_PC": 8,
        "ADMIN_PC": 5,
    },
    "primary_care_network": {
        "CLINICAL_PHARMACIST": 5,
        "PARAMEDIC_PC": 2,
        "PHYSICIAN_ASSOCIATE_PC": 2,
        "FIRST_CONTACT_PHYSIO": 3,
        "SOCIAL_PRESCRIBING_LINK_WORKER": 3,
        "CARE_COORDINATOR": 4,
        "HCA_PC": 2,
        "ADVANCED_NURSE_PRACTITIONER_PC": 1,
        "ADMIN_PC": 2,
        "PRACTICE_MANAGER": 1,
    },
    "local_authority": {
        "SOCIAL_WORKER": 22,
        "OCCUPATIONAL_THERAPIST_SC": 6,
        "CARE_WORKER": 25,
        "SENIOR_CARE_WORKER": 8,
        "SUPPORT_WORKER_SC": 10,
        "REGISTERED_MANAGER": 3,
        "DEPUTY_MANAGER": 3,
        "SUPERVISOR_SC": 6,
        "ADMIN_SC": 14,
        "ANCILLARY_SC": 3,
    },
    "social_care_provider": {
        "CARE_WORKER": 55,
        "SENIOR_CARE_WORKER": 12,
        "SUPPORT_WORKER_SC": 8,
        "REGISTERED_NURSE_SC": 6,
        "REGISTERED_MANAGER": 1.5,
        "DEPUTY_MANAGER": 2,
        "SUPERVISOR_SC": 3,
        "ADMIN_SC": 3,
        "ANCILLARY_SC": 9,
    },
    "hospice": {
        "HOSPICE_DOCTOR": 5,
        "HOSPICE_NURSE": 30,
        "HOSPICE_HCA": 25,
        "HOSPICE_THERAPIST": 8,
        "HOSPICE_ADMIN": 22,
        "HOSPICE_MANAGER": 10,
    },
}
ROLE_MIX["voluntary_organisation"] = ROLE_MIX["hospice"]

# Internal career steps that change staff group (DOMAIN: changing staff group makes a person
# a leaver from that staff group). Assistant to registered roles after training, clinicians
# into management.
PROMOTIONS: dict[str, str] = {
    "HEALTHCARE_ASSISTANT": "REGISTERED_NURSE",
    "NURSING_ASSOCIATE": "REGISTERED_NURSE",
    "MENTAL_HEALTH_SUPPORT_WORKER": "MENTAL_HEALTH_NURSE",
    "MATERNITY_SUPPORT_WORKER": "MIDWIFE",
    "SENIOR_NURSE": "MANAGER",
    "PHYSIOTHERAPIST": "MANAGER",
    "OCCUPATIONAL_THERAPIST": "MANAGER",
    "PARAMEDIC": "MANAGER",
    "HCA_PC": "PRACTICE_NURSE",
    "SENIOR_CARE_WORKER": "DEPUTY_MANAGER",
    "CARE_WORKER": "SENIOR_CARE_WORKER",
    "HOSPICE_HCA": "HOSPICE_NURSE",
    "HOSPICE_NURSE": "HOSPICE_MANAGER",
}

# Job titles that are not in the job title map: each should surface as an unmapped-title
# data-quality warning for its organisation (DOMAIN: never a silent "Other").
UNMAPPED_TITLES = (
    "Ward Host",
    "Discharge Coordinator",
    "Clinical Navigator",
    "Patient Flow Facilitator",
    "Bed Manager",
    "Wellbeing Champion",
    "Rotational Staff Nurse (Nights)",
    "Hub Practitioner",
)

# -- Leaving ------------------------------------------------------------------------------
# Annual leaver rates from organisations (NHS Digital: about 10-12% a year for NHS trusts;
# Skills for Care: about a quarter of the social care workforce leaves its employer each
# year). Primary care and hospices are a local assumption close to the NHS figure.
ANNUAL_LEAVER_RATE = {
    "NHS_TRUST": 0.105,
    "PRIMARY_CARE": 0.12,
    "SOCIAL_CARE": 0.24,
    "INDEPENDENT_VOLUNTARY": 0.12,
}
# Multipliers by age (older staff retire; the youngest move on more often).
AGE_LEAVE_MULTIPLIER = ((0, 25, 1.5), (25, 55, 1.0), (55, 60, 1.4), (60, 65, 3.5), (65, 150, 7.0))
FIXED_TERM_LEAVE_MULTIPLIER = 2.0

# Of leavers under 60, the share who go to another organisation of the same system (DOMAIN:
# a few percent of the workforce move within a system each year; 0.3 x ~11% = ~3%).
MOVE_SHARE = 0.3
# Of leavers who leave the system, the share who come back to the same organisation 2-10
# months later (local assumption; the "leaver who rejoins" case).
REJOIN_SHARE = 0.06
# Annual chance that someone in a role with a next step (PROMOTIONS) takes it (local
# assumption; most steps change staff group, e.g. healthcare assistant to registered nurse).
ANNUAL_PROMOTION_RATE = 0.05
# Workforce growth a year (NHS Digital: the NHS workforce grew 2-4% a year recently).
ANNUAL_GROWTH = 0.02

# Reasons for leaving, under 60 (NHS Digital reasons for leaving; "unknown" is common).
LEAVING_REASONS = {
    "VR_WORK_LIFE_BALANCE": 0.15,
    "VR_RELOCATION": 0.13,
    "VR_PROMOTION": 0.08,
    "VR_BETTER_REWARD": 0.05,
    "VR_HEALTH": 0.04,
    "VR_CARING": 0.04,
    "VR_EDUCATION": 0.03,
    "VR_LACK_OF_OPPORTUNITY": 0.03,
    "VR_INCOMPATIBLE_RELATIONSHIPS": 0.02,
    "VR_OTHER": 0.08,
    "DISMISSAL_CONDUCT": 0.02,
    "DISMISSAL_CAPABILITY": 0.01,
    "MUTUAL_AGREEMENT": 0.01,
    "REDUNDANCY": 0.005,
    "DEATH_IN_SERVICE": 0.005,
    "EMPLOYEE_TRANSFER": 0.01,
    "UNKNOWN": 0.19,
}
RETIREMENT_REASONS = {
    "RETIREMENT_AGE": 0.62,
    "RETIREMENT_FLEXI": 0.1,
    "RETIREMENT_ILL_HEALTH": 0.05,
    "UNKNOWN": 0.15,
    "VR_WORK_LIFE_BALANCE": 0.08,
}
MOVER_REASONS = {
    "VR_PROMOTION": 0.3,
    "VR_WORK_LIFE_BALANCE": 0.2,
    "VR_RELOCATION": 0.1,
    "VR_BETTER_REWARD": 0.1,
    "VR_LACK_OF_OPPORTUNITY": 0.05,
    "VR_OTHER": 0.07,
    "UNKNOWN": 0.18,
}
DESTINATION_KNOWN_SHARE = 0.55  # destinations are often not recorded
EXIT_DESTINATIONS = {
    "PRIVATE_HEALTH": 0.12,
    "OTHER_EMPLOYMENT": 0.25,
    "EDUCATION": 0.1,
    "NO_EMPLOYMENT": 0.2,
    "ABROAD": 0.1,
    "NHS_ORGANISATION": 0.23,
}

# -- People ------------------------------------------------------------------------------
# Ethnicity (NHS Digital: about a quarter of NHS staff are from Black and minority ethnic
# groups; not stated and not known together a few percent).
WHITE_CATEGORIES = {"A": 0.85, "B": 0.03, "C": 0.12}
BME_CATEGORIES = {
    "D": 0.04,
    "E": 0.04,
    "F": 0.04,
    "G": 0.04,
    "H": 0.24,
    "J": 0.08,
    "K": 0.04,
    "L": 0.1,
    "M": 0.06,
    "N": 0.17,
    "P": 0.03,
    "R": 0.03,
    "S": 0.05,
}
BME_SHARE = 0.25
NOT_STATED_SHARE = 0.03
NOT_KNOWN_SHARE = 0.015
# Of those not known, the share with the field empty rather than coded 99 (a local
# assumption, no published figure: it makes ethnic category's completeness below 1).
NOT_KNOWN_EMPTY_SHARE = 0.5
# Disability declared (NHS Digital / WDES: about 5% declared, many not declared).
DISABILITY = {"Y": 0.055, "N": 0.8, "U": 0.145}
# Ages 18-70 (NHS Digital age profile: mean about 43, about a fifth aged 55 and over; this
# Beta gives about 12% aged 55+, a known gap stated in docs/synthetic.md).
AGE_BETA = (2.2, 2.5)
JOINER_AGE_BETA = (1.6, 3.6)
MIN_AGE, MAX_AGE = 18, 70
MEAN_TENURE_YEARS = 8.0
# Part-time contracted hours a week (a spread around 22.5 and 30 hours).
PART_TIME_HOURS = {
    7.5: 0.05,
    11.25: 0.05,
    15.0: 0.12,
    18.75: 0.1,
    22.5: 0.25,
    26.25: 0.1,
    30.0: 0.25,
    33.75: 0.08,
}
# A few percent of people hold a second assignment: a bank post with no contracted hours at
# their own organisation, a second part-time post there, or a post at another organisation.
SECOND_ASSIGNMENT_SHARE = 0.05
SECOND_ASSIGNMENT_KINDS = {"bank_same_org": 0.55, "post_same_org": 0.25, "post_other_org": 0.2}
# Bank-only staff: people whose only assignment is a zero-hours bank contract (not staff in post).
BANK_ONLY_SHARE = 0.02

# -- Other extracts ---------------------------------------------------------------------
# Sickness absence about 5% of FTE days (NHS Digital monthly sickness rates 4.5-5.5%).
SHORT_TERM_MONTHLY_PROB = 0.26
SHORT_TERM_MEAN_DAYS = 3.2
LONG_TERM_ONSET_MONTHLY_PROB = 0.0075
LONG_TERM_MONTHS = (1, 7)
SHORT_TERM_REASONS = {
    "S13": 0.3,
    "S25": 0.2,
    "S10": 0.1,
    "S16": 0.07,
    "S12": 0.07,
    "S15": 0.06,
    "S21": 0.03,
    "S27": 0.03,
    "S98": 0.07,
    "S99": 0.07,
}
LONG_TERM_REASONS = {
    "S10": 0.38,
    "S12": 0.14,
    "S11": 0.1,
    "S17": 0.07,
    "S28": 0.08,
    "S19": 0.03,
    "S30": 0.03,
    "S98": 0.09,
    "S99": 0.08,
}
# Vacancy rate about 8% of establishment (NHS vacancy statistics: 7-9% recently).
VACANCY_RATE_MEAN = 0.08
VACANCY_RATE_SPREAD = 0.35  # log-normal spread across organisations and staff groups
# Temporary staffing covers part of the vacancy gap; agency is dearer than bank.
BANK_COVER = (0.35, 0.7)
AGENCY_COVER = (0.05, 0.25)
PRICE_CAP_OVERRIDE_SHARE = 0.15
HOURLY_RATE = {  # bank pounds an hour by staff group; agency is AGENCY_PREMIUM times that
    "HCHS_DOCTORS": 75.0,
    "GENERAL_PRACTITIONERS": 90.0,
    "NURSES_HV": 27.0,
    "MIDWIVES": 28.0,
    "AMBULANCE": 26.0,
    "STT": 28.0,
    "SUPPORT_DNM": 15.0,
    "SUPPORT_AMBULANCE": 15.0,
    "SUPPORT_STT": 15.0,
    "CARE_WORKERS": 13.0,
    "SOCIAL_WORKERS": 30.0,
    "CENTRAL_FUNCTIONS": 16.0,
    "HOTEL_PROPERTY_ESTATES": 13.5,
    "MANAGERS": 35.0,
    "SENIOR_MANAGERS": 60.0,
    "OTHER_UNKNOWN": 15.0,
}
AGENCY_PREMIUM = 1.7
OVERRIDE_PREMIUM = 1.5
SHIFT_HOURS = 11.5


@dataclass(frozen=True)
class Params:
    """Overridable knobs (the module constants are the defaults)."""

    annual_leaver_rate: dict = field(default_factory=lambda: dict(ANNUAL_LEAVER_RATE))
    move_share: float = MOVE_SHARE
    rejoin_share: float = REJOIN_SHARE
    annual_promotion_rate: float = ANNUAL_PROMOTION_RATE
    annual_growth: float = ANNUAL_GROWTH
    bme_share: float = BME_SHARE
    second_assignment_share: float = SECOND_ASSIGNMENT_SHARE
    bank_only_share: float = BANK_ONLY_SHARE
    vacancy_rate_mean: float = VACANCY_RATE_MEAN
    unmapped_title_share: float = 0.025
