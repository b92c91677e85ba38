"""Running one GraphQL operation: parse and validate (cached per query text), execute,
then turn errors into what a caller on the internet may see.

Validation runs in passes, each only when the one before found nothing: the standard
rules (they refuse fragment cycles), then the size limits (aliases, fields) and the cost
estimate, whose walks are bounded, then the depth limit and, in production, no
introspection (graphene's depth rule expands every fragment spread: it must only ever
see a query already known to be small)."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from graphene.validation import depth_limit_validator
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.language import OperationType
from graphql.validation import ASTValidationRule

from cercle_common.errors import CercleError, Forbidden, InfrastructureError, Unauthorized
from gateway.limits import (
    MAX_ALIASES,
    MAX_COST,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_QUERY_TOKENS,
    NoSchemaIntrospection,
    introspection_depth_rule,
    query_cost_rule,
    query_limits_rule,
)

log = logging.getLogger(__name__)

CACHE_SIZE = 512

# Error codes in `extensions.code`, as GraphQL clients commonly expect them.
_CODES: dict[type[CercleError], str] = {
    Unauthorized: "UNAUTHENTICATED",
    Forbidden: "FORBIDDEN",
    InfrastructureError: "SERVICE_UNAVAILABLE",
}
_SUGGESTION = re.compile(r"\s*Did you mean .*$")


@dataclass(frozen=True)
class Prepared:
    """A query text parsed and validated: its document, or why it was refused."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class GraphQLRuntime:
    """The schema with its limits, and a bounded cache of prepared documents."""

    def __init__(
        self,
        schema: GraphQLSchema,
        production: bool,
        max_depth: int = MAX_DEPTH,
        max_aliases: int = MAX_ALIASES,
        max_fields: int = MAX_FIELDS,
        max_cost: int = MAX_COST,
    ) -> None:
        self.schema = schema
        self.production = production
        shape_rules = [depth_limit_validator(max_depth=max_depth), introspection_depth_rule()]
        if production:
            shape_rules.append(NoSchemaIntrospection)
        self.validation_passes: list[list[type[ASTValidationRule]]] = [
            list(specified_rules),
            [query_limits_rule(max_aliases, max_fields), query_cost_rule(max_cost)],
            shape_rules,
        ]
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = Lock()

    def prepare(self, query: str) -> Prepared:
        """Parse and validate `query`, or take the result from the cache."""
        with self._lock:
            cached = self._cache.get(query)
            if cached is not None:
                self._cache.move_to_end(query)
                return cached
        prepared = self._prepare(query)
        with self._lock:
            self._cache[query] = prepared
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, no_location=False, max_tokens=MAX_QUERY_TOKENS)
        except GraphQLError as error:
            return Prepared(None, (error,))
        errors: list[GraphQLError] = []
        for rules in self.validation_passes:
            errors = validate(self.schema, document, rules)
            if errors:
                break
        return Prepared(None if errors else document, tuple(errors))

    def operation_type(
        self, prepared: Prepared, operation_name: str | None
    ) -> OperationType | None:
        """The type of the operation that would run (None if there is no such operation)."""
        if prepared.document is None:
            return None
        operations = [
            d for d in prepared.document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        if operation_name is None:
            return operations[0].operation if len(operations) == 1 else None
        for operation in operations:
            if operation.name is not None and operation.name.value == operation_name:
                return operation.operation
        return None

    def run(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        context: Any = None,
    ) -> ExecutionResult:
        """Prepare and execute one operation (errors not yet made public)."""
        prepared = self.prepare(query)
        if prepared.document is None:
            return ExecutionResult(data=None, errors=list(prepared.errors))
        return self.execute(prepared, variables, operation_name, context)

    def execute(
        self,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> ExecutionResult:
        """Execute a prepared document."""
        assert prepared.document is not None
        result = execute(
            self.schema,
            prepared.document,
            variable_values=variables,
            operation_name=operation_name,
            context_value=context,
        )
        if not isinstance(result, ExecutionResult):  # pragma: no cover - no async resolvers
            raise TypeError("resolvers must be synchronous")
        return result

    def public_result(self, result: ExecutionResult) -> dict[str, Any]:
        """The response body: data, and errors without internals."""
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [self.public_error(error) for error in result.errors]
        return body

    def public_error(self, error: GraphQLError) -> dict[str, Any]:
        """An error as a caller may see it: a Cercle error keeps its message, code and
        field; anything unexpected becomes "internal error" (logged with its trace)."""
        original = error.original_error
        extensions: dict[str, Any]
        if isinstance(original, GraphQLError):
            # graphql-core's own words about the request (e.g. a variable of the wrong type).
            message, extensions = original.message, {"code": "BAD_USER_INPUT"}
        elif original is None:
            message = error.message
            if self.production:
                # Suggestions would reveal the schema with introspection off.
                message = _SUGGESTION.sub("", message)
            extensions = {"code": "GRAPHQL_VALIDATION_FAILED"} if error.path is None else {}
            extensions.update(error.extensions or {})
        elif isinstance(original, CercleError):
            message = original.message
            extensions = {"code": _code_of(original)}
            if original.field is not None:
                extensions["field"] = original.field
        else:
            log.error(
                "resolver failed",
                exc_info=(type(original), original, original.__traceback__),
                extra={"path": error.path},
            )
            message, extensions = "internal error", {"code": "INTERNAL"}
        formatted: dict[str, Any] = {"message": message}
        if error.locations:
            formatted["locations"] = [
                {"line": loc.line, "column": loc.column} for loc in error.locations
            ]
        if error.path is not None:
            formatted["path"] = error.path
        formatted["extensions"] = extensions
        return formatted


def _code_of(error: CercleError) -> str:
    for error_class, code in _CODES.items():
        if isinstance(error, error_class):
            return code
    return error.code.upper()
