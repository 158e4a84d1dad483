# The project image: Airflow 3.3.2 (Python 3.11) + Java 17 + requirements.txt, which pins pyspark
# and every library the stages' UDFs import (numpy, pyarrow, presidio, spaCy, sentence-transformers…).
# docker-compose.yaml runs this one image as the Airflow services AND as the Spark master and
# workers, so the executors have the driver's Python, packages and Spark version (pyspark's own
# `spark-class`, no separate Spark distribution).
#
#   docker compose build        # or: docker build -t llmops-airflow:3.3.2-local .
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps curl \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

USER airflow
COPY requirements.txt /requirements.txt
# torch==2.13.0 is pinned; PyTorch's CPU index gives the CPU build (PyPI's default is the CUDA one).
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r /requirements.txt

ENV PYTHONPATH=/opt/llmops:/opt/llmops/plugins \
    PYSPARK_PYTHON=python \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false
COPY --chown=airflow:root . /opt/llmops
WORKDIR /opt/llmops
