# Stand-in for mongo:8.0: SecantusDB (a MongoDB-wire server from PyPI, at the version uv.lock
# pins) behind a `mongod` that takes mongod's flags. The build stage trusts build-ca.crt (the
# host's CA bundle, for PyPI); the image does not keep it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE} AS build
COPY build-ca.crt secantusdb.txt /tmp/
RUN python -m venv /opt/secantusdb \
    && PIP_CERT=/tmp/build-ca.crt /opt/secantusdb/bin/pip install --no-cache-dir \
        --require-hashes -r /tmp/secantusdb.txt

FROM ${PYTHON_IMAGE}
ARG LABEL_VALUE="deploy/offline-images.sh: SecantusDB"
LABEL org.expense-tracker.stand-in="${LABEL_VALUE}"
COPY --from=build /opt/secantusdb /opt/secantusdb
COPY mongod.py secantusd.py /opt/secantusdb/
RUN printf '#!/bin/sh\nexec /opt/secantusdb/bin/python /opt/secantusdb/mongod.py "$@"\n' \
        >/usr/local/bin/mongod \
    && chmod 755 /usr/local/bin/mongod \
    && useradd --system --uid 999 --home-dir /data/db mongodb \
    && mkdir -p /data/db \
    && chown mongodb /data/db
USER mongodb
VOLUME /data/db
EXPOSE 27017
ENTRYPOINT ["/opt/secantusdb/bin/python", "/opt/secantusdb/mongod.py"]
CMD ["--bind_ip_all"]
