"""Exceptions of the DataRobot pipelines provider.

Every API error carries method, path, HTTP status and the server's ``detail`` so a task log says what
went wrong without a debugger; none of them ever holds the API token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class DataRobotPipelinesError(AirflowException):
    """Base class of everything this provider raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state: the default re-calls ``__init__`` with ``args`` only, which keyword-only fields refuse."""
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[DataRobotPipelinesError], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class DataRobotConfigError(DataRobotPipelinesError, ValueError):
    """Bad connection settings or bad operator arguments, found before any remote side effect."""


class DataRobotApiError(DataRobotPipelinesError):
    """The pipelines API answered with an error, an unusable body, or not at all.

    Catch a subclass to react to one kind of failure (e.g. :class:`ApiNotFoundError`); the message already
    says what happened, scrubbed of the token.

    :param message: what went wrong, for the task log.
    :param method: the request's HTTP method.
    :param path: the request's path below the API URL.
    :param status: the HTTP status, or None when there was no answer.
    :param detail: the server's ``detail`` (a string, or a list of validation errors).
    :param retry_after: seconds the server's ``Retry-After`` asked to wait, if any.
    """

    #: Whether repeating the same request may succeed.
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        detail: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def request_not_processed(self) -> bool:
        """True when the server certainly did not act on the request, so a create may be re-sent."""
        return False


class ApiValidationError(DataRobotApiError):
    """400 or 422: the server rejected the request's content."""


class ApiAuthError(DataRobotApiError):
    """401 or 403: the token is missing, wrong, or lacks access."""


class ApiNotFoundError(DataRobotApiError):
    """404: the pipeline, version, input, run, schedule or image does not exist."""


class ApiConflictError(DataRobotApiError):
    """409: the resource's state forbids the request (locked pipeline, terminal run, ...)."""


class ApiResponseError(DataRobotApiError):
    """The server answered, but not like a DataRobot pipelines API (HTML page, missing fields, ...)."""


class ApiTransientError(DataRobotApiError):
    """429 or 5xx: worth retrying after a pause."""

    retryable = True

    @property
    def request_not_processed(self) -> bool:
        """True for a 429, which refuses a request before acting on it; a 5xx may have acted."""
        return self.status == 429


class ApiConnectionError(DataRobotApiError):
    """No HTTP answer: the host is unreachable, the connection dropped, or the request timed out.

    :param message: what went wrong, for the task log.
    :param method: the request's HTTP method.
    :param path: the request's path below the API URL.
    :param connected: whether the request may have reached the server (then a create may have happened).
    """

    retryable = True

    def __init__(self, message: str, *, method: str, path: str, connected: bool) -> None:
        super().__init__(message, method=method, path=path)
        self.connected = connected

    @property
    def request_not_processed(self) -> bool:
        """True when no connection was made, so nothing reached the server."""
        return not self.connected


class PipelineRunError(DataRobotPipelinesError):
    """A pipeline run ended in a state other than COMPLETED.

    :param message: the status with the failing tasks, their errors and log tails.
    :param pipeline_id: the run's pipeline.
    :param run_id: the run.
    :param status: the status it ended with.
    """

    def __init__(self, message: str, *, pipeline_id: str, run_id: str, status: str) -> None:
        super().__init__(message)
        self.pipeline_id = pipeline_id
        self.run_id = run_id
        self.status = status


class PipelineRunErroredError(PipelineRunError):
    """The run ERRORED: a platform fault rather than a failure of the pipeline's code; usually worth a retry."""


class PipelineRunFailedError(PipelineRunError, AirflowFailException):
    """The run ended FAILED or CANCELLED and the operator has ``retry_failed_runs=False``: no Airflow retry."""


class PipelineRunTimeoutError(PipelineRunError):
    """The run outlived the operator's ``timeout`` or the task's ``execution_timeout`` and was cancelled."""


class PipelineVersionFailedError(DataRobotPipelinesError):
    """A pipeline version ended FAILED (the service could not trace it); carries the version's errorDetail."""


class PipelineImageBuildError(DataRobotPipelinesError):
    """An execution image version ended ERROR; the message carries the tail of its build log."""


class PipelineNotReadyError(DataRobotPipelinesError):
    """A pipeline version or image was still building when the operator's ``timeout`` passed, or its wait cannot
    end (a status this provider does not know, or an image version deleted while waited for)."""


class PipelineDryRunError(DataRobotPipelinesError):
    """A dry run found problems; ``report`` lists every check, ``problems`` the failed ones."""

    def __init__(self, message: str, *, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report
