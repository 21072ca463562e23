#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (AddressSanitizer + coverage, into .build-fuzz) and runs each on a copy of its
# committed seed corpus for SECONDS (default 60). Before fuzzing, every saved input in Fuzz/Regressions/<target>/ is
# replayed once. Exits non-zero when a build fails, a regression input still fails, or fuzzing left a crash, timeout,
# out-of-memory or leak artifact (their paths are printed). Arguments after `--` go to every libFuzzer run
# (e.g. `-- -jobs=2 -workers=2`, `-- -seed=1`).
#
#   scripts/fuzz.sh [--time SECONDS] [--build-only] [TARGET...] [-- LIBFUZZER_ARGS...]
#
# Targets: ncnn pytorch safetensors upload outputsize (default: all). The working corpus grows in
# .build-fuzz/corpus/<target>/ across runs; artifacts go to .build-fuzz/artifacts/<target>/, logs to
# .build-fuzz/logs/<target>.log. .build-fuzz is this script's own scratch path: build nothing else into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

ALL=(ncnn pytorch safetensors upload outputsize)
seconds=60 build_only=0 targets=() extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds="$2"; shift 2 ;;
        --time=*) seconds="${1#--time=}"; shift ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [[ " ${ALL[*]} " == *" $1 "* ]] || { echo "fuzz.sh: unknown target '$1'; targets: ${ALL[*]}" >&2; exit 2; }
           targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --time needs whole seconds, got '$seconds'" >&2; exit 2; }

SCRATCH=.build-fuzz
export SWIFT_BACKTRACE=enable=no   # let libFuzzer and ASan report traps (the Swift backtracer confuses ASan)
BIN=$SCRATCH/bin
SANITIZE=(-sanitize=fuzzer,address)
mkdir -p "$BIN" "$SCRATCH/logs"
wants() { local t; for t in "${targets[@]}"; do [[ " $* " == *" $t "* ]] && return 0; done; return 1; }
quiet() {   # runs a command, showing its output without ld.gold's noise about ASan's local symbols
    local out=$SCRATCH/logs/last-command.log rc=0
    "$@" >"$out" 2>&1 || rc=$?
    grep -v "Cannot export local symbol" "$out" || true
    return $rc
}

# -- build -------------------------------------------------------------------------------------------------------------
failed=()
start=$(date +%s)
spm() {   # compiles a package target and its dependencies, instrumented, without linking
    echo "== swift build --target $1 (instrumented, $SCRATCH)"
    local log=$SCRATCH/logs/build-$1.log
    if swift build --scratch-path "$SCRATCH" --target "$1" -Xswiftc -sanitize=fuzzer,address >"$log" 2>&1; then
        tail -1 "$log"
    else
        grep -E "error:" "$log" | head -20 >&2
        echo "fuzz.sh: swift build --target $1 failed; full log: $log" >&2
        return 1
    fi
}
weights_ok=0 server_ok=0
if wants ncnn pytorch safetensors upload; then spm SRWeights && weights_ok=1 || true; fi
if wants upload; then spm SRServer && server_ok=1 || true; fi
DEBUG=$SCRATCH/debug
link() {   # link TARGET: builds $BIN/fuzz-TARGET from Fuzz/TARGET.swift
    local t=$1 ok=1
    case $t in
        ncnn|pytorch|safetensors)
            [ $weights_ok = 1 ] || ok=0
            [ $ok = 0 ] || quiet swiftc "${SANITIZE[@]}" -parse-as-library -swift-version 6 -module-name "Fuzz_$t" \
                -I "$DEBUG/Modules" "Fuzz/$t.swift" "$DEBUG"/SRCore.build/*.o "$DEBUG"/SRWeights.build/*.o \
                -o "$BIN/fuzz-$t" || ok=0 ;;
        upload)
            [ $server_ok = 1 ] || ok=0
            if [ $ok = 1 ]; then
                # Every object of SRServer's closure (all that .build-fuzz holds but tests and executables), and the
                # C module maps SwiftPM gave SRServer's compile. MultipartKit is recompiled optimised: at -Onone its
                # byte-at-a-time ByteBuffer reads made this target 4x slower.
                local objs xcc opt
                mkdir -p "$SCRATCH/opt"
                if [ ! "$SCRATCH/opt/MultipartKit.o" -nt "$DEBUG/Modules/MultipartKit.swiftmodule" ]; then
                    mapfile -t opt < <(python3 Fuzz/swiftpm_args.py "$SCRATCH/debug.yaml" optimised MultipartKit)
                    quiet swiftc "${opt[@]}" -o "$SCRATCH/opt/MultipartKit.o" || ok=0
                fi
                # Local targets outside SRServer's dependency closure are left out: .build-fuzz may hold stale objects
                # of targets SRServer used to depend on (the oneDNN backend, before the engine stopped importing it).
                local others
                others=$(swift package describe --type json 2>/dev/null | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
seen, stack = set(), ["SRServer"]
while stack:
    name = stack.pop()
    if name in seen or name not in targets:
        continue
    seen.add(name)
    stack += targets[name].get("target_dependencies", [])
print("|".join(sorted(set(targets) - seen)))') || ok=0
                mapfile -t objs < <(find -L "$DEBUG"/ -path '*.build/*' -name '*.o' \
                    | grep -v -E "/(${others:-enhance}|[^/]*Tests|[^/]*-tool|EnhancePackage[^/]*|MultipartKit)\.build/" | sort)
                mapfile -t xcc < <(python3 Fuzz/swiftpm_args.py "$SCRATCH/debug.yaml" xcc SRServer)
                [ $ok = 0 ] || quiet swiftc "${SANITIZE[@]}" -parse-as-library -swift-version 6 -module-name Fuzz_upload \
                    -I "$DEBUG/Modules" "${xcc[@]}" Fuzz/upload.swift "${objs[@]}" "$SCRATCH/opt/MultipartKit.o" \
                    $(pkg-config --libs vips) -ldnnl -lgomp -o "$BIN/fuzz-upload" || ok=0
            fi ;;
        outputsize)   # OutputSize.swift imports nothing: one module with the target, no package build
            quiet swiftc "${SANITIZE[@]}" -parse-as-library -swift-version 6 -module-name Fuzz_outputsize \
                Sources/SREngine/OutputSize.swift Fuzz/outputsize.swift -o "$BIN/fuzz-outputsize" || ok=0 ;;
    esac
    [ $ok = 1 ] || { echo "fuzz.sh: building fuzz-$t failed" >&2; failed+=("$t (build)"); }
    return 0
}
for t in "${targets[@]}"; do link "$t"; done
echo "== build: $(( $(date +%s) - start )) s"
[ $build_only = 1 ] && { [ ${#failed[@]} -eq 0 ] || exit 1; exit 0; }

# -- run ---------------------------------------------------------------------------------------------------------------
artifacts=()
summary=()
for t in "${targets[@]}"; do
    [ -x "$BIN/fuzz-$t" ] && [[ " ${failed[*]-} " != *" $t (build)"* ]] || continue
    corpus=$SCRATCH/corpus/$t art=$SCRATCH/artifacts/$t log=$SCRATCH/logs/$t.log
    mkdir -p "$corpus" "$art"
    rm -f "$art"/*
    cp -n Fuzz/Corpus/"$t"/* "$corpus"/ 2>/dev/null || true

    regressions=(Fuzz/Regressions/"$t"/*)
    if [ -e "${regressions[0]}" ]; then
        bad=0
        : >"$SCRATCH/logs/$t.regressions.log"
        for r in "${regressions[@]}"; do
            "$BIN/fuzz-$t" -rss_limit_mb=2048 -timeout=10 "$r" >>"$SCRATCH/logs/$t.regressions.log" 2>&1 \
                || { bad=1; echo "   still fails: $r" >&2; }
        done
        echo "== $t: ${#regressions[@]} regression input(s) replayed$([ $bad = 1 ] && echo ', some still fail')"
        [ $bad = 0 ] || failed+=("$t (regressions)")
    fi

    echo "== $t: fuzzing for $seconds s"
    dict=()
    [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=(-dict="Fuzz/Dictionaries/$t.dict")
    set +e
    "$BIN/fuzz-$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$art/" ${dict[@]+"${dict[@]}"} ${extra[@]+"${extra[@]}"} "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 || true)
    line="$t: ${execs:-?} executions (${rate:-?}/s), ${cov:-no coverage line}, exit $rc"
    summary+=("$line")
    echo "   $line"
    found=("$art"/*)
    if [ -e "${found[0]}" ]; then
        artifacts+=("${found[@]}")
        {   # the error, then the top of the symbolised stack without the sanitizer's and the runtime's frames
            grep -E -m1 "Fatal error|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)" "$log"
            grep -E "^ +#[0-9]+ " "$log" | grep -v -E "sanitizer|fuzzer::|libswiftCore|libc\.so|assertionFailure" | head -8
        } | sed 's/^ */   | /' || true
    elif [ $rc -ne 0 ]; then
        failed+=("$t (libFuzzer exit $rc, see $log)")
    fi
done

echo "== summary"
for s in ${summary[@]+"${summary[@]}"}; do echo "   $s"; done
status=0
if [ ${#artifacts[@]} -gt 0 ]; then
    status=1
    echo "Artifacts (reproduce: $BIN/fuzz-TARGET FILE; minimise: $BIN/fuzz-TARGET -minimize_crash=1 -runs=100000 FILE;" \
         "keep the minimised input under Fuzz/Regressions/TARGET/):"
    for a in "${artifacts[@]}"; do echo "   $a"; done
fi
if [ ${#failed[@]} -gt 0 ]; then
    status=1
    echo "Failed: ${failed[*]}"
fi
exit $status
