"""Which crates a binary's code comes from (stdlib + binutils' nm; a rough `cargo bloat --crates`).

Usage: python3 infra/bench_crates.py BINARY [N]   → markdown table of the N largest crates.

Needs the symbol table: build with `CARGO_PROFILE_RELEASE_STRIP=false` (bench.sh says how).
Each function or data symbol counts for the crate its demangled path starts with (`<T as
crate::Trait>` counts for T's crate); C and assembly symbols (ring, the C library) are grouped.
"""

import collections
import re
import subprocess
import sys

binary = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
out = subprocess.run(["nm", "-C", "--size-sort", "-S", binary], capture_output=True, text=True).stdout
sizes = collections.Counter()
total = 0
for line in out.splitlines():
    parts = line.split(" ", 3)
    if len(parts) < 4 or parts[2] in "bBuU":
        continue
    size = int(parts[1], 16)
    name = parts[3]
    total += size
    m = re.match(r"^<(?:&(?:mut )?)?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)::", name) or re.match(r"^([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m:
        crate = m.group(1)
    elif "::" in name or name.startswith("<"):
        crate = "(other Rust: closures, generic impls)"
    else:
        crate = "(C/assembly: ring, libc, …)"
    sizes[crate] += size
if not total:
    print("(no symbol table: stripped binary)")
    sys.exit(0)
print(f"| crate | code and data, MB | share of {total / 1e6:.2f} MB in symbols |")
print("|---|---|---|")
for crate, size in sizes.most_common(top):
    print(f"| {crate} | {size / 1e6:.3f} | {100 * size / total:.1f} % |")
