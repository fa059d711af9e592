"""Apache Airflow provider for DataRobot pipelines."""

__version__ = "0.1.0"
