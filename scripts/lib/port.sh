# Shared by scripts/function_demo.sh and scripts/tsan.sh: prints a free
# loopback TCP port (one nothing answers on), without needing Python on a
# bare machine; fails after 50 tries.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
