"""POST /graphql (orjson responses), GET /graphql (queries; GraphiQL with self-hosted assets),
and persisted queries over both.

Status codes follow GraphQL over HTTP for the media type negotiated (server/media_types.py): with
``application/graphql-response+json`` a request error (it did not parse, did not validate, its
variables did not fit, it cost too much) is a 400 without ``data``; with ``application/json`` it is
a 200, as legacy clients expect. A body without a query, or naming an operation its document lacks,
is a 400 with either (strawberry refuses it before there is a GraphQL answer to send). An answer
that executed is a 200 with either, field errors or not. Persisted-query refusals (not found, hash
mismatch, too large, not trusted) are a 200 with either: they are steps of Apollo's protocol, which
its link answers by sending the query, and Apollo Client 3's link takes a 400 for "this server has
no persisted queries" and stops sending hashes for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from auth.callers import Callers
from auth.tokens import InvalidToken
from schema.context import Context, Services
from schema.errors import (
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    QUERY_TOO_COMPLEX,
    SERVICE_UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    ApiError,
)
from schema.streams import recheck
from server import json_codec, media_types, multipart
from server.authentication import Unauthenticated, bearer_claims, unauthenticated
from server.overload import RETRY_AFTER_BUSY
from server.persisted import PersistedQueries, PersistedQueryError

CLAIMS = "channelbill.claims"  # the request's verified bearer claims, in its ASGI scope
GRAPHIQL_PAGE = Path(__file__).resolve().parent / "graphiql" / "index.html"
CONNECTION_INIT_WAIT = timedelta(seconds=10)  # a WebSocket that never says who it is closes
# The codes of errors raised before execution began: the request, not the data, is at fault.
REQUEST_ERROR_CODES = frozenset(
    {GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT, QUERY_TOO_COMPLEX}
)


def is_request_error(response: GraphQLHTTPResponse) -> bool:
    """No data, and only errors of the request: graphql-core gives every error raised while
    executing a field its ``path``, and none raised before. A persisted-query refusal has a code
    of its own, so it is not one (see the module's docstring)."""
    errors = response.get("errors") or []
    return (
        response.get("data") is None
        and bool(errors)
        and all(
            "path" not in error and error.get("extensions", {}).get("code") in REQUEST_ERROR_CODES
            for error in errors
        )
    )


class SubscriptionsOnly(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws carries subscriptions only: a query or mutation goes over HTTP,
    where the caller is read afresh for each (a subscription re-reads it as it streams)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload") or {}
        if self.connection_acknowledged and not _is_subscription(
            payload.get("query"), payload.get("operationName")
        ):
            error = GraphQLError(
                "only subscriptions go over WebSocket: send queries and mutations over HTTP",
                extensions={"code": BAD_USER_INPUT},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


def _is_subscription(query: Any, operation_name: Any) -> bool:
    """True also for what is not a document at all: the executor then says what is wrong."""
    if not isinstance(query, str):
        return True
    try:
        operation = get_operation_ast(parse(query), operation_name or None)
    except GraphQLError:
        return True
    return operation is None or operation.operation is OperationType.SUBSCRIPTION


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames; our JSON encoder makes bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(json_codec.encode(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SubscriptionsOnly
    websocket_adapter_class = TextFrames  # type: ignore[assignment]

    def __init__(
        self,
        schema: Any,
        services: Services,
        persisted: PersistedQueries,
        *,
        allowed_origins: Sequence[str] = (),
        subscriptions_per_connection: int = 10,
    ) -> None:
        # Multipart (file uploads) is safe to accept: credentials travel in the Authorization
        # header only, never in cookies, so a cross-site form cannot send them. Queries may come
        # over GET (GraphQL over HTTP; Apollo's useGETForQueries); mutations never do.
        # Subscriptions: graphql-transport-ws on a WebSocket (its connection_init payload
        # carries the token) and GraphQL over SSE (Accept: text/event-stream, bearer header).
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            multipart_uploads_enabled=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            connection_init_wait_timeout=CONNECTION_INIT_WAIT,
            max_subscriptions_per_connection=subscriptions_per_connection,
            allowed_origins=allowed_origins,
        )
        self.services = services
        self.persisted = persisted
        self.callers = Callers(services.db, services.signer)
        self._graphiql_html = GRAPHIQL_PAGE.read_text(encoding="utf-8")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        """Anonymous until the operation runs (``execute_operation`` reads the caller)."""
        return Context(services=self.services, principal=None, request=request, response=response)

    async def execute_operation(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Response,
    ) -> Any:
        """The caller, read now that the body is in, as it stands in the database. The read's
        session stays open for the operation's first read (``Context.hold``), except for a
        stream, which reads for as long as it lasts; it is closed when the operation is done,
        if no read took it."""
        claims = request.scope.get(CLAIMS)
        if claims is not None:
            streamed = not isinstance(request_data, list) and bool(
                self._get_stream_transport(request_data.protocol)
            )
            try:
                if streamed:
                    principal, held = await self.callers.of_claims(claims), None
                else:
                    principal, held = await self.callers.of_claims_keeping_read(claims)
            except InvalidToken:
                raise Unauthenticated from None
            context.act_as(principal)
            await context.hold(held)
        try:
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        finally:
            await context.release()

    async def on_ws_connect(self, context: Context) -> None:
        """connection_init: the payload's Authorization is checked as a bearer header is."""
        try:
            async with context.services.stream_reads:
                await recheck(context)
        except ApiError:
            raise ConnectionRejectionError from None

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """The media type negotiated travels with the sub-response, which ``create_response``
        turns into the answer."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = media_types.negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = sub_response.media_type or media_types.APPLICATION_JSON
        if (
            media_type == media_types.GRAPHQL_RESPONSE_JSON
            and sub_response.status_code is None  # 429 and 503 say more than 400
            and isinstance(response_data, dict)
            and is_request_error(response_data)
        ):
            response_data = {key: value for key, value in response_data.items() if key != "data"}
            sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = media_type
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A persisted query over GET has no ``query`` either, and Apollo's link may send it with
        ``Accept: */*``: the ``extensions`` parameter says it is a request, not a browser."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            self._graphiql_html,
            headers={
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
                    " img-src 'self' data:; font-src 'self' data:; connect-src 'self'"
                )
            },
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Errors raised before the schema's extensions run (a syntax error) are coded here."""
        response = await super().process_result(request, result)
        for error in response.get("errors") or []:
            extensions = error.setdefault("extensions", {})
            if "code" not in extensions:
                syntax = str(error.get("message", "")).startswith("Syntax Error")
                extensions["code"] = GRAPHQL_PARSE_FAILED if syntax else BAD_USER_INPUT
        return response

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """A persisted query's hash becomes its document first (a refusal is a GraphQL error
        with a code, answered 200 as Apollo's link expects). A database too busy to serve any
        part of the answer makes the whole answer a 503."""
        try:
            query = self.persisted.resolve(request_data.query, request_data.extensions)
        except PersistedQueryError as refused:
            return ExecutionResult(data=None, errors=[ApiError(refused.message, refused.code)])
        request_data = replace(request_data, query=query)
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        codes = {(error.extensions or {}).get("code") for error in result.errors or ()}
        if SERVICE_UNAVAILABLE in codes:
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(RETRY_AFTER_BUSY)
        return result

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return json_codec.decode(data)
        except json_codec.UnreadableJSON as exc:
            raise HTTPException(400, str(exc)) from None

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """A request refused before GraphQL runs (a body that is not JSON, an unknown operation
        name) is answered like any other: JSON with a code, its text safe to encode, in the media
        type negotiated. A client that accepts neither JSON type is told so (406) before anything
        runs; a browser asking for GraphiQL is not such a client, nor one that asks for an event
        stream (GraphQL over SSE)."""
        if request.scope["type"] == "http":
            try:
                request.scope[CLAIMS] = bearer_claims(request.headers, self.callers)
            except Unauthenticated:
                return unauthenticated()
        media_type = media_types.negotiate(request.headers.get("accept"))
        if (
            media_type is None
            and not self.should_render_graphql_ide(self.request_adapter_class(request))
            and self._get_stream_transport_from_headers(request.headers) is None  # not SSE
        ):
            accepted = f"{media_types.GRAPHQL_RESPONSE_JSON} or {media_types.APPLICATION_JSON}"
            return self._refusal(
                f"This endpoint answers {accepted}, which the Accept header rules out.",
                406,
                NOT_ACCEPTABLE,
                media_types.APPLICATION_JSON,
            )
        try:
            return await super().run(request, context, root_value)
        except Unauthenticated:
            return unauthenticated()
        except HTTPException as exc:
            message, status, code, headers = exc.reason, exc.status_code, BAD_USER_INPUT, {}
            if request.method == "GET" and "not allowed when using GET" in exc.reason:
                # GraphQL over HTTP: a mutation sent over GET is the wrong method, not bad input.
                status, code, headers = 405, METHOD_NOT_ALLOWED, {"Allow": "POST"}
            elif exc.reason == "Unsupported content type":  # or none: HTTP's 415, not a 400
                message = "A POST to /graphql is application/json (or multipart/form-data)."
                status, code = 415, UNSUPPORTED_MEDIA_TYPE
            return self._refusal(message, status, code, media_type, headers)

    @staticmethod
    def _refusal(
        message: str,
        status: int,
        code: str,
        media_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            json_codec.encode(json_codec.request_error(message, code)),
            status_code=status,
            media_type=media_type or media_types.APPLICATION_JSON,
            headers=headers,
        )

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        """Uploads follow the multipart request spec, or nothing runs (400)."""
        try:
            form_data = await request.get_form_data()
        except ValueError:
            raise HTTPException(400, "Unable to parse the multipart body") from None
        try:
            raw_operations = form_data.form.get("operations")
            raw_map = form_data.form.get("map")
            if not isinstance(raw_operations, str | bytes) or not isinstance(raw_map, str | bytes):
                raise HTTPException(400, "a multipart request needs its operations and map parts")
            operations = self.parse_json(raw_operations)
            files_map = self.parse_json(raw_map)
            try:
                # Starlette hands the whole form as "files": its files are what is not text.
                uploads = {k for k, v in form_data.files.items() if not isinstance(v, str)}
                multipart.check(operations, files_map, uploads)
            except multipart.MalformedMultipart as problem:
                raise HTTPException(400, str(problem)) from None
        except HTTPException:
            for upload in form_data.files.values():  # nothing will read them: free them now
                if not isinstance(upload, str):
                    await upload.close()
            raise
        return replace_placeholders_with_files(operations, files_map, form_data.files)

    def encode_json(self, data: object) -> bytes:
        return json_codec.encode(data)
