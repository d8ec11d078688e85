#!/usr/bin/env bash
# A/B runs of the CUDA backend's options on a GPU machine, in one process
# each, on the files of bench/gpu/run.sh (made here the same way when
# missing, so run.sh then reuses them):
#  1. correctness of the options that are not the default: the mapped read
#     (SLUICE_CUDA_READ=mmap) with 1 MiB chunks, so lines straddle many
#     chunks, and per-block partial rows (SLUICE_CUDA_SMEM=1): Q1-Q6 on
#     the small clean and messy logs against the oracle;
#  2. device-only Q1-Q6 with partial rows on/off and the parse kernel's
#     launch bound (SLUICE_CUDA_MIN_BLOCKS: blocks of 256 threads an SM);
#  3. warm Q1-Q6, pread into pinned memory against mmap + copy.
# Writes $OUT/ab.jsonl and $OUT/ab.env: the variables of the fastest
# variants (by the sum over Q1-Q6; the mapped read only when it is 3% faster).
#   bench/gpu/ab.sh [GB]        (default 4)
set -uo pipefail
cd "$(dirname "$0")/../.."
gb="${1:-4}"
SLUICE="$(realpath "${SLUICE:-build/sluice}")"
res="${OUT:-gpu-results}"
data="${SLUICE_GPU_DATA:-/tmp/sluice-gpu}"
py=python3
mkdir -p "$res" "$data"
: > "$res/ab.jsonl"
[ -s "$data/small.jsonl" ] || "$SLUICE" gen --rows 300000 --seed 7 -o "$data/small.jsonl"
[ -s "$data/messy.jsonl" ] || "$SLUICE" gen --rows 300000 --seed 8 --messy -o "$data/messy.jsonl"
[ -s "$data/small_article.jsonl" ] || "$SLUICE" gen --rows 300000 --seed 9 --kind article -o "$data/small_article.jsonl"
if [ ! -s "$data/logs.jsonl" ]; then   # as bench/gpu/run.sh makes them
  per=$(( gb * 1000 / 8 ))
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((100+i)) -o "$data/logs.$i" & done; wait
  for i in 0 1 2 3 4 5 6 7; do "$SLUICE" gen --bytes ${per}M --seed $((200+i)) --kind article -o "$data/art.$i" & done; wait
  cat "$data"/logs.? > "$data/logs.jsonl"; rm -f "$data"/logs.?
  cat "$data"/art.? > "$data/article.jsonl"; rm -f "$data"/art.?
fi
$py -c 'import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$data/logs.jsonl" "$data/article.jsonl"
for f in "$data/logs.jsonl" "$data/article.jsonl"; do dd if="$f" of=/dev/null bs=8M status=none; done

echo "== options off by default, against the oracle"
for f in small messy small_article; do
  qs="q1 q2 q3 q4 q5"; [ $f = small_article ] && qs=q6
  for q in $qs; do
    SLUICE_CUDA_READ=mmap SLUICE_CUDA_CHUNK_MB=1 SLUICE_CUDA_SMEM=1 "$SLUICE" bench-device \
      --file "$data/$f.jsonl" --query $q --output "$data/$f.$q.ab.jsonl" 2>>"$res/ab.log"
    if $py bench/gpu/oracle.py check $q "$data/$f.jsonl" "$data/$f.$q.ab.jsonl" >"$data/ab.check" 2>&1; then
      echo "mmap + partial rows $q $f: $(cat "$data/ab.check")"
    else
      echo "mmap + partial rows $q $f: MISMATCH"; head -5 "$data/ab.check"
    fi
  done
done
tag() { $py -c "import json,sys; r=json.loads(sys.stdin.read()); r['variant']='$1'; print(json.dumps(r))"; }
echo "== device-only: partial rows, launch bound; warm: pread, mmap"
for q in q1 q2 q3 q4 q5 q6; do
  f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
  for v in "0 1" "0 4" "1 4"; do
    set -- $v
    SLUICE_CUDA_SMEM=$1 SLUICE_CUDA_MIN_BLOCKS=$2 "$SLUICE" bench-device --file "$f" --query $q \
      --resident 5 2>&1 >/dev/null | grep '^{' | tag "SLUICE_CUDA_SMEM=$1 SLUICE_CUDA_MIN_BLOCKS=$2" >> "$res/ab.jsonl"
  done
done
for round in 1; do
  for q in q1 q2 q3 q4 q5 q6; do
    f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
    for rd in pread mmap; do
      SLUICE_CUDA_READ=$rd SLUICE_TRACE=1 "$SLUICE" bench-device --file "$f" --query $q \
        --parquet "$data/$q.ab.parquet" 2>&1 >/dev/null | tee -a "$res/ab.log" | grep '^{' | \
        tag "SLUICE_CUDA_READ=$rd" >> "$res/ab.jsonl"
    done
  done
done
$py - "$res/ab.jsonl" "$res/ab.env" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
tot = collections.defaultdict(float)
for r in rows:
    print(f"{r['query']} {r['variant']:42} {r['mode']:12} {r['seconds']:.4f} s {r['gb_per_s']:7.2f} GB/s"
          + (f"  host read {r['h2d_seconds']:.4f} s" if r['mode'] == 'end-to-end' else ""))
    tot[(r['mode'], r['variant'])] += r['seconds']
for k, v in sorted(tot.items()):
    print(f"sum {k[0]:12} {k[1]:42} {v:.4f} s")
dev = min((v, k[1]) for k, v in tot.items() if k[0] == "device-only")[1]
pr, mm = tot[("end-to-end", "SLUICE_CUDA_READ=pread")], tot[("end-to-end", "SLUICE_CUDA_READ=mmap")]
read = "SLUICE_CUDA_READ=mmap" if mm < pr * 0.97 else "SLUICE_CUDA_READ=pread"
with open(sys.argv[2], "w") as f:
    for kv in dev.split() + [read]:
        f.write(f"export {kv}\n")
print("chosen:", dev, read)
PY
