"""What every router module shares: request bodies' key casing, route registration in both slash forms and
both scopes, the DataPage envelope, the locked-version path parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AliasGenerator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from airflow_provider_drpipelines.emulator.wire import JSONObject, invalid, parse_locked_version

T = TypeVar("T")
Handler = Callable[..., Any]


class Body(BaseModel):
    """Request bodies accept the camelCase alias and the snake_case field name of every key."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        validate_by_name=True,
        validate_by_alias=True,
    )


Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]


def page(
    request: Request, items: Sequence[T], offset: int, limit: int, render: Callable[[T], JSONObject]
) -> JSONObject:
    """The DataPage envelope with absolute ``next``/``previous`` URLs (the SDK refuses relative ones)."""
    chunk = items[offset : offset + limit]

    def link(at: int) -> str:
        return str(request.url.include_query_params(offset=at, limit=limit))

    return {
        "data": [render(item) for item in chunk],
        "totalCount": len(items),
        "count": len(chunk),
        "next": link(offset + limit) if offset + limit < len(items) else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
    }


async def _locked_version(request: Request) -> int | None:
    """The locked-scope version number from the path, None on the draft path."""
    return parse_locked_version(request.path_params.get("version"))


#: A handler parameter holding the ``{version}`` of a locked-scope path, None on the draft path.
LockedVersion = Annotated[int | None, Depends(_locked_version)]


def query_int(request: Request, name: str) -> int | None:
    """An int query parameter under its snake_case or camelCase name."""
    raw = request.query_params.get(name) or request.query_params.get(to_camel(name))
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(("query", name), "Input should be a valid integer", raw) from None


def no_content() -> Response:
    """204 with an empty body: every DELETE, cancel included."""
    return Response(status_code=204)


class Routes:
    """Route registration with both slash forms and both scopes, written once."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    def __call__(self, method: str, *paths: str, status: int = 200) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for path in paths:
                for form in (path, path + "/"):
                    self.router.add_api_route(
                        form, handler, methods=[method], status_code=status, include_in_schema=form == path
                    )
            return handler

        return register

    def scoped(self, method: str, sub: str, status: int = 200) -> Callable[[Handler], Handler]:
        return self(method, f"/pipelines/{{pid}}{sub}", f"/pipelines/{{pid}}/versions/{{version}}{sub}", status=status)
