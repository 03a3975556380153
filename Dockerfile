# syntax=docker/dockerfile:1

# Segflow: one static binary, one image for every role. The role is the
# subcommand: docker run segflow:local definer (up, ups, definer,
# segmenter, exporter, reader, or a CLI command such as request).
# docker-compose.yml runs each role in its own container;
# deploy/deploytest checks this file against the binary's configuration.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# The modules first, so that a change to the source reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/segflow ./cmd/segflow
# The data directory, owned by the runtime user, so that a volume mounted
# on it starts out writable.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="segflow" \
      org.opencontainers.image.description="Segflow: customer segments to audience files, an event-driven pipeline on NATS JetStream. The role is the command: up, ups, definer, segmenter, exporter, reader." \
      org.opencontainers.image.source="https://github.com/segflow/segflow"
COPY --from=build /out/segflow /usr/local/bin/segflow
COPY --from=build --chown=65532:65532 /out/data /data
# Listen beyond the container's loopback; keep state under /data.
ENV SEGFLOW_METRICS_ADDR=0.0.0.0:9464 \
    SEGFLOW_UPS_ADDR=0.0.0.0:8080 \
    SEGFLOW_NATS_ADDR=0.0.0.0:4222 \
    SEGFLOW_DATA_DIR=/data
USER 65532:65532
# NATS (up's embedded server), the Platform API (up, ups), metrics and
# probes (up and the stages).
EXPOSE 4222 8080 9464
ENTRYPOINT ["/usr/local/bin/segflow"]
CMD ["up"]
