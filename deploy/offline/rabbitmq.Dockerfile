# Stand-in for rabbitmq:3.13-management: Debian bookworm's rabbitmq-server (3.10) with the
# management plugin, configured as the official image is (guest not limited to loopback,
# RABBITMQ_DEFAULT_USER/PASS honoured, data in /var/lib/rabbitmq), running as rabbitmq.
ARG BASE=expense-tracker-offline/debian:bookworm
FROM ${BASE}
ARG LABEL_VALUE="deploy/offline-images.sh: Debian bookworm rabbitmq-server"
LABEL org.expense-tracker.stand-in="${LABEL_VALUE}"
ENV LANG=C.UTF-8
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/lib/rabbitmq/mnesia /var/log/rabbitmq/* \
    && rabbitmq-plugins enable --offline rabbitmq_management
COPY rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
COPY rabbitmq-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# RabbitMQ's own scripts first (Debian's wrappers send the log to a file and stay PID 1 without
# passing SIGTERM on); logs to stdout, as the official image does.
ENV PATH=/usr/lib/rabbitmq/bin:$PATH RABBITMQ_LOGS=- HOME=/var/lib/rabbitmq
USER rabbitmq
WORKDIR /var/lib/rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 5672 15672
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
