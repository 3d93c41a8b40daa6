"""Request handlers of the HubSpot sandbox (the aiohttp wiring is in ``sandbox``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from connectors.hubspot.sandbox_store import (
    TYPE_ALIASES,
    TYPE_BY_ASSOCIATION,
    HubSpotStore,
    TokenStore,
    now_iso,
)

CATEGORY_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def hubspot_error(status: int, message: str, category: str, **extra: Any) -> web.Response:
    return web.json_response(error_body(status, message, category, **extra), status=status)


def rate_limit_response(policy: str, retry_after: float | None = None) -> web.Response:
    message = {
        "DAILY": "You have reached your daily limit.",
        "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    }.get(policy, "You have reached your secondly limit.")
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return web.json_response(
        {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        },
        status=429,
        headers=headers,
    )


def injected_error(status: int, retry_after: float | None) -> web.Response:
    """Faults injected through the shared controls, in HubSpot's shapes."""
    if status == 429:
        return rate_limit_response("SECONDLY", retry_after)
    category = CATEGORY_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    response = hubspot_error(status, f"sandbox injected HTTP {status}", category)
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def object_type_of(raw: str) -> str | None:
    return TYPE_ALIASES.get(raw.lower())


def _batch_response(status_ok: int, results: list[dict], errors: list[dict]) -> web.Response:
    stamp = now_iso()
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
        "requestedAt": stamp,
    }
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return web.json_response(body, status=207 if errors else status_ok)


def _item_error(
    category: str, message: str, context: Mapping[str, list[str]], status: str = "error"
) -> dict[str, Any]:
    return {
        "status": status,
        "category": category,
        "message": message,
        "context": dict(context),
        "errors": [],
        "links": {},
    }


class HubSpotSandbox:
    """Request handlers over one store (kept apart from the aiohttp wiring)."""

    def __init__(self, store: HubSpotStore, tokens: TokenStore) -> None:
        self.store = store
        self.tokens = tokens

    def _validation(
        self, object_type: str, inputs: Iterable[Mapping[str, Any]]
    ) -> web.Response | None:
        problems = [
            p
            for i in inputs
            for p in self.store.property_problems(object_type, i.get("properties") or {})
        ]
        if not problems:
            return None
        names = sorted({n for p in problems for n in p["context"]["propertyName"]})
        return hubspot_error(
            400,
            f"Property values were not valid: {problems}",
            "VALIDATION_ERROR",
            errors=problems,
            context={"propertyName": names},
        )

    def _injected(self, object_type: str, key: str) -> dict[str, Any] | None:
        hit = self.store.failing.get((object_type, key))
        if hit is None:
            return None
        status, category = hit
        return _item_error(category, f"sandbox refused input {key}", {"ids": [key]}, str(status))

    async def upsert(self, request: web.Request, object_type: str, body: dict) -> web.Response:
        inputs = body["inputs"]
        if (bad := self._validation(object_type, inputs)) is not None:
            return bad
        results, errors = [], []
        for item in inputs:
            prop, key = item.get("idProperty"), str(item["id"])
            if (injected := self._injected(object_type, key)) is not None:
                errors.append(injected)
                continue
            with self.store.lock:
                if prop and prop not in self.store.unique.get(object_type, set()):
                    return hubspot_error(
                        400,
                        f"{prop} is not a unique property of {object_type}",
                        "VALIDATION_ERROR",
                        context={"propertyName": [prop]},
                    )
                existing = (
                    self.store.find(object_type, prop, key)
                    if prop
                    else [r]
                    if (r := self.store.get(object_type, key))
                    else []
                )
                if existing:
                    record = self.store.update(object_type, existing[0]["id"], item["properties"])
                    new = False
                elif prop:
                    record = self.store.create(object_type, {**item["properties"], prop: key})
                    new = True
                else:
                    errors.append(_item_error("OBJECT_NOT_FOUND", "no such object", {"ids": [key]}))
                    continue
            results.append({**_public(record), "new": new, **_trace(item)})
        return _batch_response(200, results, errors)

    async def create_batch(
        self, request: web.Request, object_type: str, body: dict
    ) -> web.Response:
        inputs = body["inputs"]
        if (bad := self._validation(object_type, inputs)) is not None:
            return bad
        with self.store.lock:
            conflict = self._unique_conflicts(object_type, inputs)
            if conflict is not None:
                return conflict
            if (bad := self._association_problems(object_type, inputs)) is not None:
                return bad
            results, errors = [], []
            for item in inputs:
                keys = [
                    str(v)
                    for k, v in item["properties"].items()
                    if k in self.store.unique.get(object_type, set())
                ]
                injected = next(filter(None, (self._injected(object_type, k) for k in keys)), None)
                if injected is not None:
                    errors.append(injected)
                    continue
                record = self.store.create(object_type, item["properties"])
                for assoc in item.get("associations") or []:
                    to_type = _assoc_target(assoc)
                    if to_type is not None:
                        self.store.associate(object_type, record["id"], to_type, assoc["to"]["id"])
                results.append({**_public(record), **_trace(item)})
        return _batch_response(201, results, errors)

    def _unique_conflicts(self, object_type: str, inputs: Sequence[Mapping]) -> web.Response | None:
        seen: dict[tuple[str, str], int] = {}
        existing_ids: list[str] = []
        for item in inputs:
            for prop in self.store.unique.get(object_type, set()):
                value = (item.get("properties") or {}).get(prop)
                if value is None:
                    continue
                hits = self.store.find(object_type, prop, str(value))
                if hits or (prop, str(value)) in seen:
                    existing_ids.extend(h["id"] for h in hits)
                seen[(prop, str(value))] = seen.get((prop, str(value)), 0) + 1
        dupes = [k for k, n in seen.items() if n > 1]
        if existing_ids or dupes:
            return hubspot_error(
                409,
                f"{len(existing_ids) + len(dupes)} input(s) hold a unique value that "
                f"already exists. Existing IDs: {existing_ids}",
                "CONFLICT",
                context={"existingIds": existing_ids},
            )
        return None

    def _association_problems(
        self, object_type: str, inputs: Sequence[Mapping]
    ) -> web.Response | None:
        for item in inputs:
            for assoc in item.get("associations") or []:
                to_type = _assoc_target(assoc)
                to_id = str(assoc["to"]["id"])
                if to_type is None or self.store.get(to_type, to_id) is None:
                    return hubspot_error(
                        400,
                        "One or more associations are invalid",
                        "VALIDATION_ERROR",
                        subCategory="crm.associations.INVALID_OBJECT_IDS",
                        context={"toObjectId": [to_id]},
                    )
        return None

    async def update_batch(
        self, request: web.Request, object_type: str, body: dict
    ) -> web.Response:
        inputs = body["inputs"]
        ids = [str(i["id"]) for i in inputs]
        if len(set(ids)) != len(ids):
            return hubspot_error(400, "Duplicate IDs found in batch input", "VALIDATION_ERROR")
        if (bad := self._validation(object_type, inputs)) is not None:
            return bad
        results, missing, errors = [], [], []
        for item in inputs:
            key = str(item["id"])
            if (injected := self._injected(object_type, key)) is not None:
                errors.append(injected)
            elif self.store.get(object_type, key) is None:
                missing.append(key)
            else:
                results.append(_public(self.store.update(object_type, key, item["properties"])))
        if missing:
            errors.append(
                _item_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {object_type.upper()} objects, they may "
                    "be deleted or not exist. Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return _batch_response(200, results, errors)

    async def search(self, request: web.Request, object_type: str, body: dict) -> web.Response:
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters", [])) > 6 for g in groups):
            return hubspot_error(400, "Too many filter groups or filters", "VALIDATION_ERROR")
        limit = int(body.get("limit") or 10)
        if limit > 200:
            return hubspot_error(400, "limit must be at most 200", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        found = self.store.search(object_type, groups)
        wanted = set(body.get("properties") or []) | {
            "hs_object_id",
            "hs_createdate",
            "hs_lastmodifieddate",
        }
        page = found[after : after + limit]
        data: dict[str, Any] = {
            "total": len(found),
            "results": [
                {
                    **_public(r),
                    "properties": {k: v for k, v in r["properties"].items() if k in wanted},
                }
                for r in page
            ],
        }
        if after + limit < len(found):
            data["paging"] = {"next": {"after": str(after + limit)}}
        return web.json_response(data)

    async def associate_batch(
        self, request: web.Request, from_type: str, to_type: str, body: dict
    ) -> web.Response:
        results, errors = [], []
        for item in body["inputs"]:
            from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
            type_id = self.store.associate(from_type, from_id, to_type, to_id)
            if type_id is None:
                errors.append(
                    _item_error(
                        "VALIDATION_ERROR",
                        f"{from_type} {from_id} or {to_type} {to_id} is not valid",
                        {"fromObjectId": [from_id], "toObjectId": [to_id]},
                    )
                )
                continue
            results.append(
                {
                    "from": {"id": from_id},
                    "to": {"id": to_id},
                    "associationSpec": {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": type_id,
                    },
                }
            )
        return _batch_response(200, results, errors)


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "properties": dict(record["properties"]),
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": record["archived"],
    }


def _trace(item: Mapping[str, Any]) -> dict[str, Any]:
    trace = item.get("objectWriteTraceId")
    return {"objectWriteTraceId": trace} if trace is not None else {}


def _assoc_target(assoc: Mapping[str, Any]) -> str | None:
    for spec in assoc.get("types") or []:
        pair = TYPE_BY_ASSOCIATION.get(int(spec.get("associationTypeId", -1)))
        if pair is not None:
            return pair[1]
    return None
