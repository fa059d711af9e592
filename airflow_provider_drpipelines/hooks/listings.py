"""Reading across pages, for the hook: every item of a listing, the runs of some inputs, the inputs that hold
a payload, the run of some inputs still going (what the exactly-once creates and the tasks look for)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from typing import Any

from airflow_provider_drpipelines.client import wire
from airflow_provider_drpipelines.client.answers import required
from airflow_provider_drpipelines.client.endpoints import PipelinesApi
from airflow_provider_drpipelines.client.limits import page_size_for
from airflow_provider_drpipelines.statuses import TERMINAL_RUN_STATUSES


class PipelinesListings(PipelinesApi[Any]):
    """What the hook finds by reading a listing page by page; every method returns decoded JSON objects."""

    def iterate(
        self, list_method: Callable[..., Any], *args: Any, page_size: int = 100, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page by page: ``hook.iterate(hook.list_runs, pipeline_id, 3)``.

        :param list_method: a ``list_*`` endpoint method of this hook.
        :param args: its positional arguments.
        :param page_size: items per request (1-200).
        :param kwargs: its other keyword arguments (not ``offset``/``limit``).
        :return: a lazy iterator: pages are fetched as you consume it.
        :raises ApiResponseError: when a page is malformed, repeats an earlier page or the listing runs past 1,000
            pages.
        """
        what = f"{getattr(list_method, '__name__', 'list')}()"
        guard = wire.PageGuard(what)
        offset = 0
        while True:
            page = list_method(*args, offset=offset, limit=page_size, **kwargs)
            items, more = wire.page_items(what, page)
            guard.check(items)
            yield from items
            if not more:
                return
            offset += len(items)

    def runs_of_input(self, pipeline_id: str, version: int | None, input_id: str) -> list[dict[str, Any]]:
        """Every run of one input, across all pages.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param input_id: the input's id.
        :return: the runs, in the API's order.
        """
        return self.runs_of_inputs(pipeline_id, version, {input_id})

    def runs_of_inputs(self, pipeline_id: str, version: int | None, input_ids: Collection[str]) -> list[dict[str, Any]]:
        """Every run of any of these inputs, across all pages.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param input_ids: the inputs' ids.
        :return: the runs, in the API's order.
        """
        return [r for r in self.iterate(self.list_runs, pipeline_id, version) if r.get("inputId") in input_ids]

    def find_input_with_payload(
        self, pipeline_id: str, version: int | None, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """An existing input with exactly this payload: running it is the same as running a fresh copy.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param payload: the payload to look for, compared as JSON.
        :return: the first such input, or None.
        """
        return next(self.inputs_with_payload(pipeline_id, version, payload), None)

    def inputs_with_payload(
        self, pipeline_id: str, version: int | None, payload: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Inputs whose payload equals ``payload`` as JSON (``{1: "a"}`` is stored as ``{"1": "a"}``).

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param payload: the payload to look for.
        :return: a lazy iterator over the matching inputs.
        """
        wanted = wire.json_normalised(payload)
        # Pages small enough that a page of inputs as large as this one fits the client's answer cap.
        page_size = page_size_for(len(json.dumps(payload).encode()))
        listing = f"list_inputs({pipeline_id}, {version})"
        inputs = self.iterate(self.list_inputs, pipeline_id, version, page_size=page_size)
        return (i for i in inputs if i.get("payload") == wanted and required(listing, i, "id", str))

    def find_active_run(
        self, pipeline_id: str, version: int | None, input_ids: str | Collection[str]
    ) -> dict[str, Any] | None:
        """The newest run of these inputs that is not yet terminal.

        What ``reuse_existing_run`` adopts after a crash instead of starting a second run.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param input_ids: one input id or several.
        :return: that run, or None.
        """
        wanted = {input_ids} if isinstance(input_ids, str) else set(input_ids)
        runs = self.runs_of_inputs(pipeline_id, version, wanted)
        listing = f"list_runs({pipeline_id}, {version})"
        active = [r for r in runs if required(listing, r, "status", str) not in TERMINAL_RUN_STATUSES]
        newest = max(active, key=lambda r: str(r.get("createdAt", "")), default=None)
        if newest is not None:
            required(listing, newest, "id", str)
        return newest
