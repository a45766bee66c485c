# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on distroless, running as non-root.
#
# Build (the build arguments stamp the binary and the OCI labels):
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t tokenwright:v1.2.3 .
#
# Base images are pinned by tag. To pin (or bump) them by digest, resolve the
# tag's current multi-arch index digest and write it after the tag:
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot --format '{{json .Manifest.Digest}}'
#   (or: crane digest golang:1.26)
# then FROM golang:1.26@sha256:<digest> and rebuild; bump by repeating.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
      -X github.com/tokenwright/tokenwright/pkg/buildinfo.version=${VERSION} \
      -X github.com/tokenwright/tokenwright/pkg/buildinfo.commit=${REVISION} \
      -X github.com/tokenwright/tokenwright/pkg/buildinfo.date=${CREATED}" \
    -o /out/tokenwright ./cmd/tokenwright
# The data directory, made here because distroless has no shell: copied
# below owned by nonroot (uid 65532), so the server can write it. Without
# it Docker would create VOLUME /data owned by root, and the first start
# would fail with "writing key-encryption key: permission denied".
RUN mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="tokenwright" \
      org.opencontainers.image.description="Service-account token server: API keys in, short-lived signed JWTs out" \
      org.opencontainers.image.source="https://github.com/tokenwright/tokenwright" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/tokenwright /usr/local/bin/tokenwright
COPY --from=build --chown=65532:65532 /out/data /data
# State (database, generated KEK, bootstrap admin token) lives here; mount a
# volume and supply TOKENWRIGHT_KEK_FILE from a secret in production. The
# first administrator's token is only in /data/admin.token, never in the
# container log: docker cp CONTAINER:/data/admin.token - | tar -xO
VOLUME /data
# No TOKENWRIGHT_ISSUER here on purpose: the server listens on 0.0.0.0, so
# it cannot know the URL clients reach it at, and refuses to start until
# TOKENWRIGHT_ISSUER (an https URL) is set: docker run -e TOKENWRIGHT_ISSUER=...
ENV TOKENWRIGHT_DATA=/data \
    TOKENWRIGHT_LISTEN=0.0.0.0:8080 \
    TOKENWRIGHT_LOG_FORMAT=json
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tokenwright", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/tokenwright"]
CMD ["serve"]
