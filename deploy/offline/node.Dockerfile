# Stand-in for node:20-bookworm-slim: this machine's own Node.js (20 or later; Debian's is 18) and
# npm, copied in by deploy/offline-images.sh, on the same Debian base.
ARG BASE=expense-tracker-offline/debian:bookworm
FROM ${BASE}
ARG LABEL_VALUE="deploy/offline-images.sh: the host's Node.js"
LABEL org.expense-tracker.stand-in="${LABEL_VALUE}"
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
CMD ["node"]
