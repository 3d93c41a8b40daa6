# voicebus workers (processors, sinks, topic/schema jobs) for docker-compose.yml and deploy/.
# One image, the command picks the role: `voicebus process`, `voicebus sink <target>`, ...
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY connectors ./connectors
COPY schemas ./schemas
RUN python -m venv /opt/voicebus \
 && /opt/voicebus/bin/pip install --upgrade pip \
 && /opt/voicebus/bin/pip install .

FROM python:3.11.11-slim-bookworm

LABEL org.opencontainers.image.title="voicebus" \
      org.opencontainers.image.description="Event-streaming integration hub for voice AI"
ENV PATH=/opt/voicebus/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VOICEBUS_STATE_DIR=/var/lib/voicebus
COPY --from=build /opt/voicebus /opt/voicebus
# Default routing rules; mount your own over this file (compose / a ConfigMap in Kubernetes).
COPY config/routes.yaml /etc/voicebus/routes.yaml
ENV VOICEBUS_ROUTES_FILE=/etc/voicebus/routes.yaml
# Unprivileged user; state (sync ledger, logs) in a writable directory only.
RUN useradd --system --uid 10001 --home-dir /var/lib/voicebus --create-home voicebus
USER 10001
WORKDIR /var/lib/voicebus
ENTRYPOINT ["voicebus"]
CMD ["--help"]
