"""Example DataRobot pipeline: score a batch of customers and publish a summary.

Covalent-style: ``@task`` functions composed by one ``@pipeline`` function. The pipelines service (and
the local emulator) reads this file; it is never imported by Airflow.
"""

import datarobot as dr


@dr.task
def load_customers(batch_date: str, limit: int = 100) -> list[dict]:
    return [{"id": i, "date": batch_date} for i in range(limit)]


@dr.task
def score(customers: list[dict], threshold: float = 0.5) -> list[dict]:
    return [{**c, "score": (c["id"] % 10) / 10, "flag": (c["id"] % 10) / 10 > threshold} for c in customers]


@dr.task
def publish(scored: list[dict]) -> dict:
    return {"scored": len(scored), "flagged": sum(c["flag"] for c in scored)}


@dr.pipeline
def score_customers(batch_date: str, limit: int = 100, threshold: float = 0.5) -> dict:
    customers = load_customers(batch_date, limit)
    scored = score(customers, threshold)
    return publish(scored)
