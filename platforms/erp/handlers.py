"""HTTP face of the ERP sandbox: SAP Gateway's URL grammar, Basic auth and the CSRF handshake.

Every service root under ``/sap/opu/odata/sap/<SERVICE>/`` is served by one reader (``GET``)
and one writer (``POST``, ``PATCH``) that parse the OData resource path themselves
(``A_Set``, ``A_Set(key)``, ``A_Set(key)/to_Nav``, function imports), because SAP's key
predicates are not path segments a router understands.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any, cast

import msgspec
from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath

from platforms.erp import business
from platforms.erp.docs import responses
from platforms.erp.model import ENTITY_SETS, SERVICES
from platforms.erp.odata import (
    MAX_PAGE,
    ODATA_ROOT,
    EntitySet,
    Nav,
    ODataError,
    decode_entity,
    format_key,
    literal,
    parse_key,
    parse_query,
    render,
    store_id,
)
from platforms.kit.app import SandboxState
from platforms.kit.bodies import BodyError, parse_json

__all__ = ["CsrfTokens", "erp_routes"]

Sandbox = NamedDependency[SandboxState]
JSON = "application/json"
REALM = 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'
_RESOURCE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>.*)\))?(?:/(?P<nav>[A-Za-z_][A-Za-z0-9_]*))?$")
_PATCHABLE = {
    "A_BusinessPartner",
    "A_Supplier",
    "A_SupplierCompany",
    "A_FiscalPeriod",
    "A_CostCenter",
    "A_GLAccountInChartOfAccounts",
}


class CsrfTokens:
    """CSRF tokens per user, as SAP Gateway hands them out on ``x-csrf-token: Fetch``."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def fetch(self, user: str) -> str:
        """The user's current token (a new one after :meth:`rotate`)."""
        return self._tokens.setdefault(user, secrets.token_urlsafe(18))

    def valid(self, user: str, token: str | None) -> bool:
        """Whether ``token`` is the user's current token."""
        current = self._tokens.get(user)
        return current is not None and token is not None and hmac.compare_digest(current, token)

    def rotate(self) -> None:
        """Forget every token (a session timeout): writers must fetch again."""
        self._tokens.clear()


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=JSON,
        headers={"dataserviceversion": "2.0", **(headers or {})},
    )


def _error(exc: ODataError, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(content=exc.body(), status_code=exc.status, media_type=JSON, headers=dict(headers or {}))


def _user(request: Request[Any, Any, Any], sandbox: SandboxState) -> str:
    """The Basic-auth user of the request; raises 401 unless it is the configured one."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        config = sandbox.config
        if hmac.compare_digest(user.encode(), config.username.encode()) and hmac.compare_digest(
            password.encode(), config.password.encode()
        ):
            return user
    raise ODataError(401, "Logon failed: user or password is not valid", "/IWFND/CM_CONSUMER/101")


def _service(name: str) -> Mapping[str, EntitySet]:
    service = SERVICES.get(name)
    if service is None:
        raise ODataError(404, f"No service found for namespace '', name '{name}', version '0001'", "/IWFND/MED/170")
    return service


def _entity(service: Mapping[str, EntitySet], name: str) -> EntitySet:
    entity = service.get(name)
    if entity is None:
        raise ODataError(404, f"Resource not found for segment '{name}'", "/IWBEP/CM_MGW_RT/020")
    return entity


def _base(request: Request[Any, Any, Any], service: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{ODATA_ROOT}/{service}"


class _Related:
    """Finds the targets of navigation properties, indexing each target collection once per request."""

    def __init__(self, sandbox: SandboxState) -> None:
        self.store = sandbox.store
        self.index: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], list[dict[str, Any]]]] = {}

    def __call__(self, entity: EntitySet, nav: Nav, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        target_keys = tuple(t for _, t in nav.join)
        key = (nav.target, target_keys)
        if key not in self.index:
            table: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
            for child in self.store.all(ENTITY_SETS[nav.target].collection):
                table.setdefault(tuple(child.get(t) for t in target_keys), []).append(child)
            self.index[key] = table
        wanted = tuple(doc.get(s) for s, _ in nav.join)
        if any(value in (None, "") for value in wanted):
            return []
        return self.index[key].get(wanted, [])


def _sort_key(entity: EntitySet) -> Any:
    def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple("" if doc.get(k) is None else doc.get(k) for k in entity.keys)

    return key


def _collection(
    request: Request[Any, Any, Any],
    sandbox: SandboxState,
    entity: EntitySet,
    docs: list[dict[str, Any]],
    base: str,
    params: Mapping[str, str],
) -> Response[bytes]:
    options = parse_query(entity, params)
    if options.filter is not None:
        docs = [doc for doc in docs if options.filter(doc)]
    docs.sort(key=_sort_key(entity))
    for name, descending in reversed(options.orderby):
        docs.sort(
            key=lambda d, n=name: (d.get(n) is not None, d.get(n) if d.get(n) is not None else ""),  # type: ignore[misc]
            reverse=descending,
        )
    total = len(docs)
    limit = MAX_PAGE if options.top is None else min(options.top, MAX_PAGE)
    page = docs[options.skip : options.skip + limit]
    related = _Related(sandbox)
    body: dict[str, Any] = {
        "results": [
            render(
                entity,
                doc,
                base,
                expand=options.expand,
                select=options.select,
                related=related,
                entity_sets=ENTITY_SETS,
            )
            for doc in page
        ]
    }
    if options.inlinecount:
        body["__count"] = str(total)
    shown = options.skip + len(page)
    if shown < total and (options.top is None or options.top > MAX_PAGE):
        query = "&".join(f"{k}={v}" for k, v in params.items() if k not in ("$skip", "$skiptoken"))
        body["__next"] = f"{base}/{entity.name}?{query + '&' if query else ''}$skiptoken={shown}"
    return _json({"d": body})


def _single(
    sandbox: SandboxState,
    entity: EntitySet,
    doc: dict[str, Any],
    base: str,
    params: Mapping[str, str],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    options = parse_query(entity, {k: v for k, v in params.items() if k in ("$expand", "$select")})
    body = render(
        entity,
        doc,
        base,
        expand=options.expand,
        select=options.select,
        related=_Related(sandbox),
        entity_sets=ENTITY_SETS,
    )
    etag = body["__metadata"].get("etag")
    return _json({"d": body}, status, {**({"etag": etag} if etag else {}), **(headers or {})})


def _find(sandbox: SandboxState, entity: EntitySet, key_text: str) -> dict[str, Any]:
    key = parse_key(entity, key_text)
    doc = sandbox.store.get(entity.collection, store_id(entity, key))
    if doc is None:
        raise ODataError(404, f"Resource not found for segment '{entity.name}Type'", "/IWBEP/CM_MGW_RT/020")
    return doc


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return dict(request.query_params.items())


def _function_params(params: Mapping[str, str], *names: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        if name in params:
            values[name] = literal(params[name])
    return values


def erp_routes(tokens: CsrfTokens) -> list[HTTPRouteHandler]:
    """The ERP's OData handlers, sharing one CSRF token registry.

    Args:
        tokens: Where issued CSRF tokens live (one registry per sandbox app).
    """

    def read(
        request: Request[Any, Any, Any], sandbox: SandboxState, service_name: str, resource: str
    ) -> Response[bytes]:
        headers: dict[str, str] = {}
        try:
            user = _user(request, sandbox)
            if request.headers.get("x-csrf-token", "").lower() == "fetch":
                headers["x-csrf-token"] = tokens.fetch(user)
            service = _service(service_name)
            base = _base(request, service_name)
            resource = resource.strip("/")
            params = _params(request)
            if resource in ("", "$metadata"):
                if resource == "$metadata":
                    return Response(
                        content=_metadata(service_name, service).encode(), media_type="application/xml", headers=headers
                    )
                return _json({"d": {"EntitySets": list(service)}}, headers=headers)
            match = _RESOURCE.match(resource)
            if match is None:
                raise ODataError(400, f"Invalid URI segment '{resource}'", "/IWBEP/CM_MGW_RT/022")
            entity = _entity(service, match["name"])
            if match["key"] is None:
                if match["nav"]:
                    raise ODataError(400, f"Invalid URI segment '{resource}'", "/IWBEP/CM_MGW_RT/022")
                response = _collection(request, sandbox, entity, sandbox.store.all(entity.collection), base, params)
            else:
                doc = _find(sandbox, entity, match["key"])
                if match["nav"]:
                    nav = entity.navs.get(match["nav"])
                    if nav is None:
                        raise ODataError(
                            404, f"Resource not found for segment '{match['nav']}'", "/IWBEP/CM_MGW_RT/020"
                        )
                    target = ENTITY_SETS[nav.target]
                    children = _Related(sandbox)(entity, nav, doc)
                    if nav.many:
                        response = _collection(request, sandbox, target, children, base, params)
                    elif children:
                        response = _single(sandbox, target, children[0], base, params)
                    else:
                        response = _json({"d": None})
                else:
                    response = _single(sandbox, entity, doc, base, params)
            response.headers.update(headers)
            return response
        except ODataError as exc:
            if exc.status == 401:
                headers["www-authenticate"] = REALM
            return _error(exc, headers)

    reads = responses({200: "The OData answer: an entity, a collection (`results`) or null."}, errors=(
        400, 401, 404, 429, 500, 503,
    ))

    @get(ODATA_ROOT + "/{service_name:str}", sync_to_thread=False, responses=reads)
    def service_root(request: Request[Any, Any, Any], sandbox: Sandbox, service_name: FromPath[str]) -> Response[bytes]:
        """The service document (the usual target of a CSRF token fetch)."""
        return read(request, sandbox, service_name, "")

    @get(
        ODATA_ROOT + "/{service_name:str}/$metadata",
        sync_to_thread=False,
        media_type="application/xml",
        responses={
            **responses({}, errors=(401, 404, 429, 500, 503)),
            200: ResponseSpec(str, description="The service's EDMX document.", media_type="application/xml"),
        },
    )
    def metadata(request: Request[Any, Any, Any], sandbox: Sandbox, service_name: FromPath[str]) -> Response[bytes]:
        """The service's entity types and sets (EDMX)."""
        return read(request, sandbox, service_name, "$metadata")

    @get(ODATA_ROOT + "/{service_name:str}/{resource:path}", sync_to_thread=False, responses=reads)
    def read_resource(
        request: Request[Any, Any, Any], sandbox: Sandbox, service_name: FromPath[str], resource: FromPath[str]
    ) -> Response[bytes]:
        """Collections, single entities, navigation properties and ``$metadata``."""
        return read(request, sandbox, service_name, resource)

    async def _authorised_body(request: Request[Any, Any, Any], sandbox: SandboxState) -> tuple[str, Any]:
        user = _user(request, sandbox)
        if not tokens.valid(user, request.headers.get("x-csrf-token")):
            raise ODataError(403, "CSRF token validation failed", "/IWFND/CM_BEC/026")
        raw = await request.body()
        try:
            return user, parse_json(raw) if raw else None
        except BodyError as error:  # not JSON, or nested too deeply to read
            raise ODataError(400, f"The request body is {error.problem}", "/IWBEP/CM_MGW_RT/004") from None

    @post(
        ODATA_ROOT + "/{service_name:str}/{resource:path}",
        responses=responses(
            {201: "The created entity (deep insert).", 200: "The entity a function import changed."},
            errors=(400, 401, 403, 404, 429, 500, 501, 503),
        ),
    )
    async def write_resource(
        request: Request[Any, Any, Any],
        sandbox: Sandbox,
        service_name: FromPath[str],
        resource: FromPath[str],
    ) -> Response[bytes]:
        """Creates (deep inserts) and function imports."""
        try:
            user, payload = await _authorised_body(request, sandbox)
            service = _service(service_name)
            base = _base(request, service_name)
            name = resource.strip("/")
            params = _params(request)
            store = sandbox.store
            if name in ("Post", "Cancel") and service_name == "API_SUPPLIERINVOICE_PROCESS_SRV":
                args = _function_params(params, "SupplierInvoice", "FiscalYear", "PostingDate", "ReversalReason")
                if not args.get("SupplierInvoice") or not args.get("FiscalYear"):
                    raise ODataError(
                        400, "Parameters SupplierInvoice and FiscalYear are required", "/IWBEP/CM_MGW_RT/022"
                    )
                if name == "Post":
                    doc = business.post_supplier_invoice(store, str(args["SupplierInvoice"]), str(args["FiscalYear"]))
                    sandbox.emit(
                        "sap.s4.beh.supplierinvoice.v1.SupplierInvoice.Posted.v1",
                        {"SupplierInvoice": doc["SupplierInvoice"], "FiscalYear": doc["FiscalYear"]},
                    )
                else:
                    doc = business.cancel_supplier_invoice(
                        store,
                        str(args["SupplierInvoice"]),
                        str(args["FiscalYear"]),
                        args.get("PostingDate"),
                        str(args.get("ReversalReason") or "01"),
                    )
                    sandbox.emit(
                        "sap.s4.beh.supplierinvoice.v1.SupplierInvoice.Cancelled.v1",
                        {"SupplierInvoice": doc["SupplierInvoice"], "FiscalYear": doc["FiscalYear"]},
                    )
                return _single(
                    sandbox,
                    ENTITY_SETS["A_SupplierInvoice"],
                    doc,
                    base,
                    {"$expand": "to_SupplierInvoiceItemGLAcct,to_SupplierInvoiceTax"},
                )
            if name == "Reverse" and service_name == "API_JOURNALENTRY_POST_SRV":
                args = _function_params(
                    params, "AccountingDocument", "CompanyCode", "FiscalYear", "PostingDate", "ReversalReason"
                )
                if not all(args.get(k) for k in ("AccountingDocument", "CompanyCode", "FiscalYear")):
                    raise ODataError(
                        400,
                        "Parameters AccountingDocument, CompanyCode and FiscalYear are required",
                        "/IWBEP/CM_MGW_RT/022",
                    )
                doc = business.reverse_journal_entry(
                    store,
                    str(args["AccountingDocument"]),
                    str(args["CompanyCode"]),
                    str(args["FiscalYear"]),
                    args.get("PostingDate"),
                    str(args.get("ReversalReason") or "01"),
                    user,
                )
                return _single(sandbox, ENTITY_SETS["A_JournalEntry"], doc, base, {"$expand": "to_JournalEntryItem"})
            entity = _entity(service, name)
            creators = {
                "A_BusinessPartner": (
                    business.create_business_partner,
                    "to_BusinessPartnerBank,to_BusinessPartnerTax,to_BusinessPartnerAddress,"
                    "to_Supplier/to_SupplierCompany",
                    "sap.s4.beh.businesspartner.v1.BusinessPartner.Created.v1",
                ),
                "A_SupplierInvoice": (
                    business.create_supplier_invoice,
                    "to_SupplierInvoiceItemGLAcct,to_SupplierInvoiceTax",
                    "sap.s4.beh.supplierinvoice.v1.SupplierInvoice.Created.v1",
                ),
                "A_JournalEntry": (
                    business.create_journal_entry,
                    "to_JournalEntryItem",
                    "sap.s4.beh.journalentry.v1.JournalEntry.Created.v1",
                ),
                "A_OutgoingPayment": (
                    business.create_payment,
                    "",
                    "sap.s4.beh.outgoingpayment.v1.OutgoingPayment.Created.v1",
                ),
            }
            if entity.name not in creators:
                raise ODataError(
                    501,
                    f"Method '{entity.name}_CREATE_ENTITY' not implemented in data provider class",
                    "/IWBEP/CM_MGW_RT/021",
                )
            create, expand, event = creators[entity.name]
            doc = create(store, payload, user)
            sandbox.emit(event, {key: doc[key] for key in entity.keys})
            location = f"{base}/{entity.name}({format_key(entity, doc)})"
            return _single(
                sandbox,
                entity,
                doc,
                base,
                {"$expand": expand} if expand else {},
                status=201,
                headers={"location": location},
            )
        except ODataError as exc:
            return _error(
                exc,
                {"www-authenticate": REALM}
                if exc.status == 401
                else {"x-csrf-token": "Required"}
                if exc.status == 403
                else None,
            )

    @patch(
        ODATA_ROOT + "/{service_name:str}/{resource:path}",
        status_code=204,
        responses={
            **responses({}, errors=(400, 401, 403, 404, 412, 429, 500, 501, 503)),
            204: ResponseSpec(None, description="The changes were merged."),
        },
    )
    async def update_resource(
        request: Request[Any, Any, Any],
        sandbox: Sandbox,
        service_name: FromPath[str],
        resource: FromPath[str],
    ) -> Response[None]:
        """Merge changes into an entity (``If-Match`` checked when given)."""
        try:
            _, payload = await _authorised_body(request, sandbox)
            service = _service(service_name)
            match = _RESOURCE.match(resource.strip("/"))
            if match is None or match["key"] is None or match["nav"]:
                raise ODataError(400, f"Invalid URI segment '{resource}'", "/IWBEP/CM_MGW_RT/022")
            entity = _entity(service, match["name"])
            if entity.name not in _PATCHABLE:
                raise ODataError(
                    501,
                    f"Method '{entity.name}_UPDATE_ENTITY' not implemented in data provider class",
                    "/IWBEP/CM_MGW_RT/021",
                )
            doc = _find(sandbox, entity, match["key"])
            if_match = request.headers.get("if-match")
            if if_match and if_match != "*" and "_etag" in doc and doc["_etag"] not in if_match:
                raise ODataError(
                    412, "Precondition failed: the entity was changed by someone else", "/IWBEP/CM_MGW_RT/075"
                )
            changes, _ = decode_entity(entity, payload)
            for key in entity.keys:
                if key in changes and changes[key] != doc[key]:
                    raise ODataError(400, f"Key property {key} cannot be changed", "/IWBEP/CM_MGW_RT/004")
            doc.update(changes)
            if "_etag" in doc:
                doc["_etag"] = secrets.token_hex(8)
            business.put(sandbox.store, entity, doc)
            return Response(content=None, status_code=204, headers={"dataserviceversion": "2.0"})
        except ODataError as exc:
            headers = {"www-authenticate": REALM} if exc.status == 401 else {}
            if exc.status == 403:
                headers["x-csrf-token"] = "Required"
            # Litestar lets a 204 handler be annotated only as bodiless; errors still carry a body.
            return cast("Response[None]", _error(exc, headers))

    @post("/_sandbox/csrf/rotate", status_code=204, sync_to_thread=False, include_in_schema=False)
    def rotate_tokens() -> None:
        """Invalidate every CSRF token, as a session timeout would (for tests of the refetch)."""
        tokens.rotate()

    return [service_root, metadata, read_resource, write_resource, update_resource, rotate_tokens]


def _metadata(service_name: str, service: Mapping[str, EntitySet]) -> str:
    """A compact EDMX document describing the service's entity types and sets."""
    types = []
    sets = []
    for entity in service.values():
        keys = "".join(f'<PropertyRef Name="{k}"/>' for k in entity.keys)
        props = "".join(
            f'<Property Name="{n}" Type="{p.type}"'
            + (f' MaxLength="{p.max_length}"' if p.max_length else "")
            + (' Precision="23" Scale="3"' if p.type == "Edm.Decimal" else "")
            + (' Nullable="false"' if n in entity.keys else "")
            + "/>"
            for n, p in entity.props.items()
        )
        navs = "".join(f'<NavigationProperty Name="{n}" ToEntitySet="{nav.target}"/>' for n, nav in entity.navs.items())
        types.append(f'<EntityType Name="{entity.name}Type"><Key>{keys}</Key>{props}{navs}</EntityType>')
        sets.append(f'<EntitySet Name="{entity.name}" EntityType="{service_name}.{entity.name}Type"/>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
        '<edmx:DataServices m:DataServiceVersion="2.0">'
        f'<Schema Namespace="{service_name}" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
        + "".join(types)
        + f'<EntityContainer Name="{service_name}_Entities" m:IsDefaultEntityContainer="true">'
        + "".join(sets)
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
