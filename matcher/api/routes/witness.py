"""Witness API: the companies' witnesses of the access log (:mod:`matcher.actions.witness`).

``GET /v1/witness/checkpoint?from=N`` gives a witness the newest checkpoint and the RFC 9162
consistency proof from the size it cosigned last; ``POST /v1/witness/cosignatures`` takes its
cosignature/v1 line back; ``GET /v1/witness/cosigned`` is the newest cosigned checkpoint with
every cosignature (text/plain, a signed note), for ``matcher audit verify --cosigned``;
``POST /v1/companies/{company_id}/witnesses`` registers a company's witness key (operator).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from matcher.actions import witness
from matcher.api.deps import AppState, Conn, Principal, app_state, require
from matcher.core.vocabulary import Role
from matcher.store.database import MAX_ROW_ID, utcnow

__all__ = ["router"]

router = APIRouter(tags=["witness"])

State = Annotated[AppState, Depends(app_state)]


class WitnessViewOut(BaseModel):
    checkpoint: str
    from_size: int
    to_size: int
    proof: list[str]


class CosignatureIn(BaseModel):
    size: int = Field(ge=1, le=MAX_ROW_ID)
    cosignature: str = Field(min_length=1, max_length=1000)


class WitnessIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(min_length=1, max_length=2000)


class WitnessOut(BaseModel):
    company_id: str
    name: str


@router.get("/v1/witness/checkpoint")
def get_witness_checkpoint(
    principal: Annotated[Principal, Depends(require(Role.DATA_OFFICER, Role.AUDITOR))],
    conn: Conn,
    state: State,
    from_size: Annotated[int, Query(alias="from", ge=0, le=MAX_ROW_ID)] = 0,
) -> WitnessViewOut:
    """The newest checkpoint and the consistency proof from the tree of ``from`` entries."""
    every = timedelta(seconds=state.settings.witness_checkpoint_seconds)
    view = witness.checkpoint_for(conn, principal, state.settings, from_size, utcnow(), every)
    return WitnessViewOut(**{**asdict(view), "proof": list(view.proof)})


@router.post("/v1/witness/cosignatures", status_code=status.HTTP_201_CREATED)
def post_cosignature(
    body: CosignatureIn,
    principal: Annotated[Principal, Depends(require(Role.DATA_OFFICER))],
    conn: Conn,
    state: State,
) -> WitnessOut:
    """Keep a cosignature of the checkpoint of ``size`` by one of the company's witnesses."""
    found = witness.cosign(conn, principal, state.settings, body.size, body.cosignature, utcnow())
    return WitnessOut(company_id=found.company_id, name=found.name)


@router.get("/v1/witness/cosigned", response_class=PlainTextResponse)
def get_cosigned(
    principal: Annotated[Principal, Depends(require(Role.AUDITOR, Role.ADMIN, Role.DATA_OFFICER))],
    conn: Conn,
    state: State,
) -> PlainTextResponse:
    """The newest cosigned checkpoint with every witness's cosignature line."""
    note = witness.cosigned(conn, principal, state.settings, utcnow())
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.post("/v1/companies/{company_id}/witnesses", status_code=status.HTTP_201_CREATED)
def post_witness(
    company_id: Annotated[str, Path(max_length=64)],
    body: WitnessIn,
    principal: Annotated[Principal, Depends(require(Role.ADMIN))],
    conn: Conn,
) -> WitnessOut:
    """Register a witness key of company ``company_id``."""
    found = witness.add_witness(conn, principal, utcnow(), company_id, body.name, body.public_key)
    return WitnessOut(company_id=found.company_id, name=found.name)
