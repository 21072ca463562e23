#!/usr/bin/env python3
"""Reads the swiftc command SwiftPM used for a module (from SCRATCH/debug.yaml) and prints arguments, one a line.

  swiftpm_args.py DEBUG_YAML xcc MODULE        the -Xcc pairs (C module maps, include paths) of that compile: what a
                                               module importing MODULE needs to find the same C modules
  swiftpm_args.py DEBUG_YAML optimised MODULE  the same compile, optimised (-O, whole module) into one object file:
                                               append `-o FILE.o`
Used by scripts/fuzz.sh.
"""
import json, re, sys

yaml_path, mode, module = sys.argv[1:4]
lines = open(yaml_path).read().splitlines()
args = None
for i, line in enumerate(lines):
    if re.match(r'\s*"C\.%s-[^"]*-debug\.module":' % re.escape(module), line):
        args = next(json.loads(l.strip()[len("args:"):]) for l in lines[i:i + 40] if l.strip().startswith("args:"))
        break
if args is None:
    sys.exit("swiftpm_args.py: no compile command for module %s in %s" % (module, yaml_path))

if mode == "xcc":
    for j, a in enumerate(args[:-1]):
        if a == "-Xcc":
            print("-Xcc")
            print(args[j + 1])
elif mode == "optimised":
    drop = {"-emit-dependencies", "-emit-module", "-incremental", "-enable-batch-mode", "-serialize-diagnostics",
            "-Onone", "-parseable-output", "-emit-objc-header", "-c"}
    drop_with_value = {"-emit-module-path", "-output-file-map", "-index-store-path", "-emit-objc-header-path"}
    out, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in drop_with_value:
            skip = True
        elif a not in drop and not re.match(r"-j\d+$", a):
            out.append(a)
    print("\n".join(out + ["-O", "-whole-module-optimization", "-c"]))
else:
    sys.exit("swiftpm_args.py: mode is xcc or optimised")
