# Stand-in for python:3.11-slim-bookworm: Debian bookworm's own Python 3.11, laid out so the
# project's Dockerfile works unchanged (python, python3, pip on PATH; pip may install system-wide).
ARG BASE=expense-tracker-offline/debian:bookworm
FROM ${BASE}
ARG LABEL_VALUE="deploy/offline-images.sh: Debian bookworm python3.11"
LABEL org.expense-tracker.stand-in="${LABEL_VALUE}"
ENV LANG=C.UTF-8
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-pip python3-venv python-is-python3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -sf /usr/bin/pip3 /usr/local/bin/pip \
    && python --version && pip --version
CMD ["python3"]
