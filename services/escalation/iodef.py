"""Referrals as JSON-IODEF documents (RFC 8727): built, validated against the schema, parsed.

One IODEF-Document holding one Incident; which element carries what is set out
in services/escalation/referrals.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import jsonschema  # type: ignore[import-untyped]
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from services.escalation.errors import InvalidReferral
from shared.contracts import TLP, Category, ConsentPurpose, Priority, RequesterRole

DATA = Path(__file__).parent / "data"
SCHEMA_PATH = DATA / "rfc8727-schema.json"
RSIT_PATH = DATA / "rsit.json"
FORMAT_ID = "sanad-referral/1"
JWS_TYPE = "iodef+json"
STATUS_JWS_TYPE = "sanad-referral-status+json"

_SEVERITY = {Priority.P1: "high", Priority.P2: "high", Priority.P3: "medium", Priority.P4: "low"}
_TLP1 = {"white": TLP.clear, "green": TLP.green, "amber": TLP.amber, "red": TLP.red}
_ESCALATION_ACTION = "platform-escalation"
_BOOLEAN = {"true": True, "false": False}


class SchemaValidator(Protocol):
    """What is used of a jsonschema validator (jsonschema ships no type hints)."""

    def iter_errors(self, instance: Any) -> Iterator[Any]: ...


@dataclass(frozen=True)
class RsitClass:
    klass: str
    type: str

    @property
    def machine_tag(self) -> str:
        return f'rsit:{self.klass}="{self.type}"'


@dataclass(frozen=True)
class Rsit:
    url: str
    classes: Mapping[Category, RsitClass]


def load_rsit(path: Path = RSIT_PATH) -> Rsit:
    """The category-to-RSIT map; a category without a class stops the service at start."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    classes = {Category(k): RsitClass(v["class"], v["type"]) for k, v in raw["classes"].items()}
    missing = [c.value for c in Category if c not in classes]
    if missing:
        raise ValueError(f"{path}: no RSIT class for {', '.join(missing)}")
    return Rsit(url=str(raw["url"]), classes=classes)


def load_validator(path: Path = SCHEMA_PATH) -> SchemaValidator:
    """RFC 8727's schema as a draft-04 validator (the schema itself fails the metaschema)."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator: SchemaValidator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    return validator


@dataclass(frozen=True)
class EscalationLine:
    """An escalation made for the case, as the partner reads it (no content references)."""

    platform: str
    action: str
    state: str
    at: datetime

    @property
    def text(self) -> str:
        return f"{self.platform} {self.action}: {self.state}"


@dataclass(frozen=True)
class OutboundReferral:
    """Everything a referral document says."""

    referral_id: uuid.UUID
    helpline_id: str
    helpline_name: str
    created_at: datetime
    tlp: TLP
    category: Category
    priority: Priority
    physical_risk: bool
    requester_role: RequesterRole
    country: str | None
    languages: Sequence[str]
    consents: Mapping[ConsentPurpose, bool]
    summary: str
    ask: str
    actions_taken: Sequence[str]
    escalations: Sequence[EscalationLine]
    # (channel, contact), only when the person's consent allows it.
    contact: tuple[str, str] | None


def _extension(meaning: str, value: str, dtype: str = "string") -> dict[str, str]:
    return {"meaning": meaning, "dtype": dtype, "value": value}


def build_document(
    referral: OutboundReferral, *, rsit: Rsit, generated_at: datetime
) -> dict[str, Any]:
    """The JSON-IODEF document of `referral`, dated `generated_at` (the time it is signed)."""
    r = referral
    person = [
        _extension("requester-role", r.requester_role.value),
        _extension("languages", ",".join(r.languages), "csv"),
        _extension(
            "consents",
            json.dumps({k.value: v for k, v in sorted(r.consents.items())}, sort_keys=True),
            "json",
        ),
    ]
    if r.country:
        person.append(_extension("country", r.country))
    if r.contact is not None:
        channel, contact = r.contact
        person.append(
            _extension("safe-contact", json.dumps({"channel": channel, "contact": contact}), "json")
        )
    history = [
        {"action": "remediate-other", "DateTime": r.created_at.isoformat(), "Description": [text]}
        for text in r.actions_taken
    ] + [
        {
            "action": "ext-value",
            "ext-action": _ESCALATION_ACTION,
            "DateTime": e.at.isoformat(),
            "Description": [e.text],
        }
        for e in r.escalations
    ]
    klass = rsit.classes[r.category]
    incident: dict[str, Any] = {
        "purpose": "mitigation",
        "status": "new",
        "restriction": "ext-value",
        "ext-restriction": r.tlp.value,
        "IncidentID": {"id": str(r.referral_id), "name": r.helpline_id},
        "ReportTime": r.created_at.isoformat(),
        "GenerationTime": generated_at.isoformat(),
        "Description": [r.summary],
        "Assessment": [
            {
                "occurrence": "actual",
                "IncidentCategory": [r.category.value],
                "Impact": [
                    {"BusinessImpact": {"type": "unknown", "severity": _SEVERITY[r.priority]}}
                ],
                "AdditionalData": [
                    _extension("priority", r.priority.value),
                    _extension("physical-risk", "true" if r.physical_risk else "false", "boolean"),
                ],
            }
        ],
        "Method": [
            {"Reference": [{"URL": [rsit.url], "Description": [klass.machine_tag]}]},
        ],
        "Contact": [
            {"type": "organization", "role": "creator", "ContactName": [r.helpline_name]},
            {"type": "person", "role": "victim", "AdditionalData": person},
        ],
        "EventData": [{"Expectation": [{"action": "other", "Description": [r.ask]}]}],
    }
    if history:
        incident["History"] = {"HistoryItem": history}
    return {"version": "2.0", "lang": "en", "format-id": FORMAT_ID, "Incident": [incident]}


# --- parsing ------------------------------------------------------------------------

PartnerId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class SafeContact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    channel: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    contact: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class InboundReferral(BaseModel):
    """What this helpline takes from a partner's referral document, each part bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referral_id: uuid.UUID
    sender: PartnerId
    tlp: TLP
    created_at: AwareDatetime | None
    generated_at: AwareDatetime
    summary: Annotated[str, StringConstraints(min_length=1, max_length=8000)]
    ask: Annotated[str, StringConstraints(max_length=2000)] | None
    category: Category
    priority: Priority
    physical_risk: bool
    requester_role: RequesterRole
    country: Country | None
    languages: tuple[Language, ...] = Field(max_length=10)
    consents: dict[ConsentPurpose, bool]
    actions_taken: tuple[Annotated[str, StringConstraints(max_length=1000)], ...] = Field(
        max_length=60
    )
    contact: SafeContact | None


class _Missing(Exception):
    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _at(obj: Any, *path: str | int) -> Any:
    here = obj
    for step in path:
        try:
            here = here[step]
        except (KeyError, IndexError, TypeError):
            raise _Missing(".".join(map(str, path))) from None
    return here


def _text(value: Any) -> Any:
    """An MLStringType's text (a string, or an object with `value`)."""
    return value.get("value") if isinstance(value, dict) else value


def _extensions(items: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("meaning"), str):
            found.setdefault(item["meaning"], item.get("value"))
    return found


def _json_field(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    return json.loads(value)


def _tlp(incident: dict[str, Any]) -> Any:
    restriction = incident.get("restriction")
    if restriction == "ext-value":
        return incident.get("ext-restriction")
    if isinstance(restriction, str):
        return _TLP1.get(restriction)
    return None


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    incidents = _at(doc, "Incident")
    if not isinstance(incidents, list) or len(incidents) != 1:
        raise _Missing("Incident (exactly one)")
    incident = incidents[0]
    assessment = _at(incident, "Assessment", 0)
    scores = _extensions(assessment.get("AdditionalData"))
    victim = next(
        (c for c in _at(incident, "Contact") if isinstance(c, dict) and c.get("role") == "victim"),
        None,
    )
    if victim is None:
        raise _Missing("Incident.Contact (role victim)")
    person = _extensions(victim.get("AdditionalData"))
    languages = person.get("languages")
    items = _at(incident, "History", "HistoryItem") if "History" in incident else []
    actions = [
        (
            f"platform escalation: {_text(_at(item, 'Description', 0))}"
            if item.get("ext-action") == _ESCALATION_ACTION
            else _text(_at(item, "Description", 0))
        )
        for item in items
        if isinstance(item, dict)
    ]
    expectation = _at(incident, "EventData", 0, "Expectation", 0) if "EventData" in incident else {}
    ask = _text(_at(expectation, "Description", 0)) if expectation.get("Description") else None
    physical = scores.get("physical-risk")
    return {
        "referral_id": _at(incident, "IncidentID", "id"),
        "sender": _at(incident, "IncidentID", "name"),
        "tlp": _tlp(incident),
        "created_at": incident.get("ReportTime"),
        "generated_at": _at(incident, "GenerationTime"),
        "summary": _text(_at(incident, "Description", 0)),
        "ask": ask,
        "category": _at(assessment, "IncidentCategory", 0),
        "priority": scores.get("priority"),
        "physical_risk": _BOOLEAN.get(physical) if isinstance(physical, str) else physical,
        "requester_role": person.get("requester-role", RequesterRole.unknown.value),
        "country": person.get("country"),
        "languages": tuple(languages.split(","))
        if isinstance(languages, str) and languages
        else (),
        "consents": _json_field(person.get("consents")),
        "actions_taken": tuple(actions),
        "contact": _json_field(person.get("safe-contact")),
    }


def parse_document(payload: bytes, validator: SchemaValidator) -> InboundReferral:
    """A verified payload as a referral; a defect raises InvalidReferral (where, never what)."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidReferral("The payload is not JSON.") from None
    if not isinstance(doc, dict):
        raise InvalidReferral("The payload is not a JSON-IODEF document.")
    try:
        error = next(iter(validator.iter_errors(doc)), None)
    except RecursionError:
        raise InvalidReferral("The document is nested too deeply.") from None
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(document)"
        # The path and the rule only: the message would quote the person's text.
        raise InvalidReferral(
            f"The document does not follow RFC 8727 at {where} ({error.validator}).",
            errors=[{"loc": where, "type": str(error.validator)}],
        )
    try:
        return InboundReferral.model_validate(_fields(doc))
    except _Missing as exc:
        raise InvalidReferral(f"The referral lacks {exc.where}.") from None
    except (ValueError, TypeError, RecursionError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        locs = [{"loc": ".".join(map(str, e["loc"])), "type": e["type"]} for e in errors]
        raise InvalidReferral("The referral's fields are not valid.", errors=locs) from None


# --- status updates -----------------------------------------------------------------


class StatusUpdate(BaseModel):
    """What the receiving helpline signs when it accepts, declines or closes a referral."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referral_id: uuid.UUID
    helpline: PartnerId
    state: Annotated[str, StringConstraints(pattern=r"^(accepted|declined|closed)$")]
    changed_at: AwareDatetime
    generated_at: AwareDatetime


def parse_status(payload: bytes) -> StatusUpdate:
    """A verified payload as a status update, or InvalidReferral."""
    try:
        return StatusUpdate.model_validate_json(payload)
    except ValidationError as exc:
        locs = [{"loc": ".".join(map(str, e["loc"])), "type": e["type"]} for e in exc.errors()]
        raise InvalidReferral("The status update is not valid.", errors=locs) from None
