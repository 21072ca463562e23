#!/usr/bin/env bash
# Validate the Kubernetes manifests in deploy/kubernetes/ offline against the API schemas of Kubernetes 1.30
# (strict: unknown fields are errors), with a pinned kubernetes-validate (it ships the schemas; no cluster and
# no network needed once installed). Then a few checks of our own that a schema cannot express: the probes,
# the security context, the grace period against the drain settings, the HPA and PDB selectors.
#
#   scripts/validate_k8s.sh [KUBERNETES_VERSION]        (default 1.30.0)
#
# The tool is installed once into .build-k8s/venv (git-ignored). Environment: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSION="${1:-1.30.0}"
PYTHON="${PYTHON:-python3}"
VENV=.build-k8s/venv
# kubernetes-validate and the versions of its dependencies it was checked with.
PINS=(kubernetes-validate==1.37.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
      rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.3 packaging==26.3 importlib_resources==7.1.0
      typing_extensions==4.16.0)

if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q '1\.37\.0'; then
    echo "validate_k8s: installing ${PINS[0]} into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi

shopt -s nullglob
files=(deploy/kubernetes/*.yaml)
((${#files[@]})) || { echo "validate_k8s: no manifests in deploy/kubernetes" >&2; exit 1; }

echo "== kubernetes-validate --strict -k $K8S_VERSION ${files[*]}"
"$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "${files[@]}"

echo "== consistency checks"
"$VENV/bin/python" - "${files[@]}" <<'EOF'
import re
import sys

import yaml

docs = {}
for path in sys.argv[1:]:
    with open(path) as fh:
        for doc in yaml.safe_load_all(fh):
            if doc:
                docs[doc["kind"]] = doc
problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)


for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
    check(kind in docs, f"no {kind}")
if problems:
    sys.exit("validate_k8s: " + "; ".join(problems))

dep, svc, hpa, pdb = (docs[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"))
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"]["labels"]
(c,) = pod["containers"]
args = dict(a[2:].split("=", 1) for a in c["args"] if a.startswith("--") and "=" in a)

check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), "Deployment selector does not match its pods")
check(svc["spec"]["selector"].items() <= labels.items(), "Service selector does not match the pods")
check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), "PDB selector does not match the pods")
check(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA does not target the Deployment")
check(hpa["spec"]["minReplicas"] >= 2, "HPA minReplicas below 2: a drain would leave no replica")

check(c["command"] == ["enhance"] and c["args"][0] == "serve", "the container does not run `enhance serve`")
check(args.get("host") == "0.0.0.0", "--host must be 0.0.0.0 in a pod")
port = int(args.get("port", "5000"))
check(any(p["containerPort"] == port and p["name"] == "http" for p in c["ports"]), "containerPort http != --port")
check(any(p["targetPort"] in ("http", port) for p in svc["spec"]["ports"]), "Service targetPort is not the server's")
check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe is not /healthz")
check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe is not /readyz")

sc, psc = c["securityContext"], pod["securityContext"]
check(psc.get("runAsNonRoot") is True, "runAsNonRoot")
check(psc.get("runAsUser") == 10001, "runAsUser is not the image's user 10001")
check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile RuntimeDefault")
check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
check(bool(tmp) and any(v["name"] == tmp[0]["name"] and "emptyDir" in v for v in pod["volumes"]),
      "no emptyDir at /tmp ($TMPDIR) for the read-only root file system")



def quantity(q):
    """A Kubernetes quantity (2, 500m, 1536Mi, 2G, ...) as a number, or None when it is not one."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(q))
    if not m:
        return None
    mult = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return float(m.group(1)) * mult


res = c["resources"]
check("memory" in res["requests"] and "memory" in res["limits"], "memory request and limit")
check("cpu" in res["requests"], "a CPU request (the HPA's utilisation is relative to it)")
for section in ("requests", "limits"):
    for name, q in res.get(section, {}).items():
        check(quantity(q) is not None, f"resources.{section}.{name} {q!r} is not a quantity")
req_mem, lim_mem = quantity(res["requests"].get("memory")), quantity(res["limits"].get("memory"))
check(req_mem is not None and lim_mem is not None and req_mem <= lim_mem, "memory request above the limit")
check(args.get("threads") == str(res["requests"]["cpu"]), "--threads should equal the CPU request")

pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_s = float(pre[1]) if pre[:1] == ["sleep"] else 0.0
need = pre_s + float(args.get("drain-delay", 0)) + float(args.get("deadline", 300))
check(pod["terminationGracePeriodSeconds"] >= need,
      f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} < preStop + drain-delay + deadline = {need:g}")

if problems:
    sys.exit("validate_k8s: FAIL:\n  " + "\n  ".join(problems))
print(f"validate_k8s: ok ({len(sys.argv) - 1} files; grace {pod['terminationGracePeriodSeconds']} s >= {need:g} s)")
EOF
