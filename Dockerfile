# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on distroless, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tokenwright ./cmd/tokenwright

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenwright /usr/local/bin/tokenwright
# State (database, generated KEK, bootstrap admin token) lives here; mount a
# volume and supply TOKENWRIGHT_KEK_FILE from a secret in production. The
# first administrator's token is only in /data/admin.token, never in the
# container log: docker cp CONTAINER:/data/admin.token - | tar -xO
VOLUME /data
ENV TOKENWRIGHT_DATA=/data \
    TOKENWRIGHT_LISTEN=0.0.0.0:8080 \
    TOKENWRIGHT_LOG_FORMAT=json
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/tokenwright"]
CMD ["serve"]
