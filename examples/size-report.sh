#!/usr/bin/env bash
# keel's flash/RAM cost on bare metal, by one command:
#
#   examples/size-report.sh            (writes a markdown table to stdout)
#
# Builds examples/firmware-cortex-m's size builds at opt-level "s" (fat LTO,
# panic = abort) for thumbv7em-none-eabihf and thumbv6m-none-eabi:
#   size-empty  the harness alone (start-up, semihosting, stack painting): the baseline
#   size-servo  (a) keel's default servo (Kalman) alone
#   size-engine (c) keel's engine (the whole sync loop) + the servo + PHC triples
#   size-full   (b) servo + PTP E2E slave (wire encode/decode) + NTP client
# runs each under QEMU to measure the peak stack (stack painting), and lists
# the 64-bit / 128-bit division helpers reachable from the per-sample servo
# update (`keel_servo_update`, kept out of line in the firmware) and from the
# engine update (`keel_engine_update`: a reading in, the next command out).
#
# Flash = .vector_table + .text + .rodata (+ .data's load image);
# RAM = .data + .bss + peak stack (the servo and the PTP/NTP state live in
# main's frame, so they count as stack). "keel" columns subtract the baseline.
# Installs what it needs (qemu-system-arm, binutils-arm-none-eabi, rustup targets).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fw="$here/firmware-cortex-m"
export CARGO_TARGET_DIR="${KEEL_FW_TARGET_DIR:-$fw/target}"
targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)

need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v arm-none-eabi-objdump >/dev/null || need+=(binutils-arm-none-eabi)
if [[ ${#need[@]} -gt 0 ]]; then
    echo "size-report.sh: installing ${need[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
installed="$(rustup target list --installed)"
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t" >&2
done

qemu_for() {
    case "$1" in
        thumbv7em-*) echo "qemu-system-arm -M mps2-an386 -cpu cortex-m4" ;;
        thumbv6m-*) echo "qemu-system-arm -M lm3s6965evb -cpu cortex-m0" ;;
    esac
}

# sec ELF NAME -> size in bytes (0 if absent)
sec() { arm-none-eabi-size -A "$1" | awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }

echo "| target | build | flash B (.vector+.text+.rodata+.data) | keel flash B | RAM B (.data+.bss) | peak stack B | RAM total B | keel RAM B |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
divs=""
for t in "${targets[@]}"; do
    (cd "$fw" && cargo build -q --release --target "$t" --bin size-empty --bin size-servo --bin size-engine --bin size-full)
    declare -A flash ram
    for b in size-empty size-servo size-engine size-full; do
        elf="$CARGO_TARGET_DIR/$t/release/$b"
        out="$($(qemu_for "$t") -nographic -monitor none -serial none \
            -semihosting-config enable=on,target=native -kernel "$elf" 2>/dev/null)" || {
            echo "size-report.sh: $b on $t failed under QEMU:" >&2
            echo "$out" >&2
            exit 1
        }
        stack="$(sed -n 's/.*peak_stack=\([0-9]*\).*/\1/p' <<<"$out")"
        v=$(sec "$elf" .vector_table); x=$(sec "$elf" .text); r=$(sec "$elf" .rodata)
        d=$(sec "$elf" .data); s=$(sec "$elf" .bss)
        flash[$b]=$((v + x + r + d))
        ram[$b]=$((d + s + stack))
        if [[ $b != size-empty ]]; then
            case $b in
                size-servo) label="(a) servo"; entry=keel_servo_update ;;
                size-engine) label="(c) engine+servo+PHC"; entry=keel_engine_update ;;
                *) label="(b) servo+NTP+PTP"; entry=keel_servo_update ;;
            esac
            echo "| $t | $label | ${flash[$b]} | $((flash[$b] - flash[size-empty])) | $((d + s)) | $stack | ${ram[$b]} | $((ram[$b] - ram[size-empty])) |"
            # Division helpers reachable from the per-sample update.
            dis="$(arm-none-eabi-objdump -d --no-show-raw-insn "$elf")"
            found="$(python3 "$here/size-calls.py" "$entry" <<<"$dis")"
            whole="$(python3 "$here/size-calls.py" Reset <<<"$dis")"
            divs+="- $t $label: $entry: ${found:-none}; whole program: ${whole:-none}"$'\n'
        fi
    done
    unset flash ram
done
echo
echo "64-/128-bit division helpers reachable from the servo update (\`keel_servo_update\`), the engine update (\`keel_engine_update\`) and from reset (callers in brackets):"
echo
printf '%s' "$divs"
