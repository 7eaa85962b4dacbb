#!/usr/bin/env bash
# After `sam build`: every function in template.yaml has a bootstrap that is an arm64 Linux
# executable built from its own binary (the binary's name is in it), and no two are the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A seen
status=0
for pair in SettingsFunction:settings InventoryFunction:inventory SaleFinalizeFunction:sale-finalize \
            ReplenishmentsFunction:replenishments ReplenishmentCloseFunction:replenishment-close \
            OrderEventsFunction:order-events ChannelsFunction:channels ConsoleFunction:console; do
  fn="${pair%%:*}"; bin="${pair##*:}"
  f=".aws-sam/build/$fn/bootstrap"
  if [ ! -x "$f" ]; then echo "missing $f" >&2; status=1; continue; fi
  # ELF header: 0x7f 'ELF', 64-bit, little endian; e_machine at offset 18 = 0xb7 (AArch64).
  magic=$(od -An -tx1 -N4 "$f" | tr -d ' ')
  machine=$(od -An -tx1 -j18 -N2 "$f" | tr -d ' ')
  if [ "$magic" != "7f454c46" ] || [ "$machine" != "b700" ]; then
    echo "$f is not an arm64 ELF executable (magic $magic, machine $machine)" >&2; status=1
  fi
  # Each crate's panic and path strings carry its source location: functions/<bin>/src/.
  if ! grep -aq "functions/$bin/src" "$f"; then
    echo "$f was not built from functions/$bin" >&2; status=1
  fi
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  if [ -n "${seen[$sum]:-}" ]; then echo "$f is the same file as ${seen[$sum]}" >&2; status=1; fi
  seen[$sum]="$f"
  printf '%-28s %s  %s bytes\n' "$fn" "$f" "$(stat -c %s "$f")"
done
exit $status
