#!/usr/bin/env bash
# A/B runs of the CUDA backend's options on a GPU machine, in one process
# each, on the files of bench/gpu/run.sh (made here the same way when
# missing, so run.sh then reuses them):
#  0. bench/gpu/hostread on the 4 GB log file (when build-cuda/hostread or
#     $HOSTREAD exists, unless SLUICE_AB_HOSTREAD=0): every way of handing the cached file to the GPU,
#     registration on 1-16 threads in 64 MiB-1 GiB windows included; the
#     fastest registration pipeline it measured sets SLUICE_CUDA_REG_THREADS
#     and SLUICE_CUDA_REG_MB for the register read below, the fastest pread
#     pipeline in pieces under 128 MiB SLUICE_CUDA_PIECE_MB and
#     SLUICE_CUDA_PIECE_AHEAD for the pieces read (unless they are set);
#  1. correctness of the options and sizes that are not the default: the
#     mapped read (SLUICE_CUDA_READ=mmap, memory copied into the ring) with
#     1 MiB chunks, so lines straddle many chunks and pieces, and per-block
#     partial rows (SLUICE_CUDA_SMEM=1); the registered read
#     (SLUICE_CUDA_READ=register) with 1 MiB chunks and 1 MiB windows, so
#     chunks straddle windows; pread through a ring of 1 MiB pieces in 2-3
#     MiB chunks; the two 1 MiB staging buffers (SLUICE_CUDA_PIECE_MB=0):
#     Q1-Q6 on the small clean and messy logs against the oracle
#     (SLUICE_AB_CHECKS picks among "mmap register pieces staging");
#  2. device-only Q1-Q6 with partial rows on/off and the parse kernel's
#     launch bound (SLUICE_CUDA_MIN_BLOCKS: blocks of 256 threads an SM);
#     SLUICE_AB_DEVICE_ONLY=0 skips it;
#  3. warm Q1-Q6 with each read mode (SLUICE_AB_READS, default "pread
#     staging mmap register"; pread is the default ring, staging the 128 MiB
#     buffers, pieces:MB:AHEAD names a ring, chunk:MB a chunk size), alternating,
#     SLUICE_AB_ROUNDS rounds (default 3); each
#     mode's Parquet results must equal pread's (pyarrow, floats within
#     1e-9 relative);
#  4. one command (`sluice query --device gpu`) for Q1 and Q4 with each read
#     mode, traced: loading the backend, opening the device, the read
#     (SLUICE_AB_COLD=0 skips it; SLUICE_AB_COLD_QUERIES picks the queries).
# Writes $OUT/ab.jsonl and $OUT/ab.env: the variables of the fastest
# variants (by the sum over Q1-Q6 of each query's best round; another read
# mode only when it is 3% faster than pread and its results equal pread's).
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
ab_fail=0
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

hostread="${HOSTREAD:-build-cuda/hostread}"
[ -x "$hostread" ] || hostread="$(dirname "$SLUICE")/hostread"
if [ -x "$hostread" ] && [ "${SLUICE_AB_HOSTREAD:-1}" != 0 ]; then
  echo "== hostread: the 4 GB log file to the GPU"
  "$hostread" "$data/logs.jsonl" > "$res/hostread.jsonl" 2>>"$res/ab.log"
  best=$($py - "$res/hostread.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for r in rows:
    w = r.get("what")
    if w is None:
        print(f"  {r}", file=sys.stderr)
    elif w == "pread pipeline":
        print(f"  {w:18} {r['threads']:2}t {r['piece_mb']:5} MiB pieces, {r['slots']} ahead  {r['seconds']:.4f} s"
              f" {r['gb_per_s']:6.2f} GB/s  reading {r['read_s']:.4f} s cpu {r['cpu_s']:.3f} s", file=sys.stderr)
    elif w == "register windows":
        print(f"  {w:18} {r['threads']:2}t {r['win_mb']:5} MiB  register {r['register_s']:.4f} s"
              f" ({r['register_gb_per_s']:.1f} GB/s) unregister {r['unregister_s']:.4f} s cpu {r['cpu_s']:.3f} s"
              + (f" FAILED {r['failed']}" if r['failed'] else ""), file=sys.stderr)
    elif w == "register pipeline":
        print(f"  {w:18} {r['copy']:6} {r['threads']:2}t {r['win_mb']:5} MiB  {r['seconds']:.4f} s"
              f" {r['gb_per_s']:6.2f} GB/s  all {r['seconds_all']:.4f} s cpu {r['cpu_s']:.3f} s"
              f" reg cpu {r['reg_cpu_s']:.3f} s" + (f" FAILED {r['failed']}" if r['failed'] else ""),
              file=sys.stderr)
    else:
        print(f"  {w:34} {r['threads']:2}t {r['seconds']:.4f} s {r['gb_per_s']:6.2f} GB/s", file=sys.stderr)
pipe = [r for r in rows if r.get("what") == "register pipeline" and r["copy"] == "dma" and not r["failed"]]
b = min(pipe, key=lambda r: r["seconds"]) if pipe else {"threads": 8, "win_mb": 256}
pp = [r for r in rows if r.get("what") == "pread pipeline" and r["piece_mb"] < 128 and not r["failed"]]
c = min(pp, key=lambda r: r["seconds"]) if pp else {"piece_mb": 16, "slots": 2}
print(f"{b['threads']} {b['win_mb']} {c['piece_mb']} {c['slots']}")
PY
)
  set -- $best
  reg_t=$1 reg_mb=$2 piece_mb=$3 piece_ahead=$4
fi
# The register and pieces reads use the fastest settings hostread measured.
reg_t="${SLUICE_CUDA_REG_THREADS:-${reg_t:-8}}" reg_mb="${SLUICE_CUDA_REG_MB:-${reg_mb:-256}}"
piece_mb="${SLUICE_CUDA_PIECE_MB:-${piece_mb:-16}}" piece_ahead="${SLUICE_CUDA_PIECE_AHEAD:-${piece_ahead:-2}}"
read_env() {
  case $1 in
    register) echo "SLUICE_CUDA_READ=register SLUICE_CUDA_REG_THREADS=$reg_t SLUICE_CUDA_REG_MB=$reg_mb" ;;
    pieces) echo "SLUICE_CUDA_READ=pread SLUICE_CUDA_PIECE_MB=$piece_mb SLUICE_CUDA_PIECE_AHEAD=$piece_ahead" ;;
    staging) echo "SLUICE_CUDA_READ=pread SLUICE_CUDA_PIECE_MB=0" ;;
    pieces:*:*) set -- ${1//:/ }; echo "SLUICE_CUDA_READ=pread SLUICE_CUDA_PIECE_MB=$2 SLUICE_CUDA_PIECE_AHEAD=$3" ;;
    chunk:*) echo "SLUICE_CUDA_READ=pread SLUICE_CUDA_CHUNK_MB=${1#chunk:}" ;;
    *) echo "SLUICE_CUDA_READ=$1" ;;
  esac
}
echo "register read: $(read_env register); pread in pieces: $(read_env pieces)"

echo "== options off by default, against the oracle"
for f in small messy small_article; do
  qs="q1 q2 q3 q4 q5"; [ $f = small_article ] && qs=q6
  for q in $qs; do
    for v in "mmap + partial rows:SLUICE_CUDA_READ=mmap SLUICE_CUDA_SMEM=1" \
             "register with 1 MiB windows:SLUICE_CUDA_READ=register SLUICE_CUDA_REG_MB=1" \
             "pieces of 1 MiB, 4 ahead, 3 MiB chunks:SLUICE_CUDA_CHUNK_MB=3 SLUICE_CUDA_PIECE_MB=1" \
             "pieces of 1 MiB, 2 ahead, 2 MiB chunks:SLUICE_CUDA_CHUNK_MB=2 SLUICE_CUDA_PIECE_MB=1 SLUICE_CUDA_PIECE_AHEAD=2" \
             "staging buffers of 1 MiB chunks:SLUICE_CUDA_PIECE_MB=0"; do
      case " ${SLUICE_AB_CHECKS:-mmap register pieces staging} " in *" ${v%% *} "*) ;; *) continue ;; esac
      rm -f "$data/$f.$q.ab.jsonl"
      env SLUICE_CUDA_CHUNK_MB=1 ${v#*:} "$SLUICE" bench-device \
        --file "$data/$f.jsonl" --query $q --output "$data/$f.$q.ab.jsonl" 2>>"$res/ab.log"
      if $py bench/gpu/oracle.py check $q "$data/$f.jsonl" "$data/$f.$q.ab.jsonl" >"$data/ab.check" 2>&1; then
        echo "${v%%:*} $q $f: $(cat "$data/ab.check")"
      else
        echo "${v%%:*} $q $f: MISMATCH"; head -5 "$data/ab.check"; ab_fail=1
      fi
    done
  done
done
if SLUICE_CUDA_READ=register SLUICE_CUDA_REG_MB=0 "$SLUICE" bench-device --file "$data/small.jsonl" \
     --query q1 >/dev/null 2>"$data/ab.err"; then
  echo "SLUICE_CUDA_REG_MB=0: accepted (expected an error)"; ab_fail=1
else
  echo "SLUICE_CUDA_REG_MB=0: $(grep -m1 -o 'SLUICE_CUDA_REG.*' "$data/ab.err")"
fi
tag() { $py -c "import json,sys; r=json.loads(sys.stdin.read()); r['variant']='$1'; print(json.dumps(r))"; }
echo "== device-only: partial rows, launch bound; warm: ${SLUICE_AB_READS:-pread staging mmap register}"
for q in q1 q2 q3 q4 q5 q6; do
  [ "${SLUICE_AB_DEVICE_ONLY:-1}" = 0 ] && break
  f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
  for v in "0 1" "0 4" "1 4"; do
    set -- $v
    SLUICE_CUDA_SMEM=$1 SLUICE_CUDA_MIN_BLOCKS=$2 "$SLUICE" bench-device --file "$f" --query $q \
      --resident 5 2>&1 >/dev/null | grep '^{' | tag "SLUICE_CUDA_SMEM=$1 SLUICE_CUDA_MIN_BLOCKS=$2" >> "$res/ab.jsonl"
  done
done
reads="${SLUICE_AB_READS:-pread staging mmap register}"
for round in $(seq "${SLUICE_AB_ROUNDS:-3}"); do
  for q in q1 q2 q3 q4 q5 q6; do
    f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
    for rd in $reads; do
      echo "== $q $(read_env $rd)" >> "$res/ab.log"
      env $(read_env $rd) SLUICE_TRACE=1 "$SLUICE" bench-device --file "$f" --query $q \
        --parquet "$data/$q.ab.$rd.parquet" 2>&1 >/dev/null | tee -a "$res/ab.log" | grep '^{' | \
        tag "$(read_env $rd)" >> "$res/ab.jsonl"
    done
  done
done
# One command (a fresh process, device opened, file read, Parquet written),
# traced: where the start-up goes (SLUICE_AB_COLD=0 skips it).
for q in ${SLUICE_AB_COLD_QUERIES:-q1 q4}; do
  [ "${SLUICE_AB_COLD:-1}" = 0 ] && break
  f="$data/logs.jsonl"; [ $q = q6 ] && f="$data/article.jsonl"
  for rd in $reads; do
    t0=$(date +%s.%N)
    env $(read_env $rd) SLUICE_TRACE=1 "$SLUICE" query --device gpu --no-progress \
      "$(sed "s|@FILE@|$f|" "bench/gpu/sql/$q.sql")" --output "$data/$q.cold.parquet" \
      > "$data/cold.err" 2>&1
    t1=$(date +%s.%N)
    echo "== one command $q $(read_env $rd): $($py -c "print(f'{$t1-$t0:.3f}')") s" | tee -a "$res/ab.log"
    sed 's/^/   /' "$data/cold.err" | tee -a "$res/ab.log"
  done
done
# Each read mode's results against pread's (the same plan over the same bytes).
same=$($py - "$data" $reads <<'PY'
import math, sys
try:
    import pyarrow.parquet as pq
except ImportError:
    print("unchecked"); sys.exit()
def rows(path):
    t = pq.read_table(path).to_pylist()
    key = lambda r: tuple((k, str(v)) for k, v in r.items() if not isinstance(v, float))
    return sorted(t, key=key)
def eq(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b
data, reads = sys.argv[1], [r for r in sys.argv[2:] if r != "pread"]
ok = []
for rd in reads:
    good = True
    for q in ["q1", "q2", "q3", "q4", "q5", "q6"]:
        a, b = rows(f"{data}/{q}.ab.pread.parquet"), rows(f"{data}/{q}.ab.{rd}.parquet")
        if len(a) != len(b) or any(x.keys() != y.keys() or not all(eq(x[k], y[k]) for k in x) for x, y in zip(a, b)):
            print(f"{rd} {q}: results differ from pread's", file=sys.stderr); good = False
        else:
            print(f"{rd} {q}: {len(a)} rows equal to pread's", file=sys.stderr)
    if good: ok.append(rd)
print(" ".join(ok) if ok else "none")
PY
)
echo "results equal to pread's: $same"
$py - "$res/ab.jsonl" "$res/ab.env" "$same" $(for rd in $reads; do echo "$rd=$(read_env $rd | tr ' ' ,)"; done) <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best, runs = {}, {}
for r in rows:
    k = (r['mode'], r['variant'], r['query'])
    if k not in best or r['seconds'] < best[k]['seconds']:
        best[k] = r
    runs.setdefault(k, []).append(r['seconds'])
print("best of the rounds (all rounds in brackets):")
for k, r in sorted(best.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
    print(f"{r['query']} {r['variant'][:64]:64} {r['mode']:10} {r['seconds']:.4f} s {r['gb_per_s']:6.2f} GB/s"
          + (f" read {r['h2d_seconds']:.4f}" if r['mode'] == 'end-to-end' else "")
          + " [" + " ".join(f"{x:.3f}" for x in runs[k]) + "]")
best = {k: r['seconds'] for k, r in best.items()}
tot = collections.defaultdict(float)
for (mode, var, q), v in best.items():
    tot[(mode, var)] += v
for k, v in sorted(tot.items()):
    print(f"sum of best {k[0]:10} {k[1]:64} {v:.4f} s")
devs = [(v, k[1]) for k, v in tot.items() if k[0] == "device-only"]
dev = min(devs)[1].split() if devs else []
name = {e.replace(",", " "): n for n, e in (a.split("=", 1) for a in sys.argv[4:])}
pr = tot[("end-to-end", "SLUICE_CUDA_READ=pread")]
read = "SLUICE_CUDA_READ=pread"
for k, v in tot.items():
    if k[0] == "end-to-end" and name.get(k[1]) in sys.argv[3].split() and v < pr * 0.97 and v < tot[("end-to-end", read)]:
        read = k[1]
with open(sys.argv[2], "w") as f:
    for kv in dev + read.split():
        f.write(f"export {kv}\n")
print("chosen:", " ".join(dev), read)
PY
exit $ab_fail
