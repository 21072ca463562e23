#!/usr/bin/env bash
# Build the container image of `enhance serve` from ./Dockerfile with podman (no Docker daemon and no registry
# needed) and smoke-test it: readiness, a MAX-style POST /model/predict (200 image/png, 4x), /model/metadata,
# Swagger UI, the HEALTHCHECK, a job in flight while `podman stop` drains the server (SIGTERM), then print the
# image size and the container's memory at idle and during a 256x256 realesrgan-x4plus job; finally run
# deploy/kubernetes/deployment.yaml with `podman kube play`.
#
#   scripts/container_test.sh [--mode prebuilt|build] [--keep] [--no-stop-test] [--no-kube]
#
# --mode prebuilt (default)  build the binary on this host
#                            (swift build -c release --static-swift-stdlib --product enhance --scratch-path
#                            .build-release) and build the Dockerfile's `prebuilt` target, which is the `runtime`
#                            stage plus that binary: the same layout as the default `release` target.
# --mode build               the real multi-stage build (`release` target): the `build` stage compiles inside
#                            the container. With no registry here the builder image is a local stand-in for
#                            swift:6.3-bookworm (the bookworm base + the toolchain's apt dependencies) and the
#                            host's toolchain (/opt/swift) and SwiftPM cache are mounted into the build.
# --keep                     leave the smoke-test container running (name enhance-smoke) and print its port.
# --no-kube                  skip running deploy/kubernetes/deployment.yaml with `podman kube play`.
#
# No registry is reachable, so the base image is made here (debootstrap --variant=minbase bookworm, trimmed like
# the official slim image) and tagged docker.io/library/debian:bookworm-slim, the name the Dockerfile expects.
# Podman state lives in .podman/ (git-ignored): --root .podman/root, runc, cgroupfs, host network only.
# Installs podman, runc, debootstrap and curl with apt when missing (needs root).
#
# Environment: PODMAN_DIR (default .podman), IMAGE (default localhost/enhance:test), SWIFT (default swift on
# PATH, else /opt/swift/usr/bin/swift), SWIFT_TOOLCHAIN (default /opt/swift, --mode build).
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

mode=prebuilt
keep=0
stop_test=1
kube_test=1
while (($#)); do
    case "$1" in
        --mode) mode="${2:?--mode needs prebuilt or build}"; shift ;;
        --mode=*) mode="${1#--mode=}" ;;
        --keep) keep=1 ;;
        --no-stop-test) stop_test=0 ;;
        --no-kube) kube_test=0 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "container_test: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ "$mode" == prebuilt || "$mode" == build ]] || { echo "container_test: --mode is prebuilt or build" >&2; exit 2; }

PODMAN_DIR="${PODMAN_DIR:-$REPO/.podman}"
IMAGE="${IMAGE:-localhost/enhance:test}"
BASE_IMAGE=docker.io/library/debian:bookworm-slim
BUILDER_IMAGE=localhost/enhance-swift-builder:6.3-bookworm
SWIFT_TOOLCHAIN="${SWIFT_TOOLCHAIN:-/opt/swift}"
NAME=enhance-smoke
T0=$(date +%s)

log() { printf '== %s (+%ss)\n' "$*" "$(( $(date +%s) - T0 ))"; }
fail() { printf 'container_test: FAIL: %s\n' "$*" >&2; exit 1; }
pass() { printf '   ok  %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------------- tools
need=()
for t in podman:podman runc:runc debootstrap:debootstrap curl:curl python3:python3; do
    command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    [[ "$(id -u)" -eq 0 ]] || fail "need root to apt-get install ${need[*]}"
    apt-get update -q
    # (with the recommended packages, as verified on these machines)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

mkdir -p "$PODMAN_DIR"
# The default runtime (crun) cannot run on these machines; runc can. Bridge networking would write iptables
# rules, so everything runs with the host network and binds to 127.0.0.1.
P=(podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --storage-driver overlay
   --cgroup-manager cgroupfs --runtime runc --events-backend file)
U=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)

cleanup() {
    if ((keep == 0)); then "${P[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true; fi
    [[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}
trap cleanup EXIT
WORK="$(mktemp -d)"

# ---------------------------------------------------------------------------------------------------- base image
# debian:bookworm-slim is debootstrap's minbase with docs, man pages and locales left out by dpkg and the apt
# lists and caches emptied; the same is done here so that the image sizes are comparable.
if ! "${P[@]}" image exists "$BASE_IMAGE"; then
    rootfs="$PODMAN_DIR/rootfs"
    if [[ ! -x "$rootfs/usr/bin/apt-get" ]]; then
        log "debootstrap --variant=minbase bookworm"
        rm -rf "$rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    fi
    log "trimming the rootfs like bookworm-slim and importing it as $BASE_IMAGE"
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim-image" <<'EOF'
# as in the slim Debian images: no documentation, manual pages or translations (copyright files are kept)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/slim-image" <<'EOF'
APT::Install-Recommends "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
           "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    tar --numeric-owner -C "$rootfs" -c . | "${P[@]}" import --quiet \
        --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD=["bash"]' - "$BASE_IMAGE" >/dev/null
fi
pass "base image $BASE_IMAGE ($("${P[@]}" image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"

# ---------------------------------------------------------------------------------------------------- build
build_args=(--network host --format docker --pull=never "${U[@]}" -f "$REPO/Dockerfile" -t "$IMAGE")
# A TLS-intercepting egress proxy (as on these machines) signs with a CA that only the host trusts: the host's CA
# bundle goes to pip in the assets stage as a build secret, which leaves nothing in any layer.
host_ca=/etc/ssl/certs/ca-certificates.crt
[[ -s "$host_ca" ]] && build_args+=(--secret "id=ca-bundle,src=$host_ca")
build_start=$(date +%s)
if [[ "$mode" == prebuilt ]]; then
    SWIFT="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
    log "host release build: swift build -c release --static-swift-stdlib --product enhance --scratch-path .build-release"
    "$SWIFT" build -c release --static-swift-stdlib --product enhance --scratch-path "$REPO/.build-release" \
        >"$WORK/swift-build.log" 2>&1 || { tail -30 "$WORK/swift-build.log"; fail "host release build"; }
    bin_dir="$("$SWIFT" build -c release --static-swift-stdlib --product enhance --scratch-path "$REPO/.build-release" --show-bin-path)"
    mkdir -p "$PODMAN_DIR/prebuilt"
    cp "$bin_dir/enhance" "$PODMAN_DIR/prebuilt/enhance"
    strip --strip-unneeded "$PODMAN_DIR/prebuilt/enhance"
    pass "host binary $(du -h "$PODMAN_DIR/prebuilt/enhance" | cut -f1) (stripped), built in $(( $(date +%s) - build_start )) s"
    log "podman build --target prebuilt"
    "${P[@]}" build "${build_args[@]}" --target prebuilt --build-context "enhance-bin=$PODMAN_DIR/prebuilt" "$REPO" \
        >"$WORK/podman-build.log" 2>&1 || { tail -40 "$WORK/podman-build.log"; fail "podman build"; }
else
    [[ -x "$SWIFT_TOOLCHAIN/usr/bin/swift" ]] || fail "no Swift toolchain at $SWIFT_TOOLCHAIN"
    if ! "${P[@]}" image exists "$BUILDER_IMAGE"; then
        log "builder stand-in $BUILDER_IMAGE (bookworm + the apt packages of the swift:*-bookworm images)"
        mkdir -p "$WORK/builder"
        cat >"$WORK/builder/Containerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      binutils git unzip libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libsqlite3-0 libstdc++-12-dev \\
      libxml2-dev libncurses-dev pkg-config tzdata zlib1g-dev ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
        "${P[@]}" build --network host --format docker --pull=never "${U[@]}" -t "$BUILDER_IMAGE" "$WORK/builder" \
            >"$WORK/builder.log" 2>&1 || { tail -30 "$WORK/builder.log"; fail "builder image"; }
    fi
    # GitHub is not reachable here: the build resolves the pinned dependencies from a copy of SwiftPM's cache.
    mkdir -p "$PODMAN_DIR/swiftpm-cache"
    [[ -d "$HOME/.cache/org.swift.swiftpm/repositories" ]] && \
        cp -a -u "$HOME/.cache/org.swift.swiftpm/repositories" "$PODMAN_DIR/swiftpm-cache/"
    log "podman build --target release (the Swift build runs in the container)"
    "${P[@]}" build "${build_args[@]}" --target release --build-arg "SWIFT_IMAGE=$BUILDER_IMAGE" \
        -v "$SWIFT_TOOLCHAIN:/opt/swift:ro" -v "$PODMAN_DIR/swiftpm-cache:/root/.cache/org.swift.swiftpm" "$REPO" \
        >"$WORK/podman-build.log" 2>&1 || { tail -40 "$WORK/podman-build.log"; fail "podman build"; }
fi
build_s=$(( $(date +%s) - build_start ))
pass "image $IMAGE built ($mode) in ${build_s} s"

# ---------------------------------------------------------------------------------------------------- image checks
size_bytes=$("${P[@]}" image inspect -f '{{.Size}}' "$IMAGE")
cfg=$("${P[@]}" image inspect -f '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .Config.Cmd}}|{{json .Config.Healthcheck}}' "$IMAGE")
[[ "$cfg" == "10001:10001|"* ]] || fail "image user is not 10001:10001: $cfg"
[[ "$cfg" == *'"5000/tcp"'* ]] || fail "image does not expose 5000/tcp: $cfg"
[[ "$cfg" == *'["enhance","serve","--host","0.0.0.0","--port","5000"]'* ]] || fail "unexpected CMD: $cfg"
[[ "$cfg" == *'"CMD-SHELL","curl -fsS'*ENHANCE_HEALTH_URL* ]] || fail "no HEALTHCHECK (build with --format docker): $cfg"
"${P[@]}" image inspect -f '{{json .Config.Env}}' "$IMAGE" | grep -q 'ENHANCE_HEALTH_URL=http://127.0.0.1:5000/healthz' \
    || fail "ENHANCE_HEALTH_URL is not http://127.0.0.1:5000/healthz"
pass "user 10001, EXPOSE 5000, CMD enhance serve --host 0.0.0.0 --port 5000, HEALTHCHECK"
"${P[@]}" run --rm --network host "${U[@]}" "$IMAGE" sh -c '
    set -e
    ls /usr/share/enhance/models/realesrgan-x4plus.bin /usr/share/enhance/models/realesr-animevideov3-x4.param >/dev/null
    ls /usr/share/enhance/swagger-ui/swagger-ui-bundle.js >/dev/null
    if ldd /usr/local/bin/enhance | grep -q "not found"; then ldd /usr/local/bin/enhance | grep "not found"; exit 1; fi
    if ldd /usr/local/bin/enhance | grep -q libswiftCore; then echo "Swift runtime linked dynamically"; exit 1; fi
    enhance models >/dev/null
    [ "$(id -u)" = 10001 ]
    ! touch /usr/share/enhance/models/x 2>/dev/null
' >"$WORK/inside.log" 2>&1 || { cat "$WORK/inside.log"; fail "image contents"; }
pass "models and Swagger UI in /usr/share/enhance, every library resolved, static Swift runtime, read-only assets"

# ---------------------------------------------------------------------------------------------------- smoke test
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$port"
"${P[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
log "podman run $IMAGE on 127.0.0.1:$port"
run_start=$(date +%s.%N)
# As the Kubernetes manifests run it: read-only root (podman mounts a tmpfs on /tmp, the server's $TMPDIR), no
# capabilities, no privilege escalation.
"${P[@]}" run -d --name "$NAME" --network host "${U[@]}" --stop-timeout 60 \
    --read-only --cap-drop ALL --security-opt no-new-privileges \
    -e "ENHANCE_HEALTH_URL=$URL/healthz" "$IMAGE" \
    enhance serve --host 127.0.0.1 --port "$port" --drain-delay 2 --deadline 120 >/dev/null \
    || fail "podman run"
logs() { "${P[@]}" logs "$NAME" 2>&1 | tail -30; }
ready=0
for _ in $(seq 1200); do
    if curl -fs "$URL/readyz" >/dev/null 2>&1; then ready=1; break; fi
    [[ "$("${P[@]}" inspect -f '{{.State.Running}}' "$NAME")" == true ]] || { logs; fail "container exited"; }
    sleep 0.1
done
((ready)) || { logs; fail "/readyz not 200 within 120 s"; }
ready_s=$(python3 -c "import time; print(f'{time.time() - $run_start:.1f}')")
pass "/readyz 200 ${ready_s} s after podman run"
pid=$("${P[@]}" inspect -f '{{.State.Pid}}' "$NAME")
[[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" == 10001 ]] || fail "server does not run as uid 10001"
[[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"enhance serve"* ]] || fail "PID $pid is not enhance serve"
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
ready_rss=$(kb VmRSS)
pass "RSS once ready (default model loaded, no job yet): $((ready_rss / 1024)) MiB"

python3 - "$WORK" <<'EOF'
import struct, sys, zlib
def png(path, w, h):
    rows = b"".join(b"\0" + b"".join(bytes((x * 255 // w, y * 255 // h, (x ^ y) & 255)) for x in range(w))
                    for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
png(sys.argv[1] + "/small.png", 48, 32)
png(sys.argv[1] + "/256.png", 256, 256)
png(sys.argv[1] + "/512.png", 512, 512)
EOF
png_size() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n", "not a PNG"; print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"; }

code=$(curl -s -o "$WORK/out.png" -D "$WORK/h.txt" -w '%{http_code} %{content_type}' -F "image=@$WORK/small.png" "$URL/model/predict")
[[ "$code" == "200 image/png" ]] || { cat "$WORK/h.txt"; logs; fail "POST /model/predict answered $code"; }
[[ "$(png_size "$WORK/out.png")" == 192x128 ]] || fail "/model/predict output is $(png_size "$WORK/out.png"), expected 192x128"
pass "POST /model/predict 48x32 PNG -> 200 image/png 192x128 ($(grep -i '^x-enhance-model' "$WORK/h.txt" | tr -d '\r'))"

meta=$(curl -fsS "$URL/model/metadata") || fail "GET /model/metadata"
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert {"id","name","description","type","source","license"} <= m.keys(), m; assert m["id"]=="realesrgan-x4plus", m' "$meta" \
    || fail "/model/metadata: $meta"
pass "GET /model/metadata -> $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$meta")"

code=$(curl -s -o "$WORK/out2.png" -w '%{http_code}' -F "image=@$WORK/small.png" -F model=realesr-animevideov3-x4 "$URL/v1/upscale")
[[ "$code" == 200 && "$(png_size "$WORK/out2.png")" == 192x128 ]] || fail "POST /v1/upscale model=realesr-animevideov3-x4 answered $code"
pass "POST /v1/upscale model=realesr-animevideov3-x4 -> 200 192x128"
code=$(curl -s -o /dev/null -w '%{http_code}' -F "image=@$WORK/small.png" -F model=span-x4 "$URL/v1/upscale")
[[ "$code" == 409 ]] || fail "a model that is not baked in should answer 409, got $code"
pass "a model not in the image -> 409"
curl -fs "$URL/swagger-ui/swagger-ui-bundle.js" -o /dev/null || fail "Swagger UI assets not served"
curl -fs "$URL/" | grep -q swagger-ui || fail "GET / is not Swagger UI"
pass "Swagger UI served from /usr/share/enhance/swagger-ui"

if "${P[@]}" healthcheck run "$NAME" >"$WORK/hc.txt" 2>&1; then
    pass "podman healthcheck run (curl $URL/healthz inside the container) exit 0"
else
    cat "$WORK/hc.txt"; fail "podman healthcheck run"
fi
state=$("${P[@]}" inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null || "${P[@]}" inspect -f '{{.State.Healthcheck.Status}}' "$NAME")
[[ "$state" == healthy ]] || fail "health status is '$state'"
pass "health status: healthy"

# ---------------------------------------------------------------------------------------------------- memory
mem_stats() { "${P[@]}" stats --no-stream --no-reset --format '{{.MemUsage}}' "$NAME" 2>/dev/null | head -1 || true; }
idle_rss=$(kb VmRSS)
idle_stats=$(mem_stats)
pass "idle after the small jobs: RSS $((idle_rss / 1024)) MiB (podman stats: ${idle_stats:-n/a})"

log "a 256x256 realesrgan-x4plus job (memory sampled every 0.2 s)"
job_start=$(date +%s.%N)
curl -s -o "$WORK/out256.png" -w '%{http_code}' -F "image=@$WORK/256.png" "$URL/model/predict" >"$WORK/code256" &
curl_pid=$!
peak_rss=0; peak_stats=""
while kill -0 "$curl_pid" 2>/dev/null; do
    r=$(kb VmRSS); ((r > peak_rss)) && peak_rss=$r
    s=$(mem_stats); [[ -n "$s" ]] && peak_stats="$s"
    sleep 0.2
done
wait "$curl_pid" || true
job_s=$(python3 -c "import time; print(f'{time.time() - $job_start:.1f}')")
[[ "$(cat "$WORK/code256")" == 200 && "$(png_size "$WORK/out256.png")" == 1024x1024 ]] \
    || fail "256x256 job answered $(cat "$WORK/code256")"
hwm=$(kb VmHWM)
pass "256x256 -> 1024x1024 in ${job_s} s: peak sampled RSS $((peak_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB (podman stats near the end: ${peak_stats:-n/a})"

# ---------------------------------------------------------------------------------------------------- stop / drain
if ((stop_test)); then
    log "podman stop while a job is in flight (SIGTERM: /readyz fails, the job finishes, exit 0)"
    job=$(curl -fs -X POST "$URL/v1/jobs/reserve" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') \
        || fail "POST /v1/jobs/reserve did not give a job id"
    curl -s -o "$WORK/drain.png" -w '%{http_code}' -H 'X-Request-Id: drain-1' -H "X-Enhance-Job-Id: $job" -F "image=@$WORK/512.png" \
        -F model=realesr-animevideov3-x4 "$URL/v1/upscale" >"$WORK/code_drain" &
    curl_pid=$!
    running=0
    for _ in $(seq 300); do
        if curl -fs "$URL/v1/jobs/$job" 2>/dev/null | grep -q '"running"'; then running=1; break; fi
        sleep 0.05
    done
    ((running)) || fail "the drain test's job was never seen running"
    stop_start=$(date +%s.%N)
    "${P[@]}" stop -t 60 "$NAME" >/dev/null 2>&1 &
    stop_pid=$!
    sleep 0.5
    rz=$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" || true)
    wait "$curl_pid" || true
    wait "$stop_pid" || fail "podman stop"
    stop_s=$(python3 -c "import time; print(f'{time.time() - $stop_start:.1f}')")
    exit_code=$("${P[@]}" inspect -f '{{.State.ExitCode}}' "$NAME")
    [[ "$rz" == 503 ]] || fail "/readyz answered $rz during the drain, expected 503"
    [[ "$(cat "$WORK/code_drain")" == 200 ]] || { logs; fail "the job in flight answered $(cat "$WORK/code_drain") during the drain"; }
    [[ "$exit_code" == 0 ]] || { logs; fail "the server exited with $exit_code after SIGTERM"; }
    "${P[@]}" logs "$NAME" 2>&1 | grep -q 'drain-1.*status=200' || { logs; fail "the server did not log the drained job"; }
    pass "/readyz 503 while draining, the job in flight got 200, exit code 0 after ${stop_s} s (no SIGKILL)"
fi

# ---------------------------------------------------------------------------------------------------- kube play
# deploy/kubernetes/deployment.yaml itself, run by `podman kube play` with one replica on the host network (the
# image name and port rewritten): its command and args, the security context (non-root, read-only root, no
# capabilities, no privilege escalation) and the /tmp emptyDir must give a working server.
if ((kube_test)); then
    log "podman kube play deploy/kubernetes/deployment.yaml"
    kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 - "$REPO/deploy/kubernetes/deployment.yaml" "$IMAGE" "$kport" >"$WORK/kube.yaml" <<'EOF2' || fail "rewriting deployment.yaml"
import re, sys
text, image, port = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
subs = [(r"(?m)^  replicas: \d+$", "  replicas: 1"),
        (r"(?m)^(\s+)image: \S+$", r"\1image: " + image),
        (r"(?m)^(\s+)- --host=0\.0\.0\.0$", r"\1- --host=127.0.0.1"),
        (r"(?m)^(\s+)- --port=5000$", r"\1- --port=" + port),
        (r"(?m)^(\s+)port: http$", r"\1port: " + port),
        # host network: no port mappings
        (r"(?m)^\s+ports:\n\s+- name: http\n\s+containerPort: 5000\n\s+protocol: TCP\n", ""),
        (r"(?m)^(\s+)automountServiceAccountToken: false$", r"\1automountServiceAccountToken: false\n\1hostNetwork: true")]
for pattern, repl in subs:
    text, n = re.subn(pattern, repl, text)
    if n == 0:
        sys.exit(f"deployment.yaml: no match for {pattern}")
print(text)
EOF2
    # kube play takes no --ulimit: the same limits as default_ulimits.
    cat >"$WORK/containers.conf" <<EOF2
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
EOF2
    "${P[@]}" pod rm -f enhance-pod-0 >/dev/null 2>&1 || true
    CONTAINERS_CONF="$WORK/containers.conf" "${P[@]}" kube play "$WORK/kube.yaml" >"$WORK/kube-play.log" 2>&1 \
        || { cat "$WORK/kube-play.log"; fail "podman kube play"; }
    kname=enhance-pod-0-enhance
    ready=0
    for _ in $(seq 600); do
        curl -fs "http://127.0.0.1:$kport/readyz" >/dev/null 2>&1 && { ready=1; break; }
        sleep 0.1
    done
    ((ready)) || { "${P[@]}" logs "$kname" 2>&1 | tail -20; "${P[@]}" pod rm -f enhance-pod-0 >/dev/null 2>&1; fail "kube play: /readyz"; }
    code=$(curl -s -o "$WORK/kube.png" -w '%{http_code} %{content_type}' -F "image=@$WORK/small.png" "http://127.0.0.1:$kport/model/predict")
    sec=$("${P[@]}" inspect -f '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{len .EffectiveCaps}} {{.HostConfig.SecurityOpt}}' "$kname")
    inside=$("${P[@]}" exec "$kname" sh -c 'id -u; touch /x 2>/dev/null && echo root-writable; touch /tmp/x && echo tmp-writable')
    "${P[@]}" pod stop -t 30 enhance-pod-0 >/dev/null 2>&1 || true
    kexit=$("${P[@]}" inspect -f '{{.State.ExitCode}}' "$kname")
    "${P[@]}" pod rm -f enhance-pod-0 >/dev/null 2>&1 || true
    [[ "$code" == "200 image/png" ]] || fail "kube play: /model/predict answered $code"
    [[ "$sec" == "true 10001"* && "$sec" == *" 0 "* && "$sec" == *no-new-privileges* ]] || fail "kube play: security settings $sec"
    [[ "$inside" == $'10001\ntmp-writable' ]] || fail "kube play: inside the pod: $inside"
    [[ "$kexit" == 0 ]] || fail "kube play: exit code $kexit after pod stop"
    pass "kube play: Ready, /model/predict 200, uid 10001, read-only root, /tmp writable, no capabilities, exit 0 on stop"
fi

# ---------------------------------------------------------------------------------------------------- figures
gz=$("${P[@]}" save --format docker-archive "$IMAGE" 2>/dev/null | gzip -1 | wc -c)
echo
echo "container_test: all checks passed ($mode build, ${build_s} s; total $(( $(date +%s) - T0 )) s)"
python3 -c 'import sys; print("  image %s: %.0f MB uncompressed (podman image inspect .Size), %.0f MB as a gzip -1 docker archive" % (sys.argv[1], int(sys.argv[2]) / 1e6, int(sys.argv[3]) / 1e6))' \
    "$IMAGE" "$size_bytes" "$gz"
"${P[@]}" images --format '  {{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"
printf '  ready after %s s (RSS %d MiB); idle RSS %d MiB; 256x256 x4plus job %s s, peak RSS %d MiB (VmHWM %d MiB)\n' \
    "$ready_s" $((ready_rss / 1024)) $((idle_rss / 1024)) "$job_s" $((peak_rss / 1024)) $((hwm / 1024))
if ((keep)); then
    if ((stop_test)); then "${P[@]}" start "$NAME" >/dev/null; fi
    echo "  container $NAME kept on $URL (stop: ${P[*]} stop $NAME)"
fi
