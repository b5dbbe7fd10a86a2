# Sourced by the etcd benchmarks: a private etcd on free loopback ports (TESTING.md's fast
# flags, --bcrypt-cost 4, no authentication) and a few gateway calls with curl.
#   etcd_start DIR [EXTRA_FLAG...]   sets ETCD_PID and ETCD_URL; etcd_stop
#   kv_put KEY VALUE, kv_put_now KEY VALUE (from bash: prints when it was sent, in µs),
#   kv_txn_puts (KEY<TAB>VALUE lines on stdin, one transaction)
#   kv_count KEY [PREFIX]            number of keys at KEY (or below it, with "prefix")
#   kv_keys PREFIX                   the keys below PREFIX, one a line
#   kv_values PREFIX                 the values below PREFIX, one a line

ETCD_PID=
ETCD_URL=

b64() { printf '%s' "$1" | base64 -w0; }

# The end of the range of keys that start with $1: its last byte plus one.
prefix_end() {
        local p=$1 last
        last=$(printf '%d' "'${p: -1}")
        printf '%s' "${p:0:${#p}-1}$(printf "\\$(printf '%03o' $((last + 1)))")"
}

# A loopback port nothing listens on.
free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 40000))
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                        echo "$p"
                        return
                fi
        done
}

etcd_start() {
        local dir=$1 client peer
        shift
        client=$(free_port)
        peer=$(free_port)
        while [ "$peer" = "$client" ]; do peer=$(free_port); done
        ETCD_URL="http://127.0.0.1:$client"
        etcd --logger=zap --log-level=warn --name t1 --data-dir "$dir/data" \
                --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
                --listen-peer-urls "http://127.0.0.1:$peer" \
                --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
                --initial-cluster "t1=http://127.0.0.1:$peer" \
                --heartbeat-interval 10 --election-timeout 50 --bcrypt-cost 4 "$@" \
                >"$dir/etcd.log" 2>&1 &
        ETCD_PID=$!
        for _ in $(seq 500); do
                curl -fsS -m 1 "$ETCD_URL/health" 2>/dev/null | grep -q '"true"' && return 0
                kill -0 "$ETCD_PID" 2>/dev/null || break
                sleep 0.02
        done
        echo "etcd did not come up on $ETCD_URL:" >&2
        cat "$dir/etcd.log" >&2
        return 1
}

etcd_stop() {
        if [ -n "$ETCD_PID" ]; then
                kill "$ETCD_PID" 2>/dev/null || true
                wait "$ETCD_PID" 2>/dev/null || true
                ETCD_PID=
        fi
}

kv_put() {
        curl -fsS -m 10 "$ETCD_URL/v3/kv/put" \
                -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null
}

# kv_put_now KEY VALUE: the same from bash itself (/dev/tcp), no process started, so that a
# time taken just before it is the time of the request; prints the microsecond it was sent.
kv_put_now() {
        local body="{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" hostport sent line
        hostport=${ETCD_URL#http://}
        exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
        sent=${EPOCHREALTIME/./}
        printf 'POST /v3/kv/put HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n'\
'Content-Length: %d\r\nConnection: close\r\n\r\n%s' "$hostport" "${#body}" "$body" >&3
        read -r line <&3
        exec 3<&-
        case $line in "HTTP/1.1 200"*) echo "$sent" ;; *) echo "put $1: $line" >&2; return 1 ;; esac
}

kv_txn_puts() {
        jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t")
                     | {requestPut: {key: (.[0] | @base64), value: (.[1] | @base64)}})
                     | {success: .}' |
                curl -fsS -m 30 "$ETCD_URL/v3/kv/txn" -d @- >/dev/null
}

kv_count() {
        local body="{\"key\":\"$(b64 "$1")\",\"count_only\":true"
        [ "${2:-}" = prefix ] && body+=",\"range_end\":\"$(b64 "$(prefix_end "$1")")\""
        curl -fsS -m 10 "$ETCD_URL/v3/kv/range" -d "$body}" | jq -r '.count // "0"'
}

kv_keys() {
        curl -fsS -m 30 "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\",\"keys_only\":true,
                \"range_end\":\"$(b64 "$(prefix_end "$1")")\"}" | jq -r '.kvs[]?.key | @base64d'
}

kv_values() {
        curl -fsS -m 30 "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\",
                \"range_end\":\"$(b64 "$(prefix_end "$1")")\"}" |
                jq -c -r '.kvs[]?.value | @base64d'
}

# Percentile $1 of the numbers on stdin (sorted here), "-" when there are none.
percentile() {
        sort -n | awk -v p="$1" 'NF { v[++n] = $1 } END {
                if (n == 0) { print "-"; exit }
                print v[int((n - 1) * p / 100) + 1] }'
}
