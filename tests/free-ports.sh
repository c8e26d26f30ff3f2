# Sourced by the README walk-through runners: free_ports N prints the first
# of N consecutive loopback ports nobody listens on, below Linux's
# ephemeral range (32768 and up), where outgoing connections of parallel
# tests could hold one. curl's exit status 7 means "connection refused".
free_ports() {
  n=$1
  for _ in $(seq 1 200); do
    first=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000))
    ok=1
    i=0
    while [ "$i" -lt "$n" ]; do
      rc=0
      curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$((first + i))/" || rc=$?
      [ "$rc" -eq 7 ] || { ok=0; break; }
      i=$((i + 1))
    done
    [ "$ok" -eq 1 ] && { echo "$first"; return 0; }
  done
  echo "free_ports: no $n free ports found" >&2
  return 1
}
