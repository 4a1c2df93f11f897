"""Referrals sent and received per partner, their outcomes and time to acceptance."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.reporting import repository, service
from services.reporting.config import ReportingSettings
from services.reporting.tests.events import (
    SEALED_DETAILS,
    fold,
    referral_received,
    referral_sent,
    referral_updated,
)
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import Envelope, ReferralDirection, ReferralState
from shared.db import transaction
from shared.messaging.consumer import PermanentError
from shared.testing.events import RECEIVED_AT
from shared.testing.fixtures import Auth

MIN, DAY = timedelta(minutes=1), timedelta(days=1)
FIRST_DAY = RECEIVED_AT.date()


def sent(
    partner: str, n: int, *, day: int = 0, accepted_after: list[int] | None = None
) -> list[Envelope]:
    """`n` referrals to `partner` on a day; the first ones accepted after the given minutes."""
    events: list[Envelope] = []
    for i in range(n):
        r = uuid.uuid4()
        at = day * DAY + 10 * MIN
        events.append(referral_sent(r, partner=partner, after=at))
        if accepted_after is not None and i < len(accepted_after):
            events.append(
                referral_updated(
                    r,
                    partner=partner,
                    to=ReferralState.accepted,
                    after=at + accepted_after[i] * MIN,
                )
            )
    return events


def received(partner: str, n: int, *, day: int = 0) -> list[Envelope]:
    return [
        referral_received(uuid.uuid4(), partner=partner, after=day * DAY + 3 * MIN)
        for _ in range(n)
    ]


async def get(client: httpx.AsyncClient, auth: Auth, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers=await auth(Scope.analyst))


async def test_referrals_sent_and_received_per_partner_within_a_date_range(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await fold(
        runtime, [*sent("partner-a", 6), *received("partner-b", 7), *sent("partner-b", 5, day=10)]
    )

    first_day = (
        await get(client, auth, "/v1/reports/referrals", **{"from": FIRST_DAY, "to": FIRST_DAY})
    ).json()
    everything = (await get(client, auth, "/v1/reports/referrals")).json()

    assert first_day["cells"] == {
        "partner-a": {"sent": 6, "received": 0},
        "partner-b": {"sent": 0, "received": 7},
    }
    assert first_day["total"] == 13
    assert everything["cells"]["partner-b"] == {"sent": 5, "received": 7}
    assert everything["value_totals"] == {"sent": 11, "received": 7}


async def test_a_small_partner_is_hidden_and_so_is_what_would_reveal_it(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await fold(runtime, [*sent("partner-a", 6), *received("partner-b", 7), *sent("partner-c", 2)])

    body = (await get(client, auth, "/v1/reports/referrals")).json()

    assert body["cells"]["partner-c"]["sent"] == "<5"
    assert body["period_totals"]["partner-c"] in ("<5", "x")
    # Complementary: the "sent" column and partner-c's row each hide a second cell, so
    # neither subtracts the small one out of its total.
    column = [body["cells"][p]["sent"] for p in body["periods"]] + [body["value_totals"]["sent"]]
    row = [*body["cells"]["partner-c"].values(), body["period_totals"]["partner-c"]]
    assert sum(not isinstance(c, int) for c in column) >= 2
    assert sum(not isinstance(c, int) for c in row) >= 2
    assert "x" in {c for r in body["cells"].values() for c in r.values()} | {
        *body["period_totals"].values(),
        *body["value_totals"].values(),
    }


async def test_outcomes_are_where_each_referral_stands_now(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    ids = [uuid.uuid4() for _ in range(9)]
    events: list[Envelope] = [referral_sent(r, after=10 * MIN) for r in ids[:8]]
    events += [referral_updated(r, to=ReferralState.accepted, after=60 * MIN) for r in ids[:7]]
    # One accepted and then closed: closed now, accepted once (its time still counts).
    events.append(referral_updated(ids[0], to=ReferralState.closed, after=5 * DAY))
    # Withdrawn before it ever reached the partner: no "sent", but an outcome on its day.
    events.append(
        referral_updated(
            ids[8], to=ReferralState.withdrawn, from_state=ReferralState.pending, after=20 * MIN
        )
    )
    await fold(runtime, events)

    outcomes = (await get(client, auth, "/v1/reports/referrals/outcomes/sent")).json()
    partners = (await get(client, auth, "/v1/reports/referrals")).json()
    acceptance = (await get(client, auth, "/v1/reports/referrals/acceptance/sent")).json()
    inbound = (await get(client, auth, "/v1/reports/referrals/outcomes/received")).json()

    assert outcomes["values"] == ["open", "accepted", "declined", "closed", "withdrawn"]
    # accepted 6, closed 1, open 1, withdrawn 1 of 9: with 6 shown, the three "<5" would
    # add up to 3 and so be 1 each; the 6 is withheld too.
    assert outcomes["cells"]["partner-a"] == {
        "open": "<5",
        "accepted": "x",
        "declined": 0,
        "closed": "<5",
        "withdrawn": "<5",
    }
    assert outcomes["period_totals"]["partner-a"] == 9
    assert partners["cells"]["partner-a"]["sent"] == 8
    assert acceptance["count"] == {"partner-a": 7}
    assert acceptance["p50_minutes"] == {"partner-a": 60}
    assert inbound["periods"] == []


async def test_time_to_acceptance_per_partner_in_both_directions(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    inbound = [uuid.uuid4() for _ in range(5)]
    await fold(
        runtime,
        [
            *sent("partner-a", 5, accepted_after=[20, 25, 50, 100, 200]),
            *sent("partner-b", 6, accepted_after=[10, 10]),
            *(referral_received(r, partner="partner-c", after=0 * MIN) for r in inbound),
            *(
                referral_updated(
                    r,
                    partner="partner-c",
                    direction=ReferralDirection.inbound,
                    to=ReferralState.accepted,
                    after=(30 + 60 * i) * MIN,
                    from_state=ReferralState.pending,
                )
                for i, r in enumerate(inbound)
            ),
        ],
    )

    out = (await get(client, auth, "/v1/reports/referrals/acceptance/sent")).json()
    into = (await get(client, auth, "/v1/reports/referrals/acceptance/received")).json()

    # Two accepted of partner-b: "<5", and partner-a's count withheld so that it cannot be
    # subtracted from the total of acceptances.
    assert out["count"] == {"partner-a": "x", "partner-b": "<5"}
    assert (out["p50_minutes"], out["p90_minutes"]) == (
        {"partner-a": 60, "partner-b": None},
        {"partner-a": 240, "partner-b": None},
    )
    assert into["count"] == {"partner-c": 5}
    assert into["p50_minutes"] == {"partner-c": 240}


def history(seed: int) -> list[Envelope]:
    """Referrals of three partners in both directions, with every kind of update."""
    rng = random.Random(seed)
    events: list[Envelope] = []
    states = [ReferralState.accepted, ReferralState.declined, ReferralState.closed]
    for i in range(40):
        r, partner = uuid.uuid4(), f"partner-{'abc'[i % 3]}"
        outbound = i % 2 == 0
        after = (i % 9) * DAY + rng.randint(0, 600) * MIN
        if outbound:
            events.append(referral_sent(r, partner=partner, after=after))
        else:
            events.append(referral_received(r, partner=partner, after=after))
        direction = ReferralDirection.outbound if outbound else ReferralDirection.inbound
        for step, state in enumerate(states[: i % 4]):
            events.append(
                referral_updated(
                    r,
                    partner=partner,
                    direction=direction,
                    to=state,
                    after=after + (step + 1) * 97 * MIN,
                )
            )
    return events


async def referral_figures(runtime: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with runtime.sessions() as session:
        out["partners"] = (
            await service.referrals(session=session, first=None, last=None, threshold=5)
        ).model_dump()
        for d in ("sent", "received"):
            out[f"outcomes:{d}"] = (
                await service.referral_outcomes(
                    session=session, direction=d, first=None, last=None, threshold=5
                )
            ).model_dump()
            out[f"acceptance:{d}"] = (
                await service.referral_acceptance(
                    session=session, direction=d, first=None, last=None, threshold=5
                )
            ).model_dump()
        out["series"] = (
            await service.series(
                session=session,
                dimension="referrals",
                first=None,
                last=None,
                granularity="day",
                threshold=5,
            )
        ).model_dump()
    return out


async def test_the_fold_is_idempotent_and_order_independent(runtime: Runtime) -> None:
    events = history(1)
    await fold(runtime, events)
    in_order = await referral_figures(runtime)

    async with transaction(runtime.writer_sessions) as session:
        await repository.clear_read_model(session)
    shuffled = list(events)
    random.Random(2).shuffle(shuffled)
    await fold(runtime, shuffled, batch=7)
    await fold(runtime, shuffled[:25], batch=4)  # redelivered

    assert await referral_figures(runtime) == in_order
    assert in_order["partners"]["value_totals"] == {"sent": 20, "received": 20}


async def test_the_sealed_details_of_a_received_referral_are_never_kept(
    runtime: Runtime, settings: ReportingSettings
) -> None:
    await fold(runtime, received("partner-a", 3))

    db = Path(settings.database_url.split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in db.parent.glob(f"{db.name}*"))
    assert SEALED_DETAILS.encode() not in stored
    assert b"partner-a" in stored  # the check reads the right files


async def test_a_partner_id_too_long_to_count_is_refused_for_good(runtime: Runtime) -> None:
    with pytest.raises(PermanentError):
        await fold(runtime, [referral_sent(uuid.uuid4(), partner="p" * 65, after=MIN)])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/reports/referrals",
        "/v1/reports/referrals/outcomes/sent",
        "/v1/reports/referrals/acceptance/sent",
        "/v1/reports/series/referrals",
        "/v1/reports/series/referral_sent",
    ],
)
async def test_referral_csv_parses_back_to_the_json(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth, path: str
) -> None:
    await fold(
        runtime,
        [
            *sent("partner-a", 7, accepted_after=[30] * 6),
            *sent("partner-b", 3),
            *received("partner-b", 9),
        ],
    )

    as_json = (await get(client, auth, path)).json()
    response = await get(client, auth, path, format="csv")

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    if "periods" in as_json:
        assert [r[0] for r in rows[1:-1]] == as_json["periods"]
        for row in rows[1:-1]:
            assert row[1 : 1 + len(as_json["values"])] == [
                str(as_json["cells"][row[0]][v]) for v in as_json["values"]
            ]
        assert rows[-1][1 : 1 + len(as_json["values"])] == [
            str(as_json["value_totals"][v]) for v in as_json["values"]
        ]
    else:
        assert {r[0]: r[1] for r in rows[1:]} == {k: str(v) for k, v in as_json["count"].items()}
        assert {r[0]: r[2] for r in rows[1:]} == {
            k: "" if v is None else str(v) for k, v in as_json["p50_minutes"].items()
        }


async def test_an_unknown_direction_is_a_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await get(client, auth, "/v1/reports/referrals/outcomes/sideways")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
