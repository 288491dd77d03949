# Builds the operator into a small, static, non-root image.
# This machine has no Docker engine, so the image is not built or tested
# here; `make docker-build` is for machines that have one.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Dependencies first, so that a source change reuses the module layer.
COPY go.mod go.sum ./
RUN go mod download

COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY docs/ docs/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager .

# distroless/static: no shell, no package manager, CA certificates for
# HTTPS deliveries, and the nonroot user (65532).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
