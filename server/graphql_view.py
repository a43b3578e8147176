"""POST /graphql (orjson responses), GET /graphql (queries; GraphiQL with self-hosted assets),
and persisted queries over both."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from schema.context import Context, Services
from schema.errors import BAD_USER_INPUT, GRAPHQL_PARSE_FAILED, SERVICE_UNAVAILABLE, ApiError
from server import json_codec, multipart
from server.authentication import AuthenticatedPrincipal
from server.overload import RETRY_AFTER_BUSY
from server.persisted import PersistedQueries, PersistedQueryError

GRAPHIQL_PAGE = Path(__file__).resolve().parent / "graphiql" / "index.html"


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Any, services: Services, persisted: PersistedQueries) -> None:
        # Multipart (file uploads) is safe to accept: credentials travel in the Authorization
        # header only, never in cookies, so a cross-site form cannot send them. Queries may come
        # over GET (GraphQL over HTTP; Apollo's useGETForQueries); mutations never do.
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            multipart_uploads_enabled=True,
        )
        self.services = services
        self.persisted = persisted
        self._graphiql_html = GRAPHIQL_PAGE.read_text(encoding="utf-8")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        user = request.scope.get("user")
        principal = user.principal if isinstance(user, AuthenticatedPrincipal) else None
        return Context(
            services=self.services, principal=principal, request=request, response=response
        )

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
        name) is answered like any other: JSON with a code, its text safe to encode."""
        try:
            return await super().run(request, context, root_value)
        except HTTPException as exc:
            status, headers = exc.status_code, {}
            if request.method == "GET" and "not allowed when using GET" in exc.reason:
                # GraphQL over HTTP: a mutation sent over GET is the wrong method, not bad input.
                status, headers = 405, {"Allow": "POST"}
            return Response(
                json_codec.encode(json_codec.request_error(exc.reason)),
                status_code=status,
                media_type="application/json",
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
