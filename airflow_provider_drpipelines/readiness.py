"""The stored classpath of ``DataRobotReadinessTrigger``, which lives in ``triggers/readiness.py``.

Deferred deploy and image tasks stored ``airflow_provider_drpipelines.readiness.DataRobotReadinessTrigger``
in metadata databases before the role folders, and the trigger still serializes that path (a fixed string,
so any release can load the rows it writes): this module keeps it importable. Nothing else belongs here.
"""

from __future__ import annotations

from airflow_provider_drpipelines.triggers.readiness import DataRobotReadinessTrigger

__all__ = ["DataRobotReadinessTrigger"]
