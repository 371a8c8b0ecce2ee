"""Domain defaults with their sources. Every value here can be overridden in the scenario file.

Where a number is a planning assumption rather than a published figure, it says so: planners should replace it
with local incident statistics.
"""

from __future__ import annotations

# --- Incidents at installations ---------------------------------------------------------------------------
# Incidents needing a response (fires, leaks, releases; not only catastrophic loss of containment) per
# installation-year. ASSUMPTION: the ranking process unit > tank farm > loading station > warehouse follows the
# relative loss-of-containment frequencies per item in the TNO "Purple Book" (CPR 18E, Guidelines for
# quantitative risk assessment, 2005); the absolute level (about one call per installation-year) is a planning
# assumption of rescuesim, set so that a park of ten installations sees calls every month or so.
INSTALLATION_INCIDENTS_PER_YR: dict[str, float] = {
    "process_unit": 1.2,
    "tank_farm": 0.8,
    "loading_station": 0.6,
    "warehouse": 0.4,
    "other": 0.3,
}

# Multiplier by the park's safety-risk grade (化工园区安全风险排查治理导则(试行), 应急〔2019〕78号: A high,
# B fairly high, C general, D low). ASSUMPTION: the grades are ordinal; the factors are rescuesim's choice.
RISK_GRADE_MULTIPLIER: dict[str, float] = {"A": 2.0, "B": 1.5, "C": 1.0, "D": 0.6}

# Multiplier by major-hazard-source level (GB 18218-2018 危险化学品重大危险源辨识; level 1 is the gravest).
# ASSUMPTION: factors are rescuesim's choice; installations that are not a major hazard source use 1.0.
HAZARD_SOURCE_LEVEL_MULTIPLIER: dict[int, float] = {1: 1.6, 2: 1.3, 3: 1.15, 4: 1.0}

# --- Pipelines ---------------------------------------------------------------------------------------------
# EGIG 11th report (2020): gas transmission failure frequency 0.29 per 1000 km-yr over 1970-2019, 0.13 over
# 2010-2019; CONCAWE reports about 0.1-0.2 spills per 1000 km-yr for European oil pipelines.
PIPELINE_FAILURES_PER_1000KM_YR = 0.3
# High-consequence areas (GB 32167-2015 油气输送管道完整性管理规范) see more third-party damage and a graver
# consequence; ASSUMPTION: twice the failure rate inside an HCA unless the scenario says otherwise.
HCA_RATE_MULTIPLIER = 2.0
# Off-road approach to a pipeline site (on foot with equipment or off-road vehicle). ASSUMPTION.
OFFROAD_KPH = 8.0
# Last stretch from the road node to an installation (internal plant roads). ASSUMPTION.
ACCESS_KPH = 15.0

# --- Everyday calls ---------------------------------------------------------------------------------------
# Fire and rescue stations answer far more everyday calls than hazardous-chemical incidents, and with the same
# engines. Order of magnitude: London Fire Brigade's 102 stations attend about 100,000 incidents a year (LFB
# incident records, london.gov.uk), about 1,000 per station; a busy urban station answers a thousand calls a year.
# The national statistics of China's fire and rescue service count fires, emergency rescue (road accidents,
# technical rescue) and social assistance as the main call kinds. Types, shares, plans and on-scene times below are
# ASSUMPTIONS for a planning study: replace them with the local call records (a replay file calibrates them).
EVERYDAY_INCIDENT_TYPES: dict[str, dict] = {
    "building_fire": {
        "severity": {1: 0.95, 2: 0.05},
        "on_scene_min": {"lognormal": {"median": 40, "p90": 110}},
    },
    "small_fire": {  # vehicle, rubbish, grass: one engine
        "severity": {1: 1.0},
        "on_scene_min": {"lognormal": {"median": 20, "p90": 45}},
    },
    "road_accident": {
        "severity": {1: 0.9, 2: 0.1},
        "on_scene_min": {"lognormal": {"median": 35, "p90": 80}},
    },
    "technical_rescue": {  # trapped persons, lifts, water, heights
        "severity": {1: 0.9, 2: 0.1},
        "on_scene_min": {"lognormal": {"median": 45, "p90": 120}},
    },
    "social_assistance": {  # lock-outs, animals, pumping out, alarms
        "severity": {1: 1.0},
        "on_scene_min": {"lognormal": {"median": 25, "p90": 60}},
    },
}
EVERYDAY_MIX: dict[str, float] = {
    "building_fire": 0.15,
    "small_fire": 0.20,
    "road_accident": 0.20,
    "technical_rescue": 0.15,
    "social_assistance": 0.30,
}
EVERYDAY_RESPONSE_PLANS: dict[str, dict[int, dict[str, int]]] = {
    "building_fire": {1: {"engine": 2}, 2: {"engine": 3, "aerial": 1}},
    "small_fire": {1: {"engine": 1}},
    "road_accident": {1: {"engine": 1}, 2: {"engine": 2, "heavy_rescue": 1}},
    "technical_rescue": {1: {"engine": 1}, 2: {"engine": 1, "heavy_rescue": 1}},
    "social_assistance": {1: {"engine": 1}},
}
# From the road node to the door of an everyday call (street, yard, stairs). ASSUMPTION.
EVERYDAY_ACCESS_KPH = 10.0

# --- Incident types ----------------------------------------------------------------------------------------
# Severity levels follow the State Council accident grades 一般 / 较大 / 重大 / 特别重大 (levels 1-4,
# 生产安全事故报告和调查处理条例, 2007). Shares and on-scene times are ASSUMPTIONS for a planning study.
SEVERITY_NAMES: dict[int, str] = {1: "一般", 2: "较大", 3: "重大", 4: "特别重大"}

DEFAULT_INCIDENT_TYPES: dict[str, dict] = {
    "fire": {
        "severity": {1: 0.80, 2: 0.15, 3: 0.04, 4: 0.01},
        "on_scene_min": {"lognormal": {"median": 60, "p90": 180}},
        "escalation_min": {"lognormal": {"median": 15, "p90": 30}},
    },
    "explosion": {
        "severity": {1: 0.50, 2: 0.30, 3: 0.15, 4: 0.05},
        "on_scene_min": {"lognormal": {"median": 150, "p90": 480}},
        "escalation_min": {"lognormal": {"median": 10, "p90": 20}},
    },
    "toxic_release": {
        "severity": {1: 0.70, 2: 0.20, 3: 0.08, 4: 0.02},
        "on_scene_min": {"lognormal": {"median": 90, "p90": 240}},
        "escalation_min": {"lognormal": {"median": 12, "p90": 25}},
    },
    "leak_spill": {
        "severity": {1: 0.85, 2: 0.12, 3: 0.03},
        "on_scene_min": {"lognormal": {"median": 45, "p90": 120}},
        "escalation_min": {"lognormal": {"median": 20, "p90": 40}},
    },
    "pipeline_rupture": {
        "severity": {1: 0.60, 2: 0.25, 3: 0.12, 4: 0.03},
        "on_scene_min": {"lognormal": {"median": 180, "p90": 600}},
        "escalation_min": {"lognormal": {"median": 20, "p90": 45}},
    },
} | EVERYDAY_INCIDENT_TYPES

# Which incident types arise at which kind of source, with relative weights. ASSUMPTION guided by the
# accident-type shares reported for Chinese hazardous-chemical accidents (fire and explosion about half,
# leaks and poisoning most of the rest; e.g. Zhang & Zheng, J Hazard Mater 2012).
DEFAULT_INCIDENT_MIX: dict[str, dict[str, float]] = {
    "tank_farm": {"fire": 0.45, "leak_spill": 0.35, "explosion": 0.10, "toxic_release": 0.10},
    "process_unit": {"fire": 0.40, "explosion": 0.20, "toxic_release": 0.20, "leak_spill": 0.20},
    "warehouse": {"fire": 0.60, "toxic_release": 0.20, "leak_spill": 0.20},
    "loading_station": {"leak_spill": 0.50, "fire": 0.35, "explosion": 0.15},
    "other": {"fire": 0.6, "leak_spill": 0.4},
    "site": {"fire": 1.0},
    "pipeline": {"leak_spill": 0.6, "pipeline_rupture": 0.3, "fire": 0.1},
    "everyday": EVERYDAY_MIX,
}

# The plan of an incident type with no plan of its own (scenario field default_response_plan). ASSUMPTION: the
# smallest first-alarm assignment, one engine; replace with the local dispatch plan.
DEFAULT_FALLBACK_PLAN: dict[str, int] = {"engine": 1}

# Units sent per incident type and level. ASSUMPTION modelled on graded response in Chinese fire-rescue
# practice (more stations and vehicles at each response level); override per scenario.
DEFAULT_RESPONSE_PLANS: dict[str, dict[int, dict[str, int]]] = {
    "fire": {
        1: {"engine": 2},
        2: {"engine": 3, "foam": 1},
        3: {"engine": 4, "foam": 2, "hazmat": 1},
        4: {"engine": 6, "foam": 3, "hazmat": 1, "command": 1},
    },
    "explosion": {
        1: {"engine": 2, "hazmat": 1},
        2: {"engine": 3, "foam": 1, "hazmat": 1},
        3: {"engine": 4, "foam": 2, "hazmat": 1, "heavy_rescue": 1},
        4: {"engine": 6, "foam": 3, "hazmat": 2, "heavy_rescue": 1, "command": 1},
    },
    "toxic_release": {
        1: {"hazmat": 1, "engine": 1},
        2: {"hazmat": 1, "engine": 2, "decon": 1},
        3: {"hazmat": 2, "engine": 2, "decon": 1},
        4: {"hazmat": 2, "engine": 4, "decon": 1, "command": 1},
    },
    "leak_spill": {
        1: {"hazmat": 1},
        2: {"hazmat": 1, "engine": 1},
        3: {"hazmat": 2, "engine": 2, "foam": 1},
        4: {"hazmat": 2, "engine": 3, "foam": 2, "command": 1},
    },
    "pipeline_rupture": {
        1: {"engine": 1, "hazmat": 1},
        2: {"engine": 2, "hazmat": 1},
        3: {"engine": 3, "foam": 1, "hazmat": 2},
        4: {"engine": 4, "foam": 2, "hazmat": 2, "command": 1},
    },
} | EVERYDAY_RESPONSE_PLANS

# --- Forces ------------------------------------------------------------------------------------------------
UNIT_TYPES = ("engine", "foam", "hazmat", "aerial", "decon", "command", "heavy_rescue", "water_tanker")
BASE_KINDS = ("career_station", "special_service", "enterprise_team", "hazchem_team", "regional_base")

# Turnout (dispatch order to wheels rolling), minutes. Career stations: NFPA 1710 (2020) 4.1.2.1 sets 80 s for
# fire and special operations; China's 执勤战斗条令 asks for leaving within 1 minute of the alarm. Other kinds are
# ASSUMPTIONS (enterprise teams on shift inside the park are fastest; regional bases need to assemble).
DEFAULT_TURNOUT_MIN: dict[str, dict] = {
    "career_station": {"triangular": {"low": 0.75, "mode": 1.0, "high": 1.6}},
    "special_service": {"triangular": {"low": 0.75, "mode": 1.0, "high": 1.6}},
    "enterprise_team": {"triangular": {"low": 0.5, "mode": 0.8, "high": 1.5}},
    "hazchem_team": {"triangular": {"low": 1.0, "mode": 1.5, "high": 3.0}},
    "regional_base": {"triangular": {"low": 2.0, "mode": 3.0, "high": 6.0}},
}

# --- Dispatch: move-up ------------------------------------------------------------------------------------
# Move-up (relocation) fills a station left empty by a large incident with a company from another station:
# Kolesar & Walker (1974), An algorithm for the dynamic relocation of fire companies, Operations Research 22(2),
# 249-274 (the New York City Fire Department's practice: relocate when a region is left without nearby companies);
# Gendreau, Laporte & Semet (2001) for ambulances. ASSUMPTION: a district empty for 10 minutes gets a cover unit
# (long enough that a short call does not trigger a move); replace with the local relocation rule.
MOVE_UP_AFTER_MIN = 10.0

# --- Drills and readiness ------------------------------------------------------------------------------------
# Units producing, storing or carrying hazardous chemicals must drill their emergency plans at least once every
# half year (生产安全事故应急条例, State Council decree 708, 2019, art. 8).
STATUTORY_DRILL_INTERVAL_DAYS = 182.0
# Half of a trained gain is lost after about 6.5-13 months (Arthur et al. 1998, Human Performance 11:57-101,
# meta-analysis of skill decay); 300 days sits in that range.
HALF_LIFE_DAYS = 300.0
# Fraction of the proficiency gap a drill closes, by kind. ASSUMPTION ordered by realism of the exercise.
DRILL_GAIN: dict[str, float] = {"tabletop": 0.3, "functional": 0.6, "full_scale": 0.9}
