"""Enumerations of contract v1, with values exactly as ../shared/contract.md spells them."""

from __future__ import annotations

from enum import StrEnum


class ReferrerKind(StrEnum):
    PROFESSIONAL = "professional"
    SELF = "self"
    PUBLIC_THIRD_PARTY = "public_third_party"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    NON_BINARY = "non_binary"
    OTHER = "other"
    NOT_STATED = "not_stated"


class ContactMethod(StrEnum):
    PHONE = "phone"
    TEXT = "text"
    EMAIL = "email"
    VIA_REFERRER = "via_referrer"


class Relationship(StrEnum):
    STRANGER = "stranger"
    ACQUAINTANCE = "acquaintance"
    COLLEAGUE = "colleague"
    NEIGHBOUR = "neighbour"
    ONLINE_CONTACT = "online_contact"
    CURRENT_PARTNER = "current_partner"
    EX_PARTNER = "ex_partner"
    FAMILY_MEMBER = "family_member"
    OTHER = "other"
    UNKNOWN = "unknown"


class Behaviour(StrEnum):
    FOLLOWING = "following"
    LOITERING = "loitering"
    UNWANTED_CONTACT = "unwanted_contact"
    ONLINE = "online"
    GIFTS = "gifts"
    PROPERTY_DAMAGE = "property_damage"
    SURVEILLANCE = "surveillance"
    THIRD_PARTY_CONTACT = "third_party_contact"
    THREATS_OF_VIOLENCE = "threats_of_violence"
    VIOLENCE = "violence"
    OTHER = "other"


class RiskLevel(StrEnum):
    STANDARD = "standard"
    MEDIUM = "medium"
    HIGH = "high"


class Pathway(StrEnum):
    STALKING_ADVOCACY = "stalking_advocacy"
    YOUTH_JOINT_WORKING = "youth_joint_working"
    DOMESTIC_ABUSE_SERVICES = "domestic_abuse_services"
    OUT_OF_AREA = "out_of_area"
    TRIAGE = "triage"


class Provider(StrEnum):
    NWA = "nwa"
    JUNO = "juno"
    EQUATION = "equation"


class Priority(StrEnum):
    URGENT = "urgent"
    STANDARD = "standard"


class NotifyParty(StrEnum):
    NOTTS_POLICE = "notts_police"
    CITY_CHILDRENS_SOCIAL_CARE = "city_childrens_social_care"
    COUNTY_CHILDRENS_SOCIAL_CARE = "county_childrens_social_care"


class Area(StrEnum):
    NOTTINGHAM_CITY = "nottingham_city"
    NOTTINGHAMSHIRE_COUNTY = "nottinghamshire_county"
    OUTSIDE = "outside"
    UNKNOWN = "unknown"


class ResponseStatus(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONTACTED = "contacted"
