"""`/graphql` over HTTP: graphql-server's Flask view, with the caller authenticated and
rate-limited before anything runs, documents prepared once per query text, and errors
stripped of internals. A caller has at most `GATEWAY_MAX_IN_FLIGHT` requests in flight
in each process: the next is refused with 429 at once, never queued.

Auth rule for reads: in production every request needs a valid bearer token (401
otherwise). In development a request without a token runs as an anonymous caller who may
read public data (leaderboards, the badge catalogue, visible profiles), so that the
`curl` printed by `make run` and GraphiQL work without one; `me`, `enps` and mutations
still need a token. A token that is present but invalid is refused in every mode."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from flask import Request, Response, request
from graphql import ExecutionResult
from graphql.language import OperationType
from graphql_server.exceptions import InvalidOperationTypeError
from graphql_server.flask.views import GraphQLView
from graphql_server.http import GraphQLHTTPResponse, GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from graphql_server.http.sync_base_view import SyncHTTPRequestAdapter
from prometheus_client import Counter

from cercle_common.envelope import MAX_JSON_DEPTH, check_json_value
from cercle_common.errors import InfrastructureError, MalformedRequest, Unauthorized
from gateway.auth import Caller, TokenVerifier, bearer_token
from gateway.context import RequestContext
from gateway.execution import GraphQLRuntime
from gateway.limits import IN_FLIGHT_RETRY_AFTER_S, MAX_BODY_BYTES, InFlightLimiter, RateLimiter
from gateway.ports import Services

log = logging.getLogger(__name__)

LANGUAGES = ["en", "fr"]
RATE_LIMITED = Counter(
    "cercle_gateway_rate_limited_total", "Requests refused with 429 by the per-caller limit"
)
IN_FLIGHT_REFUSED = Counter(
    "cercle_gateway_in_flight_refused_total",
    "Requests refused with 429: their caller had too many in flight in this process",
)


class GatewayView(GraphQLView):
    """The GraphQL endpoint of the gateway."""

    methods: ClassVar[list[str]] = ["GET", "POST"]

    def __init__(
        self,
        runtime: GraphQLRuntime,
        services: Services,
        verifier: TokenVerifier,
        limiter: RateLimiter,
        in_flight: InFlightLimiter,
    ) -> None:
        super().__init__(
            schema=runtime.schema,
            graphql_ide=None if runtime.production else "graphiql",
            allow_queries_via_get=True,
        )
        self.runtime = runtime
        self.services = services
        self.verifier = verifier
        self.limiter = limiter
        self.in_flight = in_flight

    def dispatch_request(self) -> Response:  # type: ignore[override]
        try:
            caller = self._caller()
        except Unauthorized as error:
            return _error_response(
                401,
                error.message,
                "UNAUTHENTICATED",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if caller is None and self.runtime.production:
            return _error_response(
                401, "a bearer token is required", "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"}
            )
        subject = f"employee:{caller.employee_id}" if caller else f"ip:{request.remote_addr}"
        decision = self.limiter.hit(subject)
        limit_headers = {
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            RATE_LIMITED.inc()
            return _error_response(
                429,
                f"too many requests: at most {decision.limit} per minute",
                "RATE_LIMITED",
                {**limit_headers, "Retry-After": str(decision.retry_after_s)},
            )
        if not self.in_flight.enter(subject):
            IN_FLIGHT_REFUSED.inc()
            return _error_response(
                429,
                f"too many requests in flight: at most {self.in_flight.limit} at a time"
                " per caller; send the next one when one has been answered",
                "RATE_LIMITED",
                {**limit_headers, "Retry-After": str(IN_FLIGHT_RETRY_AFTER_S)},
            )
        try:
            return self._serve(caller, limit_headers)
        finally:
            self.in_flight.leave(subject)

    def _serve(self, caller: Caller | None, limit_headers: dict[str, str]) -> Response:
        """The answer to a request let through: its caller known, within its limits."""
        try:
            request.get_data(cache=True).decode("utf-8")
        except UnicodeDecodeError as error:
            return _error_response(
                400, f"the body is not UTF-8 (byte {error.start})", "BAD_REQUEST"
            )
        lang = request.accept_languages.best_match(LANGUAGES, default="en") or "en"
        context = RequestContext(self.services, caller, lang)
        if caller is not None and not caller.is_admin and not _still_works_here(context, caller):
            return _error_response(
                401,
                "this token's employee is not an active member of the directory",
                "UNAUTHENTICATED",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            response = self.run(request=request, context=context)  # type: ignore[arg-type]
        except HTTPException as error:
            return _error_response(error.status_code, error.reason, "BAD_REQUEST")
        if isinstance(response, str):  # the GraphiQL page
            response = Response(response, content_type="text/html; charset=utf-8")
        response.headers.update(limit_headers)
        return response

    def _caller(self) -> Caller | None:
        token = bearer_token(request.headers.get("Authorization"))
        return None if token is None else self.verifier.verify(token)

    def decode_json(self, data: str | bytes) -> object:
        """The body (or the `variables` of a GET) as JSON, refused with a 400 when it is
        nested too deeply or holds a lone surrogate: never a 500 later (a body that is not
        UTF-8 is refused before)."""
        try:
            value = json.loads(data)
            check_json_value(value)
        except RecursionError as error:
            raise HTTPException(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from error
        except MalformedRequest as error:
            raise HTTPException(400, error.message) from error
        except json.JSONDecodeError:
            raise  # graphql-server answers it with a 400 of its own
        except ValueError as error:
            # Python refuses to read an integer of more than 4,300 digits (a plain
            # ValueError, which graphql-server would let through as a 500).
            raise HTTPException(400, "a number has more than 4300 digits") from error
        return value

    def get_graphql_request_data(
        self,
        request: SyncHTTPRequestAdapter,
        context: Any,
        data: Any,
        protocol: Any,
    ) -> GraphQLRequestData:
        if not isinstance(data, dict):
            # One operation per request: batches would multiply the limits.
            raise HTTPException(400, "the body must be one JSON object")
        return super().get_graphql_request_data(request, context, data, protocol)

    def execute_operation(
        self,
        request_adapter: SyncHTTPRequestAdapter,
        request_data: GraphQLRequestData,
        context: Any,
        root_value: Any,
        allowed_operation_types: set[OperationType],
    ) -> ExecutionResult:
        query = request_data.query
        if not isinstance(query, str) or not query.strip():
            raise HTTPException(400, "no GraphQL query found in the request")
        if len(query) > MAX_BODY_BYTES:
            raise HTTPException(413, "the query is too long")
        operation_name = request_data.operation_name
        if operation_name is not None and not isinstance(operation_name, str):
            raise HTTPException(400, "operationName must be a string")
        prepared = self.runtime.prepare(query)
        if prepared.document is None:
            return ExecutionResult(data=None, errors=list(prepared.errors))
        operation_type = self.runtime.operation_type(prepared, operation_name)
        if operation_type is None:
            raise HTTPException(400, "name the operation to run with operationName")
        if operation_type not in allowed_operation_types:
            raise InvalidOperationTypeError(operation_type, allowed_operation_types)
        return self.runtime.execute(prepared, request_data.variables, operation_name, context)

    def process_result(
        self, request: Request, result: ExecutionResult, strict: bool = False
    ) -> GraphQLHTTPResponse:
        body: GraphQLHTTPResponse = self.runtime.public_result(result)  # type: ignore[assignment]
        return body


def _still_works_here(context: RequestContext, caller: Caller) -> bool:
    """False for a valid token of an employee who has left, been erased or was never in
    the directory. (Admin tokens are vouched for by the identity provider alone, so that
    an administrator can fill an empty directory.) When the directory cannot be asked
    (the events service is down) the token is let through: everything such a caller could
    change goes through the events service, which checks the employee again."""
    try:
        entry = context.directory.get(caller.employee_id)
    except InfrastructureError:
        log.warning("directory unavailable: token accepted without the active check")
        return True
    return entry is not None and entry.get("active") is not False


def _error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )
