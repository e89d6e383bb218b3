#!/bin/sh
# mbpoll_identity.sh FIELDSIM: a Modbus client no one here wrote (mbpoll)
# reads the identity block, input registers 0..27, over TCP and over RTU on
# the pty, and must see what the profile says.
# mbpoll numbers references from 1 unless -0 is given; -0 -r 0 -c 28 is
# protocol address 0, 28 registers (function 04 with -t 3).
set -eu
fieldsim=$1
command -v mbpoll >/dev/null 2>&1 || { echo "mbpoll not installed"; exit 77; }
dir=$(mktemp -d /tmp/fsim-mbpoll-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

mkfifo "$dir/out"
"$fieldsim" --state-dir "$dir" --log-level warn \
    --device unit=3,tcp=127.0.0.1:0,version=SIM-4.2.1,battery=55,free_kib=300,max_block=200 \
    --device unit=4,rtu="$dir/ttyFS0",version=R9,battery=0xFFFF \
    >"$dir/out" &
pid=$!
port=
while read -r line; do
    case $line in
    "fieldsim: tcp 127.0.0.1:"*) port=${line##*:} ;;
    "fieldsim: ready") break ;;
    esac
done <"$dir/out"
[ -n "$port" ] || fail "fieldsim did not report a TCP port"

# expect FILE INDEX VALUE: mbpoll prints "[INDEX]: <tab>0xVALUE".
expect() {
    got=$(sed -n "s/^\[$2\]:[[:space:]]*//p" "$1")
    [ "$got" = "$3" ] || fail "register $2: got '$got', want '$3'"
}

mbpoll -m tcp -p "$port" -a 3 -t 3:hex -0 -r 0 -c 28 -1 -o 2 127.0.0.1 \
    >"$dir/tcp.txt" || fail "mbpoll over TCP: $(cat "$dir/tcp.txt")"
expect "$dir/tcp.txt" 0 0x5301      # profile 1
expect "$dir/tcp.txt" 1 0x5349      # "SI"
expect "$dir/tcp.txt" 2 0x4D2D      # "M-"
expect "$dir/tcp.txt" 3 0x342E      # "4."
expect "$dir/tcp.txt" 4 0x322E      # "2."
expect "$dir/tcp.txt" 5 0x3100      # "1", then NUL
expect "$dir/tcp.txt" 16 0x0000
expect "$dir/tcp.txt" 17 0x0037     # battery 55 %
expect "$dir/tcp.txt" 18 0x012C     # free_kib 300
expect "$dir/tcp.txt" 19 0x00C8     # max_block 200
expect "$dir/tcp.txt" 20 0x0000     # state idle
expect "$dir/tcp.txt" 27 0x0000

mbpoll -m rtu -b 115200 -P none -a 4 -t 3:hex -0 -r 0 -c 28 -1 -o 2 \
    "$dir/ttyFS0" >"$dir/rtu.txt" || fail "mbpoll over RTU: $(cat "$dir/rtu.txt")"
expect "$dir/rtu.txt" 0 0x5301
expect "$dir/rtu.txt" 1 0x5239      # "R9"
expect "$dir/rtu.txt" 2 0x0000
expect "$dir/rtu.txt" 17 0xFFFF     # mains powered
expect "$dir/rtu.txt" 19 0x00F0     # max_block 240 (default)
echo "mbpoll sees the identity block as the profile says"
